"""Live tail for the console: logq's follow semantics (``logq.follow.Follower``), one poll per request.

A browser polls ``/ui/api/tail`` about once a second. Each tail keeps a ``Follower`` here, between
polls, under an id the browser sends back, so the guarantees are logq's: lines in order, none twice,
and one arriving up to ``LOOKBACK`` late (an older ``@timestamp`` than what was shown) still shown,
once. Memory is bounded: at most ``MAX_TAILS`` tails (the least recently polled goes first) and a
tail not polled for ``IDLE_SECONDS`` is dropped. A poll for a tail that is gone (a restart, an
eviction) starts a new one after the browser's last line (its cursor): nothing is repeated and
nothing newer is missed; only a line arriving late for the lookback of that moment can be lost.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from logq.follow import Follower, Seen
from logstore import Cursor, Hit, Store
from logstore.types import datetime_to_ms

LOOKBACK_MS = 10_000  # as logq -f's default --lookback
SWEEP_SECONDS = 5.0  # lookback / 2, as logq -f
FIRST_LINES = 100  # shown when a tail starts: the newest, oldest first (as logq -f on a terminal)
POLL_LIMIT = 1000  # lines one poll answers at most; the next poll goes on from there
MAX_TAILS = 64
IDLE_SECONDS = 120.0


@dataclass
class _Tail:
    follower: Follower
    used: float
    lock: threading.Lock = field(default_factory=threading.Lock)


class Tails:
    """The live tails of one server process. Thread-safe (polls run in the thread pool)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._tails: OrderedDict[str, _Tail] = OrderedDict()
        self._lock = threading.Lock()
        self._clock = clock

    def start(self, store: Store, query: str, start: datetime) -> tuple[str, list[Hit]]:
        """A new tail: its id and its first lines (the newest ``FIRST_LINES`` since ``start``)."""
        newest = list(store.search(query, start, None, order="desc", limit=FIRST_LINES))
        newest.reverse()
        seen = Seen(LOOKBACK_MS)
        for hit in newest:
            seen.add(hit)
        follower = Follower(store, query, seen, start_ms=datetime_to_ms(start), sweep_every=SWEEP_SECONDS)
        return self._keep(follower), newest

    def resume(self, store: Store, query: str, after: Cursor) -> str:
        """A tail for a browser whose tail is gone, going on after its last line ``after``."""
        seen = Seen(LOOKBACK_MS)
        seen.last = after
        # The sweep never goes back past the browser's last line: it has those, and cannot tell us which.
        follower = Follower(store, query, seen, start_ms=after.ts + 1, sweep_every=SWEEP_SECONDS)
        return self._keep(follower)

    def poll(self, tail_id: str) -> list[Hit] | None:
        """The tail's new lines, in order; None when there is no such tail (any more)."""
        with self._lock:
            tail = self._tails.get(tail_id)
            if tail is None:
                return None
            tail.used = self._clock()
            self._tails.move_to_end(tail_id)
        with tail.lock:  # one poll at a time per tail: two would split one batch between them
            return tail.follower.poll(POLL_LIMIT)

    def _keep(self, follower: Follower) -> str:
        tail_id = secrets.token_urlsafe(12)
        now = self._clock()
        with self._lock:
            for key in [k for k, t in self._tails.items() if now - t.used > IDLE_SECONDS]:
                del self._tails[key]
            while len(self._tails) >= MAX_TAILS:
                self._tails.popitem(last=False)
            self._tails[tail_id] = _Tail(follower, now)
        return tail_id

    def __len__(self) -> int:
        return len(self._tails)
