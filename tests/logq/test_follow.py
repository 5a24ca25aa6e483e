"""Follow mode on SQLite while a writer thread appends: in order, no gaps, no repeats, late docs once."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator

import orjson
import pytest

from logstore import Doc, Store, open_store
from logstore.config import StoreConfig
from tests.logq.conftest import NOW_MS, Logq, access_doc, write_all

POLL = "0.02"


def wait_until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    """Return as soon as cond() holds; fail after the deadline."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        threading.Event().wait(0.005)


class Follower:
    """logq -f running in a thread, writing into a buffer we can read while it runs."""

    def __init__(self, logq: Logq, *args: str, tty: bool = False) -> None:
        self.out = io.BytesIO()
        self.stop = threading.Event()
        self.code: int | None = None
        self.err = ""

        def target() -> None:
            r = logq(
                *args,
                "-f",
                "--poll-interval",
                POLL,
                stop=self.stop,
                out=self.out,
                tty=tty,
                env={"NO_COLOR": "1"},
            )
            self.code, self.err = r.code, r.err

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def lines(self) -> list[str]:
        return self.out.getvalue().decode().splitlines()

    def ids(self) -> list[str]:
        return [orjson.loads(x)["event"]["id"] for x in self.lines()]

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def writer(sqlite_store_config: StoreConfig) -> Iterator[Store]:
    """A second, independent connection to the same SQLite file: another process's shipper."""
    s = open_store(sqlite_store_config)
    yield s
    s.close()


def new_docs(start: int, n: int, base_ms: int) -> list[Doc]:
    # Two docs per millisecond: ties on @timestamp must still be ordered by id, none lost.
    return [access_doc(start + i, base_ms + i // 2) for i in range(n)]


def test_follow_prints_appended_docs_in_order_without_gaps_or_repeats(
    sqlite_logq: Logq, writer: Store
) -> None:
    """While a writer thread appends 600 docs in small batches, -f prints each exactly once, in order."""
    f = Follower(sqlite_logq)
    try:
        wait_until(lambda: len(f.lines()) == 240)
        docs = new_docs(5000, 600, NOW_MS + 1000)

        def append() -> None:
            for i in range(0, len(docs), 20):
                writer.write(docs[i : i + 20])

        t = threading.Thread(target=append)
        t.start()
        t.join(30)
        wait_until(lambda: len(f.lines()) >= 840)
    finally:
        f.finish()
    got = f.ids()
    assert got[240:] == [d.id for d in docs]
    assert len(got) == len(set(got)) == 840
    assert f.code == 0


def test_follow_catches_late_doc_once(sqlite_logq: Logq, writer: Store) -> None:
    """A doc arriving late with an older timestamp (inside --lookback) is printed once, when it arrives."""
    f = Follower(sqlite_logq, "--lookback", "1s")
    try:
        write_all(writer, [access_doc(7000, NOW_MS + 5000)])
        wait_until(lambda: "doc-007000" in f.ids())
        write_all(writer, [access_doc(7001, NOW_MS + 4400)])  # 0.6 s older than the newest printed
        wait_until(lambda: "doc-007001" in f.ids())
        write_all(writer, [access_doc(7002, NOW_MS + 6000)])
        wait_until(lambda: "doc-007002" in f.ids())
    finally:
        f.finish()
    got = f.ids()
    assert got[240:] == ["doc-007000", "doc-007001", "doc-007002"]
    assert len(got) == len(set(got))


def test_follow_filters_with_query_and_tails_on_tty(sqlite_logq: Logq, writer: Store) -> None:
    """-f on a terminal shows the newest N first (with the notice), then only new matching docs."""
    f = Follower(sqlite_logq, "status:502", "-n", "3", "-o", "json", tty=True)
    try:
        wait_until(lambda: len(f.lines()) == 3)
        docs = new_docs(8000, 50, NOW_MS + 1000)
        write_all(writer, docs)
        want = [d.id for d in docs if d.source["status"] == 502]
        wait_until(lambda: len(f.lines()) == 3 + len(want))
    finally:
        f.finish()
    assert f.ids() == ["doc-000224", "doc-000231", "doc-000238", *want]
    assert f.err == "showing 3 of 35; use -n 0 for all\n"


def test_follow_on_both_stores(logq: Logq, store_with_corpus: Store) -> None:
    """-f on each store prints the window, then docs written afterwards, each once and in order."""
    f = Follower(logq, "status:502")
    try:
        wait_until(lambda: len(f.lines()) == 35)
        docs = new_docs(9000, 70, NOW_MS + 1000)
        write_all(store_with_corpus, docs)
        want = [d.id for d in docs if d.source["status"] == 502]
        wait_until(lambda: len(f.lines()) == 35 + len(want))
    finally:
        f.finish()
    assert f.ids()[35:] == want and f.code == 0


def test_a_limited_poll_goes_on_where_it_stopped(writer: Store) -> None:
    """Follower.poll(limit) answers at most limit hits after the cursor; the next poll continues
    from there, so the hits come in order with no gap and none twice (the console's live tail)."""
    from logq.follow import Follower as Poller
    from logq.follow import Seen

    docs = new_docs(9000, 25, NOW_MS)
    write_all(writer, docs[:1])
    clock = [0.0]
    poller = Poller(writer, "", Seen(0), start_ms=NOW_MS, sweep_every=60, clock=lambda: clock[0])
    assert [h.id for h in poller.poll(limit=10)] == [docs[0].id]  # the first poll sweeps from start
    write_all(writer, docs[1:])
    got = [[h.id for h in poller.poll(limit=10)] for _ in range(4)]
    assert [len(batch) for batch in got] == [10, 10, 4, 0]
    assert [i for batch in got for i in batch] == [d.id for d in docs[1:]]


def test_a_sweep_reads_only_the_lookback_and_late_docs_come_first(writer: Store) -> None:
    """A sweep after a long pause answers the late docs of the lookback, then at most limit new
    ones: a pause cannot make one answer unbounded, and the late doc is not lost past the limit."""
    from logq.follow import Follower as Poller
    from logq.follow import Seen

    write_all(writer, [access_doc(9500, NOW_MS + 10_000)])
    clock = [0.0]
    poller = Poller(writer, "", Seen(5_000), start_ms=NOW_MS, sweep_every=2.5, clock=lambda: clock[0])
    assert [h.id for h in poller.poll(limit=10)] == ["doc-009500"]
    newer = [access_doc(9600 + i, NOW_MS + 20_000 + i) for i in range(30)]
    write_all(writer, [*newer, access_doc(9501, NOW_MS + 8_000)])  # 2 s late: inside the lookback
    clock[0] = 60.0  # a long pause: this poll sweeps
    got = [h.id for h in poller.poll(limit=10)]
    assert got == ["doc-009501", *[d.id for d in newer[:10]]]
    assert [h.id for h in poller.poll(limit=100)] == [d.id for d in newer[10:]]
