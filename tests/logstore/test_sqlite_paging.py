"""SQLite keyset paging and the optional ``search_raw`` fast path: same hits, same order as ``search``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from logstore import Cursor, Doc
from logstore.config import SqliteConfig
from logstore.sqlite import SqliteStore
from logstore.types import format_ts, ms_to_datetime
from tests.logstore.corpus import BASE_MS, CORPUS

QUERIES = [
    "*",
    "service.name:api",
    "http.response.status_code:>=500",
    "NOT service.name:api",
    "level:30",
    "GET",
    "_exists_:req.id",
]


@pytest.fixture
def paged(tmp_path: Path) -> Iterator[SqliteStore]:
    """The shared corpus (ties on @timestamp included) in a store that pages every 3 hits."""
    store = SqliteStore(SqliteConfig(path=tmp_path / "logs.db"), page_size=3)
    store.write(CORPUS)
    yield store
    store.close()


def _ties(n: int) -> list[Doc]:
    """Three docs per millisecond, ids in reverse of insertion order so the tiebreak is visible."""
    docs = []
    for i in range(n):
        ts = BASE_MS + i // 3
        source = {"@timestamp": format_ts(ts), "message": f"tie {i}", "n": i}
        docs.append(Doc(f"t{999 - i:04d}", ts, source))
    return docs


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("query", QUERIES)
def test_search_raw_equals_search(paged: SqliteStore, query: str, order: str) -> None:
    """search_raw yields the same cursors in the same order as search, and bytes that parse to each source."""
    hits = list(paged.search(query, order=order))  # type: ignore[arg-type]
    raw = list(paged.search_raw(query, order=order))  # type: ignore[arg-type]
    assert hits, query
    assert [c for c, _ in raw] == [h.cursor for h in hits]
    assert [orjson.loads(b) for _, b in raw] == [h.source for h in hits]
    assert all(b"\n" not in b for _, b in raw)


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [None, 1, 3, 4, 50])
def test_pages_seek_past_ties_in_a_window(tmp_path: Path, order: str, limit: int | None) -> None:
    """Pages of 3 over ties of 3 per ms in a window: each doc once, in (ts, id) order, limit honoured."""
    store = SqliteStore(SqliteConfig(path=tmp_path / "logs.db"), page_size=3)
    try:
        docs = _ties(60)
        store.write(docs)
        start, end = ms_to_datetime(BASE_MS + 2), ms_to_datetime(BASE_MS + 17)
        inside = sorted((d for d in docs if BASE_MS + 2 <= d.ts < BASE_MS + 17), key=lambda d: (d.ts, d.id))
        if order == "desc":
            inside.reverse()
        want = [d.id for d in inside][:limit]
        got = [h.id for h in store.search("*", start, end, order=order, limit=limit)]  # type: ignore[arg-type]
        got_raw = [c.id for c, _ in store.search_raw("*", start, end, order=order, limit=limit)]  # type: ignore[arg-type]
        assert got == want
        assert got_raw == want
    finally:
        store.close()


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_resume_after_a_cursor_inside_a_tie(tmp_path: Path, order: str) -> None:
    """after= a cursor in the middle of a tie resumes right after it, on both search and search_raw."""
    store = SqliteStore(SqliteConfig(path=tmp_path / "logs.db"), page_size=2)
    try:
        store.write(_ties(30))
        everything = [h.cursor for h in store.search("*", order=order)]  # type: ignore[arg-type]
        cursor = everything[13]
        assert isinstance(cursor, Cursor)
        rest = [h.cursor for h in store.search("*", order=order, after=cursor)]  # type: ignore[arg-type]
        rest_raw = [c for c, _ in store.search_raw("*", order=order, after=cursor)]  # type: ignore[arg-type]
        assert rest == rest_raw == everything[14:]
    finally:
        store.close()


def test_search_raw_keeps_one_doc_per_line(tmp_path: Path) -> None:
    """A doc stored from pretty-printed raw bytes still comes out of search_raw as one compact line."""
    store = SqliteStore(SqliteConfig(path=tmp_path / "logs.db"))
    try:
        source = {"@timestamp": format_ts(BASE_MS), "message": "hi", "event": {"id": "p1"}}
        pretty = orjson.dumps(source, option=orjson.OPT_INDENT_2)
        store.write([Doc("p1", BASE_MS, source, pretty)])
        ((cursor, line),) = list(store.search_raw(""))
        assert cursor == Cursor(BASE_MS, "p1")
        assert b"\n" not in line
        assert orjson.loads(line) == source
    finally:
        store.close()


def test_writer_checkpoints_in_the_background(tmp_path: Path) -> None:
    """A writing store hands WAL checkpoints to its own thread: the data survives close and reopen."""
    path = tmp_path / "logs.db"
    store = SqliteStore(SqliteConfig(path=path))
    docs = [
        Doc(f"c{i:05d}", BASE_MS + i, {"@timestamp": format_ts(BASE_MS + i), "message": "x" * 500})
        for i in range(12_000)
    ]
    for k in range(0, len(docs), 2000):
        store.write(docs[k : k + 2000])
    assert store._writer().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    store.close()
    again = SqliteStore(SqliteConfig(path=path))
    try:
        assert again.count("") == 12_000
    finally:
        again.close()
