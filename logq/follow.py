"""``logq -f``: keep printing new matching docs as they arrive, without gaps or repeats.

Each poll asks the store for the hits strictly after the newest one printed, with the search
cursor (``Store.search(after=...)``, (@timestamp, id) order): cheap, and never a repeat. That alone
would lose a doc that arrives late with an older timestamp (a second shipper batching a few seconds
behind), so every ``lookback / 2`` a sweep re-reads the last ``lookback`` of timestamps and prints
what it had not printed; the ids printed inside that window are remembered for exactly this. So:
nothing is printed twice; a doc up to ``lookback`` late is printed once, when it arrives (after
newer ones, since it came later); memory is bounded by the docs of one lookback window. Waiting
between polls uses ``Event.wait`` so a stop (Ctrl-C in the CLI, an event in tests) ends the loop at
once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from logq._paging import search_hits
from logstore import Cursor, Hit, Store
from logstore.types import ms_to_datetime

PRUNE_EVERY = 4096


class Seen:
    """Ids printed with a timestamp inside the lookback window of the newest printed hit."""

    def __init__(self, lookback_ms: int) -> None:
        self.lookback_ms = lookback_ms
        self.ids: dict[str, int] = {}
        self.last: Cursor | None = None  # the greatest (ts, id) printed

    def add(self, hit: Hit) -> bool:
        """Record a hit; False when it was printed already."""
        if hit.id in self.ids:
            return False
        self.ids[hit.id] = hit.ts
        if self.last is None or (hit.ts, hit.id) > (self.last.ts, self.last.id):
            self.last = hit.cursor
        if len(self.ids) % PRUNE_EVERY == 0:
            self.prune()
        return True

    def prune(self) -> None:
        if self.last is None:
            return
        floor = self.last.ts - self.lookback_ms
        self.ids = {i: ts for i, ts in self.ids.items() if ts >= floor}

    def resume_ms(self, start_ms: int) -> int:
        """Sweep from here: every doc at or after it is either remembered in ``ids`` or new."""
        if self.last is None:
            return start_ms
        return max(start_ms, self.last.ts - self.lookback_ms)


def track(hits: Iterable[Hit], seen: Seen) -> Iterator[Hit]:
    """Pass hits through, remembering them (the initial, non-follow part of a follow run)."""
    for hit in hits:
        seen.add(hit)
        yield hit


class Follower:
    """One poll at a time of the follow loop, for callers that pace the polls themselves (``follow``
    below; the console's live tail, polled by a browser). ``poll`` answers the hits not given yet,
    in order: every ``sweep_every`` seconds the late ones of the last ``lookback``, then the hits
    after the newest one given (the module docstring's guarantees)."""

    def __init__(
        self,
        store: Store,
        query: str,
        seen: Seen,
        *,
        start_ms: int,
        sweep_every: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.query = query
        self.seen = seen
        self.start_ms = start_ms
        self.sweep_every = sweep_every
        self.clock = clock
        self.next_sweep = clock() + sweep_every

    def poll(self, limit: int | None = None) -> list[Hit]:
        """The new hits, oldest first. ``limit`` bounds the hits read after the cursor (the next
        poll goes on from there, so nothing is skipped). A sweep reads only the lookback window up
        to the newest hit given (as many docs as ``Seen`` remembers), never cut: a late doc cannot
        fall past a limit, and a long pause between polls cannot make one answer unbounded."""
        seen = self.seen
        if seen.last is None:  # nothing given yet: everything from the start is new
            since = ms_to_datetime(self.start_ms)
            hits = search_hits(self.store, self.query, since, None, order="asc", limit=limit)
            return [h for h in hits if seen.add(h)]
        fresh: list[Hit] = []
        if seen.lookback_ms and self.clock() >= self.next_sweep:
            seen.prune()
            since, until = ms_to_datetime(seen.resume_ms(self.start_ms)), ms_to_datetime(seen.last.ts + 1)
            late = search_hits(self.store, self.query, since, until, order="asc", limit=None)
            fresh = [h for h in late if seen.add(h)]
            self.next_sweep = self.clock() + self.sweep_every
        assert seen.last is not None
        hits = search_hits(self.store, self.query, None, None, order="asc", limit=limit, after=seen.last)
        return fresh + [h for h in hits if seen.add(h)]


def follow(
    store: Store,
    query: str,
    seen: Seen,
    emit: Callable[[Iterable[Hit]], Any],
    *,
    poll_interval: float,
    stop: threading.Event,
    start_ms: int,
) -> None:
    """Poll until ``stop`` is set; ``emit`` receives each poll's new hits in order and flushes them."""
    sweep_every = max(poll_interval, seen.lookback_ms / 2000)
    follower = Follower(store, query, seen, start_ms=start_ms, sweep_every=sweep_every)
    while not stop.is_set():
        fresh = follower.poll()
        if fresh:
            emit(fresh)
        stop.wait(poll_interval)
