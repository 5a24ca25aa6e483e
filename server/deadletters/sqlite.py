"""Dead letters in SQLite: the table ``server_dead_letters`` (and ``server_dead_letters_meta``, the
dropped count) in the store's own file, through a connection of our own in WAL mode, as the
alerter's state is kept (``alerter.notify.state.sqlite``). Every write is one ``BEGIN IMMEDIATE``
transaction, so it waits its turn behind the server's writer and never interleaves with it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import apsw

from logstore.sqlite import open_connection, transaction
from server.deadletters import MAX_AGE, MAX_ROWS, DeadLetter, Letter, Totals, cut

_SCHEMA = """
CREATE TABLE IF NOT EXISTS server_dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, client TEXT NOT NULL,
    idx TEXT NOT NULL, doc_id TEXT, reason TEXT NOT NULL, lines BLOB NOT NULL,
    truncated INTEGER NOT NULL, replays INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS server_dead_letters_time ON server_dead_letters (time_ms);
CREATE TABLE IF NOT EXISTS server_dead_letters_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_COLUMNS = "id, time_ms, client, idx, doc_id, reason, lines, truncated, replays"


def _row(r: Any) -> DeadLetter:
    return DeadLetter(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6]), bool(r[7]), r[8])


def _count(db: apsw.Connection) -> int:
    row = db.execute("SELECT COUNT(*) FROM server_dead_letters").fetchone()
    return int(row[0]) if row else 0


class SqliteDeadLetters:
    durable = True

    def __init__(
        self, path: Path, busy_timeout: float = 10.0, max_rows: int = MAX_ROWS, max_age: timedelta = MAX_AGE
    ) -> None:
        self._db = open_connection(path, busy_timeout)
        self._lock = threading.Lock()
        self._max_rows = max_rows
        self._max_age_ms = int(max_age.total_seconds() * 1000)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._tx() as db:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)

    @contextmanager
    def _tx(self) -> Iterator[apsw.Connection]:
        with self._lock, transaction(self._db):
            yield self._db

    def add(self, letters: Sequence[Letter], now_ms: int) -> None:
        rows = []
        for x in letters:
            lines, truncated = cut(x.lines)
            rows.append((now_ms, x.client, x.index, x.doc_id, x.reason, lines, int(truncated)))
        with self._tx() as db:
            db.executemany(
                "INSERT INTO server_dead_letters (time_ms, client, idx, doc_id, reason, lines, truncated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.execute("DELETE FROM server_dead_letters WHERE time_ms < ?", (now_ms - self._max_age_ms,))
            dropped = db.changes()
            kept = _count(db)
            if kept > self._max_rows:
                db.execute(
                    "DELETE FROM server_dead_letters WHERE id IN"
                    " (SELECT id FROM server_dead_letters ORDER BY id LIMIT ?)",
                    (kept - self._max_rows,),
                )
                dropped += db.changes()
            if dropped:
                db.execute(
                    "INSERT INTO server_dead_letters_meta (key, value) VALUES ('dropped', ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
                    (dropped,),
                )

    def page(self, limit: int, before: int | None = None) -> list[DeadLetter]:
        sql = f"SELECT {_COLUMNS} FROM server_dead_letters"
        args: tuple[int, ...] = (limit,)
        if before is not None:
            sql += " WHERE id < ?"
            args = (before, limit)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", args).fetchall()
        return [_row(r) for r in rows]

    def get(self, ids: Sequence[int]) -> list[DeadLetter]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        marks = ", ".join("?" * len(wanted))
        sql = f"SELECT {_COLUMNS} FROM server_dead_letters WHERE id IN ({marks}) ORDER BY id"
        with self._lock:
            rows = self._db.execute(sql, wanted).fetchall()
        return [_row(r) for r in rows]

    def settle(self, stored: Sequence[int], refused: Sequence[tuple[int, str]]) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM server_dead_letters WHERE id = ?", [(i,) for i in stored])
            db.executemany(
                "UPDATE server_dead_letters SET reason = ?, replays = replays + 1 WHERE id = ?",
                [(reason, i) for i, reason in refused],
            )

    def totals(self) -> Totals:
        with self._lock:
            kept = _count(self._db)
            row = self._db.execute(
                "SELECT value FROM server_dead_letters_meta WHERE key = 'dropped'"
            ).fetchone()
        return Totals(kept, row[0] if row else 0)

    def close(self) -> None:
        with self._lock:
            self._db.close()
