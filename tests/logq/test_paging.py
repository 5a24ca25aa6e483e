"""The paging shim gives exactly the hits and order of one plain search, ties on @timestamp included."""

from __future__ import annotations

import pytest

from logq._paging import search_hits
from logstore import Store
from tests.logq.conftest import NOW_MS, access_doc, write_all


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [None, 1, 50, 101])
def test_chunked_search_equals_plain_search(store: Store, order: str, limit: int | None) -> None:
    """Chunks of 7 with three docs per millisecond: same ids, same order, no repeats, limit honoured."""
    write_all(store, [access_doc(i, NOW_MS - 60_000 + i // 3) for i in range(120)])
    plain = [h.id for h in store.search("*", None, None, order=order, limit=limit)]  # type: ignore[arg-type]
    chunked = [h.id for h in search_hits(store, "*", None, None, order=order, limit=limit, chunk=7)]  # type: ignore[arg-type]
    assert chunked == plain
    assert len(plain) == (limit or 120)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_chunked_search_after_cursor(store: Store, order: str) -> None:
    """Resuming after a cursor in the middle of a tie gives the same hits as the plain search."""
    write_all(store, [access_doc(i, NOW_MS - 60_000 + i // 3) for i in range(60)])
    all_hits = list(store.search("*", None, None, order=order))  # type: ignore[arg-type]
    cursor = all_hits[31].cursor
    plain = [h.id for h in store.search("*", None, None, order=order, after=cursor)]  # type: ignore[arg-type]
    chunked = [
        h.id for h in search_hits(store, "*", None, None, order=order, limit=None, after=cursor, chunk=4)
    ]  # type: ignore[arg-type]
    assert chunked == plain == [h.id for h in all_hits[32:]]
