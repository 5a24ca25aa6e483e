"""Shim: stream a long search as a chain of bounded ``Store.search`` calls that move the window.

Why: the SQLite backend pages on (ts, id) inside one ``search`` call, but its index range starts at
the window's ``start`` rather than at the page cursor, so page k re-walks k pages of the ts index
and one call over 1M hits is quadratic (measured: ~10k docs/s over 1M; a page near the end costs
0.37 s, one near the start 2 ms). Calling ``search`` again every ``CHUNK`` hits (one backend page),
with the window narrowed to the last hit's timestamp and ``after=`` for ties, keeps every page
cheap. Results are the same hits in the same (@timestamp, id) order. Remove this once the backend
bounds its index range by the cursor. Elasticsearch pages with a point-in-time + search_after and
needs none of this, so it gets one plain call.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime

from logstore import Cursor, Hit, Order, Store
from logstore.types import ms_to_datetime

CHUNK = 1000  # SqliteStore's default page_size: one page per call, so no page re-walks the index


def search_hits(
    store: Store,
    query: str,
    start: datetime | None,
    end: datetime | None,
    *,
    order: Order,
    limit: int | None,
    after: Cursor | None = None,
    chunk: int = CHUNK,
) -> Generator[Hit, None, None]:
    if store.name != "sqlite":
        yield from store.search(query, start, end, order=order, limit=limit, after=after)
        return
    if after is not None:
        # Bound the window by the cursor too, for the same reason as the chunks below.
        if order == "asc":
            at = ms_to_datetime(after.ts)
            start = at if start is None else max(start, at)
        else:
            past = ms_to_datetime(after.ts + 1)
            end = past if end is None else min(end, past)
    remaining = limit
    while remaining is None or remaining > 0:
        size = chunk if remaining is None else min(chunk, remaining)
        got = 0
        last: Hit | None = None
        for hit in store.search(query, start, end, order=order, limit=size, after=after):
            yield hit
            got += 1
            last = hit
        if last is None or got < size:
            return
        after = last.cursor
        if order == "asc":
            start = ms_to_datetime(last.ts)  # inclusive; `after` skips what was already yielded
        else:
            end = ms_to_datetime(last.ts + 1)  # exclusive bound just past the last hit's ms
        if remaining is not None:
            remaining -= got
