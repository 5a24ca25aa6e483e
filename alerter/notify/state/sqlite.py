"""Notification state in SQLite: tables ``alerter_silences``, ``alerter_notify_groups``,
``alerter_notifications`` (claims + the notification log), ``alerter_notify_messages`` and
``alerter_notify_failures`` (failed deliveries), in the store's database file, through our own
connection in WAL mode.

All SQL of the notification pipeline lives here. Claims run inside ``BEGIN IMMEDIATE`` so two
processes on one file cannot both win a slot.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import apsw

from alerter.notify.matchers import dump_matchers, load_matchers
from alerter.notify.state.codec import group_from_json, group_to_json
from alerter.notify.state.types import (
    Claim,
    ClaimOutcome,
    FailureRecord,
    Group,
    MessageRecord,
    SentEntry,
    Silence,
    SilenceFilter,
    Slot,
    from_ts,
    ts,
)
from logstore.sqlite import open_connection

SCHEMA_VERSION = 1


def _slot_row(slot: Slot, owner: str, now: datetime, sent: bool) -> tuple[Any, ...]:
    """A notification-log row: claimed by ``owner`` at ``now``, and sent then too when ``sent``."""
    return (
        slot.id,
        slot.channel,
        slot.fingerprint,
        slot.state,
        ts(slot.started_at),
        slot.repeat,
        owner,
        ts(now),
        ts(now) if sent else None,
    )


_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerter_notify_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerter_silences (
    id TEXT PRIMARY KEY, rule TEXT NOT NULL, matchers TEXT NOT NULL, starts_at REAL NOT NULL,
    ends_at REAL NOT NULL, comment TEXT NOT NULL, author TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS alerter_notify_groups (
    key TEXT PRIMARY KEY, channel TEXT NOT NULL, next_flush REAL NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerter_notifications (
    slot_id TEXT PRIMARY KEY, channel TEXT NOT NULL, fingerprint TEXT NOT NULL, state TEXT NOT NULL,
    started_at REAL NOT NULL, repeat INTEGER NOT NULL, owner TEXT NOT NULL, claimed_at REAL NOT NULL,
    sent_at REAL);
CREATE INDEX IF NOT EXISTS alerter_notifications_last
    ON alerter_notifications (channel, fingerprint, sent_at);
CREATE TABLE IF NOT EXISTS alerter_notify_messages (
    id TEXT PRIMARY KEY, channel TEXT NOT NULL, title TEXT NOT NULL, alerts INTEGER NOT NULL,
    digest INTEGER NOT NULL, sent_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS alerter_notify_messages_channel ON alerter_notify_messages (channel, sent_at);
CREATE INDEX IF NOT EXISTS alerter_notify_messages_sent ON alerter_notify_messages (sent_at);
CREATE TABLE IF NOT EXISTS alerter_notify_failures (
    id TEXT PRIMARY KEY, channel TEXT NOT NULL, title TEXT NOT NULL, alerts INTEGER NOT NULL,
    failed_at REAL NOT NULL, reason TEXT NOT NULL, attempt INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS alerter_notify_failures_at ON alerter_notify_failures (failed_at);
"""


class SqliteNotifyState:
    def __init__(self, path: Path, busy_timeout: float = 10.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # APSW, like the store: these tables live in the store's file, and two SQLite libraries in one
        # process would not see each other's POSIX locks on it (logstore/_sqlite_library.py). APSW
        # never opens a transaction implicitly: we open them ourselves (BEGIN IMMEDIATE for claims).
        self._db = open_connection(path, busy_timeout)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._tx() as db:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.execute(
                "INSERT OR IGNORE INTO alerter_notify_meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    @contextmanager
    def _tx(self) -> Iterator[apsw.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- silences ---------------------------------------------------------------------------------

    def add_silence(self, silence: Silence) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO alerter_silences VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    silence.id,
                    silence.rule,
                    dump_matchers(silence.match),
                    ts(silence.starts_at),
                    ts(silence.ends_at),
                    silence.comment,
                    silence.author,
                    ts(silence.created_at),
                ),
            )

    def silences(self, now: datetime, which: SilenceFilter = "active") -> list[Silence]:
        sql = "SELECT * FROM alerter_silences"
        args: tuple[float, ...] = ()
        if which == "active":
            sql += " WHERE starts_at <= ? AND ends_at > ?"
            args = (ts(now), ts(now))
        with self._lock:
            rows: list[Any] = self._db.execute(sql + " ORDER BY created_at, id", args).fetchall()
        return [
            Silence(r[0], r[1], load_matchers(r[2]), from_ts(r[3]), from_ts(r[4]), r[5], r[6], from_ts(r[7]))
            for r in rows
        ]

    def expire_silence(self, silence_id: str, now: datetime) -> bool:
        with self._tx() as db:
            db.execute(
                "UPDATE alerter_silences SET ends_at = ? WHERE id = ? AND ends_at > ?",
                (ts(now), silence_id, ts(now)),
            )
            return db.changes() > 0

    # -- pending groups ---------------------------------------------------------------------------

    def load_groups(self) -> list[Group]:
        with self._lock:
            rows: list[Any] = self._db.execute(
                "SELECT body FROM alerter_notify_groups ORDER BY next_flush"
            ).fetchall()
        return [group_from_json(r[0]) for r in rows]

    def save_group(self, group: Group) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO alerter_notify_groups VALUES (?, ?, ?, ?)",
                (group.key, group.channel, ts(group.next_flush), group_to_json(group)),
            )

    def delete_group(self, key: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM alerter_notify_groups WHERE key = ?", (key,))

    # -- notification log and claims --------------------------------------------------------------

    def last_sent(self, channel: str, fingerprint: str) -> SentEntry | None:
        with self._lock:
            # An unsent row is a live claim (a peer is sending) or one whose owner died during or
            # after its send (presumed delivered): either way not to be sent again. Failed sends
            # release their claims, so they are not here.
            row = self._db.execute(
                "SELECT state, started_at, repeat, coalesce(sent_at, claimed_at) AS at"
                " FROM alerter_notifications WHERE channel = ? AND fingerprint = ?"
                " ORDER BY at DESC LIMIT 1",
                (channel, fingerprint),
            ).fetchone()
        if row is None:
            return None
        return SentEntry(row[0], from_ts(row[1]), int(row[2]), from_ts(row[3]))

    def claim(self, slot: Slot, owner: str, now: datetime, lease: timedelta) -> Claim:
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO alerter_notifications VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _slot_row(slot, owner, now, sent=False),
            )
            if db.changes() == 1:
                return Claim(ClaimOutcome.MINE)
            got: Any = db.execute(
                "SELECT owner, claimed_at, sent_at FROM alerter_notifications WHERE slot_id = ?", (slot.id,)
            ).fetchone()
            got_owner, claimed_at, sent_at = got
            if sent_at is not None:
                return Claim(ClaimOutcome.SENT)
            if got_owner == owner:
                # Ours: a retry renews the lease.
                db.execute(
                    "UPDATE alerter_notifications SET claimed_at = ? WHERE slot_id = ?", (ts(now), slot.id)
                )
                return Claim(ClaimOutcome.MINE)
            until = from_ts(claimed_at) + lease
            if until <= now:
                # Its owner died holding it, after or during the send (a failed send releases its
                # claim): presume it was delivered, as of the claim, rather than send it twice.
                db.execute(
                    "UPDATE alerter_notifications SET sent_at = claimed_at WHERE slot_id = ?", (slot.id,)
                )
                return Claim(ClaimOutcome.SENT)
            return Claim(ClaimOutcome.TAKEN, until)

    def release(self, slots: Sequence[Slot], owner: str) -> None:
        with self._tx() as db:
            db.executemany(
                "DELETE FROM alerter_notifications WHERE slot_id = ? AND owner = ? AND sent_at IS NULL",
                [(slot.id, owner) for slot in slots],
            )

    def mark_sent(self, slots: Sequence[Slot], owner: str, now: datetime) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT INTO alerter_notifications VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (slot_id) DO UPDATE SET sent_at = excluded.sent_at, owner = excluded.owner",
                [_slot_row(slot, owner, now, sent=True) for slot in slots],
            )

    def record_message(self, message: MessageRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO alerter_notify_messages VALUES (?, ?, ?, ?, ?, ?)",
                (
                    message.id,
                    message.channel,
                    message.title,
                    message.alerts,
                    int(message.digest),
                    ts(message.sent_at),
                ),
            )

    def messages_since(self, channel: str, since: datetime) -> list[datetime]:
        with self._lock:
            rows: list[Any] = self._db.execute(
                "SELECT sent_at FROM alerter_notify_messages WHERE channel = ? AND sent_at >= ?"
                " ORDER BY sent_at",
                (channel, ts(since)),
            ).fetchall()
        return [from_ts(r[0]) for r in rows]

    def messages(self, since: datetime, limit: int) -> list[MessageRecord]:
        with self._lock:
            rows: list[Any] = self._db.execute(
                "SELECT id, channel, title, alerts, sent_at, digest FROM alerter_notify_messages"
                " WHERE sent_at >= ? ORDER BY sent_at DESC, id DESC LIMIT ?",
                (ts(since), limit),
            ).fetchall()
        return [MessageRecord(r[0], r[1], r[2], int(r[3]), from_ts(r[4]), bool(r[5])) for r in rows]

    def record_failure(self, failure: FailureRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO alerter_notify_failures VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    failure.id,
                    failure.channel,
                    failure.title,
                    failure.alerts,
                    ts(failure.failed_at),
                    failure.reason,
                    failure.attempt,
                ),
            )

    def failures(self, since: datetime, limit: int) -> list[FailureRecord]:
        with self._lock:
            rows: list[Any] = self._db.execute(
                "SELECT id, channel, title, alerts, failed_at, reason, attempt FROM alerter_notify_failures"
                " WHERE failed_at >= ? ORDER BY failed_at DESC, id DESC LIMIT ?",
                (ts(since), limit),
            ).fetchall()
        return [FailureRecord(r[0], r[1], r[2], int(r[3]), from_ts(r[4]), r[5], int(r[6])) for r in rows]

    def prune(self, now: datetime, retention: timedelta) -> int:
        cutoff = ts(now - retention)
        with self._tx() as db:
            db.execute("DELETE FROM alerter_notifications WHERE COALESCE(sent_at, claimed_at) < ?", (cutoff,))
            n = db.changes()
            db.execute("DELETE FROM alerter_notify_messages WHERE sent_at < ?", (cutoff,))
            n += db.changes()
            db.execute("DELETE FROM alerter_notify_failures WHERE failed_at < ?", (cutoff,))
            n += db.changes()
            db.execute("DELETE FROM alerter_silences WHERE ends_at < ?", (cutoff,))
            n += db.changes()
        return n

    def close(self) -> None:
        with self._lock:
            self._db.close()
