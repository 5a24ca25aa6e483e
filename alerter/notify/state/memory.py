"""Notification state in memory: for a backend with no durable home for it (a test's toy store).

Same guarantees as the durable ones within one process (``claim`` is atomic under a lock); none
across processes or restarts, so it never backs a real deployment.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

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
)


@dataclass(slots=True)
class _SlotRow:
    slot: Slot
    owner: str
    claimed_at: datetime
    sent_at: datetime | None = None


class MemoryNotifyState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._silences: dict[str, Silence] = {}
        self._groups: dict[str, Group] = {}
        self._slots: dict[str, _SlotRow] = {}
        self._messages: dict[str, MessageRecord] = {}
        self._failures: dict[str, FailureRecord] = {}

    def add_silence(self, silence: Silence) -> None:
        with self._lock:
            self._silences[silence.id] = silence

    def silences(self, now: datetime, which: SilenceFilter = "active") -> list[Silence]:
        with self._lock:
            found = [s for s in self._silences.values() if which == "all" or s.active(now)]
        return sorted(found, key=lambda s: (s.created_at, s.id))

    def expire_silence(self, silence_id: str, now: datetime) -> bool:
        with self._lock:
            silence = self._silences.get(silence_id)
            if silence is None or silence.ends_at <= now:
                return False
            self._silences[silence_id] = replace(silence, ends_at=now)
            return True

    def load_groups(self) -> list[Group]:
        with self._lock:
            return sorted(self._groups.values(), key=lambda g: g.next_flush)

    def save_group(self, group: Group) -> None:
        with self._lock:
            self._groups[group.key] = group

    def delete_group(self, key: str) -> None:
        with self._lock:
            self._groups.pop(key, None)

    def last_sent(self, channel: str, fingerprint: str) -> SentEntry | None:
        with self._lock:
            # Unsent rows are live or abandoned claims (failed sends release theirs): see NotifyState.
            rows = [
                r
                for r in self._slots.values()
                if r.slot.channel == channel and r.slot.fingerprint == fingerprint
            ]
        if not rows:
            return None
        last = max(rows, key=lambda r: r.sent_at or r.claimed_at)
        return SentEntry(
            last.slot.state, last.slot.started_at, last.slot.repeat, last.sent_at or last.claimed_at
        )

    def claim(self, slot: Slot, owner: str, now: datetime, lease: timedelta) -> Claim:
        with self._lock:
            row = self._slots.get(slot.id)
            if row is None:
                self._slots[slot.id] = _SlotRow(slot, owner, now)
                return Claim(ClaimOutcome.MINE)
            if row.sent_at is not None:
                return Claim(ClaimOutcome.SENT)
            if row.owner == owner:
                row.claimed_at = now  # ours: a retry renews the lease
                return Claim(ClaimOutcome.MINE)
            until = row.claimed_at + lease
            if until <= now:
                # Its owner died holding it, during or after the send: presume it delivered.
                row.sent_at = row.claimed_at
                return Claim(ClaimOutcome.SENT)
            return Claim(ClaimOutcome.TAKEN, until)

    def release(self, slots: Sequence[Slot], owner: str) -> None:
        with self._lock:
            for slot in slots:
                row = self._slots.get(slot.id)
                if row is not None and row.owner == owner and row.sent_at is None:
                    del self._slots[slot.id]

    def mark_sent(self, slots: Sequence[Slot], owner: str, now: datetime) -> None:
        with self._lock:
            for slot in slots:
                row = self._slots.setdefault(slot.id, _SlotRow(slot, owner, now))
                row.owner, row.sent_at = owner, now

    def record_message(self, message: MessageRecord) -> None:
        with self._lock:
            self._messages[message.id] = message

    def messages_since(self, channel: str, since: datetime) -> list[datetime]:
        with self._lock:
            return sorted(
                m.sent_at for m in self._messages.values() if m.channel == channel and m.sent_at >= since
            )

    def messages(self, since: datetime, limit: int) -> list[MessageRecord]:
        with self._lock:
            found = [m for m in self._messages.values() if m.sent_at >= since]
        return sorted(found, key=lambda m: (m.sent_at, m.id), reverse=True)[:limit]

    def record_failure(self, failure: FailureRecord) -> None:
        with self._lock:
            self._failures[failure.id] = failure

    def failures(self, since: datetime, limit: int) -> list[FailureRecord]:
        with self._lock:
            found = [f for f in self._failures.values() if f.failed_at >= since]
        return sorted(found, key=lambda f: (f.failed_at, f.id), reverse=True)[:limit]

    def prune(self, now: datetime, retention: timedelta) -> int:
        cutoff = now - retention
        with self._lock:
            old_slots = [k for k, r in self._slots.items() if (r.sent_at or r.claimed_at) < cutoff]
            old_messages = [k for k, m in self._messages.items() if m.sent_at < cutoff]
            old_failures = [k for k, f in self._failures.items() if f.failed_at < cutoff]
            old_silences = [k for k, s in self._silences.items() if s.ends_at < cutoff]
            tables: list[tuple[list[str], dict[str, Any]]] = [
                (old_slots, self._slots),
                (old_messages, self._messages),
                (old_failures, self._failures),
                (old_silences, self._silences),
            ]
            for keys, table in tables:
                for key in keys:
                    del table[key]
        return sum(len(keys) for keys, _ in tables)

    def close(self) -> None:
        pass
