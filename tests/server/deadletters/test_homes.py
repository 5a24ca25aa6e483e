"""The dead letters' homes (SQLite in the store's file, and memory): bounded by rows and age, oldest
dropped first and counted; replay's settle forgets the stored and re-reasons the refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from server.deadletters import MAX_LINE, Letter, MemoryDeadLetters
from server.deadletters.sqlite import SqliteDeadLetters

DAY_MS = 86_400_000


def _letter(n: int, size: int = 10) -> Letter:
    return Letter("web1", "app", f"d{n}", f"reason {n}", b"x" * size)


@pytest.fixture(params=["sqlite", "memory"])
def home(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A home capped at 3 rows and 1 day."""
    made: Any = (
        SqliteDeadLetters(tmp_path / "store.db", max_rows=3, max_age=timedelta(days=1))
        if request.param == "sqlite"
        else MemoryDeadLetters(max_rows=3, max_age=timedelta(days=1))
    )
    try:
        yield made
    finally:
        made.close()


def test_past_the_row_cap_the_oldest_are_dropped_and_counted(home: Any) -> None:
    """Five kept in a home of three: the two oldest go, dropped says 2, newest first on a page."""
    home.add([_letter(n) for n in range(5)], now_ms=DAY_MS)
    assert [x.doc_id for x in home.page(10)] == ["d4", "d3", "d2"]
    assert (home.totals().kept, home.totals().dropped) == (3, 2)
    newest = home.page(1)[0]
    assert [x.doc_id for x in home.page(10, before=newest.id)] == ["d3", "d2"]


def test_past_the_age_cap_the_old_ones_are_dropped(home: Any) -> None:
    """A dead letter older than the age bound goes at the next add, and is counted."""
    home.add([_letter(1)], now_ms=DAY_MS)
    home.add([_letter(2)], now_ms=3 * DAY_MS)
    assert [x.doc_id for x in home.page(10)] == ["d2"] and home.totals().dropped == 1


def test_settle_forgets_the_stored_and_gives_the_refused_their_new_reason(home: Any) -> None:
    """After a replay: stored ids are gone, refused ones carry the new reason and one more replay."""
    home.add([_letter(1), _letter(2)], now_ms=DAY_MS)
    first, second = home.get([x.id for x in home.page(10)])
    home.settle([first.id], [(second.id, "still bad")])
    (left,) = home.page(10)
    assert (left.doc_id, left.reason, left.replays) == ("d2", "still bad", 1)
    assert home.get([first.id]) == []


def test_long_lines_are_cut_and_flagged(home: Any) -> None:
    """Lines over MAX_LINE bytes are kept cut to it, flagged truncated."""
    home.add([_letter(1, MAX_LINE + 5), _letter(2)], now_ms=DAY_MS)
    short, long = home.page(10)
    assert (len(long.lines), long.truncated, short.truncated) == (MAX_LINE, True, False)


def test_the_sqlite_home_outlives_its_connection(tmp_path: Path) -> None:
    """Kept in the file: a new connection reads the same rows and dropped count."""
    first = SqliteDeadLetters(tmp_path / "store.db", max_rows=1)
    first.add([_letter(1), _letter(2)], now_ms=DAY_MS)
    first.close()
    again = SqliteDeadLetters(tmp_path / "store.db", max_rows=1)
    try:
        assert [x.doc_id for x in again.page(10)] == ["d2"] and again.totals().dropped == 1
    finally:
        again.close()
