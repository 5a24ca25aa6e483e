"""One place where logq asks a store for a stream of hits.

It used to chain bounded ``search`` calls to work around the SQLite backend re-walking its time index
on every page; the backend now seeks with keyset pagination on (ts, id), so a single ``search`` call
streams any number of hits at a flat cost per page. ``chunk`` is kept for callers and ignored.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime

from logstore import Cursor, Hit, Order, Store


def search_hits(
    store: Store,
    query: str,
    start: datetime | None,
    end: datetime | None,
    *,
    order: Order,
    limit: int | None,
    after: Cursor | None = None,
    chunk: int = 0,
) -> Generator[Hit, None, None]:
    del chunk  # no longer needed: see the module docstring
    yield from store.search(query, start, end, order=order, limit=limit, after=after)
