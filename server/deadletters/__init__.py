"""The server's own dead letters: the ``_bulk`` items it refused for good, kept with their reasons.

An item is a dead letter when the server answers it with a 4xx for a reason that a retry of the
same bytes cannot cure: a malformed line or an unsupported action (``server.bulk.parse``), or a
doc the store rejected (``Outcome.REJECTED``). Duplicates are successes, and the 429s, 413s and
503s (a full queue, a request too big, a failing store) are retried by the client: none is kept.

Guarantees:

- Each is kept with the time, the client (its token's name, else the peer's address), ``_index``,
  ``_id``, the reason, and its lines as NDJSON (the action line, then the source line): for a bad
  line, the bytes as sent; for a doc the store refused, the source as the server parsed it (its
  ``@timestamp`` in the stored form, ``event.dataset`` from ``_index``), which replays the same.
  Lines longer than ``MAX_LINE`` bytes are cut there and flagged; a cut line is never replayed.
- The home is bounded: at most ``MAX_ROWS`` rows and ``MAX_AGE`` old; the oldest go first, and how
  many went is counted (``dropped``), so the page never claims to show every refusal.
- The home is the store backend's (``Backend.open_dead_letters``: a table in the SQLite store's
  file, durable). A backend without one gets ``MemoryDeadLetters`` (lost at restart; the page says so).
- Recording happens only on a refusal, once per request (one transaction), off the event loop;
  the happy path never touches the home.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

from logstore.backends import get_backend
from logstore.protocol import Store

MAX_ROWS = 10_000
MAX_AGE = timedelta(days=7)
MAX_LINE = 64 * 1024  # bytes of one dead letter's lines kept


@dataclass(frozen=True, slots=True)
class Letter:
    """A refusal to record: who sent it, where to, why, and its NDJSON lines (untruncated)."""

    client: str
    index: str
    doc_id: str | None
    reason: str
    lines: bytes


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A kept refusal. ``id`` grows with each one recorded and is never reused."""

    id: int
    time_ms: int  # when it was first refused
    client: str
    index: str
    doc_id: str | None
    reason: str  # the latest reason (a replay that is refused again replaces it)
    lines: bytes
    truncated: bool
    replays: int  # replays that were refused again

    @property
    def text(self) -> str:
        """The lines as text (bytes that are not UTF-8 shown as U+FFFD)."""
        return self.lines.decode("utf-8", "replace")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time_ms": self.time_ms,
            "client": self.client,
            "index": self.index,
            "doc_id": self.doc_id,
            "reason": self.reason,
            "lines": self.text,
            "truncated": self.truncated,
            "replays": self.replays,
        }


@dataclass(frozen=True, slots=True)
class Totals:
    kept: int  # rows in the home now
    dropped: int  # rows dropped by the bounds since the home was made


class DeadLetterHome(Protocol):
    """Where a server keeps its dead letters. Every method is safe from any thread."""

    durable: bool  # survives a restart

    def add(self, letters: Sequence[Letter], now_ms: int) -> None:
        """Keep ``letters`` (cut to ``MAX_LINE``), then drop what is past the bounds, in one transaction."""

    def page(self, limit: int, before: int | None = None) -> list[DeadLetter]:
        """Up to ``limit`` dead letters, newest first, those with ``id < before`` when given."""

    def get(self, ids: Sequence[int]) -> list[DeadLetter]:
        """The dead letters of ``ids`` that are still kept, oldest first."""

    def settle(self, stored: Sequence[int], refused: Sequence[tuple[int, str]]) -> None:
        """After a replay: forget ``stored``; give each of ``refused`` its new reason."""

    def totals(self) -> Totals: ...

    def close(self) -> None: ...


def cut(lines: bytes) -> tuple[bytes, bool]:
    return (lines[:MAX_LINE], True) if len(lines) > MAX_LINE else (lines, False)


class MemoryDeadLetters:
    """The home for a backend that has none of its own: bounded like the others, lost at restart."""

    durable = False

    def __init__(self, max_rows: int = MAX_ROWS, max_age: timedelta = MAX_AGE) -> None:
        self._rows: dict[int, DeadLetter] = {}  # insertion order is id order
        self._next = 1
        self._dropped = 0
        self._max_rows = max_rows
        self._max_age_ms = int(max_age.total_seconds() * 1000)
        self._lock = threading.Lock()

    def add(self, letters: Sequence[Letter], now_ms: int) -> None:
        with self._lock:
            for x in letters:
                lines, truncated = cut(x.lines)
                row = DeadLetter(
                    self._next, now_ms, x.client, x.index, x.doc_id, x.reason, lines, truncated, 0
                )
                self._rows[self._next] = row
                self._next += 1
            oldest = now_ms - self._max_age_ms
            for key in [k for k, r in self._rows.items() if r.time_ms < oldest]:
                del self._rows[key]
                self._dropped += 1
            while len(self._rows) > self._max_rows:
                del self._rows[next(iter(self._rows))]
                self._dropped += 1

    def page(self, limit: int, before: int | None = None) -> list[DeadLetter]:
        with self._lock:
            rows = [r for r in reversed(self._rows.values()) if before is None or r.id < before]
        return rows[:limit]

    def get(self, ids: Sequence[int]) -> list[DeadLetter]:
        with self._lock:
            return [self._rows[i] for i in sorted(set(ids)) if i in self._rows]

    def settle(self, stored: Sequence[int], refused: Sequence[tuple[int, str]]) -> None:
        with self._lock:
            for i in stored:
                self._rows.pop(i, None)
            for i, reason in refused:
                row = self._rows.get(i)
                if row is not None:
                    self._rows[i] = replace(row, reason=reason, replays=row.replays + 1)

    def totals(self) -> Totals:
        with self._lock:
            return Totals(len(self._rows), self._dropped)

    def close(self) -> None:
        pass


def open_home(backend_name: str, store: Store, settings: Any) -> DeadLetterHome:
    """The store backend's home for dead letters, or one in memory when it has none."""
    opener = get_backend(backend_name).open_dead_letters
    if opener is None:
        return MemoryDeadLetters()
    home: DeadLetterHome = opener(store, settings)
    return home
