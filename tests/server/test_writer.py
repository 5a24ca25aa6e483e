"""The writer: results only after the commit, per-request results out of one group commit."""

from __future__ import annotations

import time
from concurrent.futures import Future
from pathlib import Path

from prometheus_client import REGISTRY

from logstore import Doc, Outcome, open_store
from logwarden.config import Config
from server.writer import Results, Writer
from tests.server.harness import server_config
from tests.server.test_limits import write_lock


def _doc(doc_id: str) -> Doc:
    return Doc(doc_id, 1796205600000, {"@timestamp": "2026-12-02T10:00:00.000Z", "message": doc_id})


def _commits() -> float:
    return REGISTRY.get_sample_value("server_write_duration_seconds_count") or 0.0


def _outcomes(future: Future[Results]) -> list[tuple[str, Outcome]]:
    results = future.result(10)
    assert results is not None
    return [(r.id, r.outcome) for r in results]


def _config(tmp_path: Path) -> Config:
    return server_config(tmp_path, store={"sqlite": {"path": str(tmp_path / "s.db"), "busy_timeout": "30s"}})


def test_requests_queued_behind_a_commit_are_written_in_one_transaction(tmp_path: Path) -> None:
    """Requests that wait while the writer is busy are committed together, each with its own results
    in its own order; an id an earlier request of the group stored is that later request's duplicate."""
    config = _config(tmp_path)
    store = open_store(config.store)
    writer = Writer(store, 8)
    try:
        with write_lock(config):
            first = writer.submit([_doc("a")])
            deadline = time.monotonic() + 10
            while (
                REGISTRY.get_sample_value("server_write_queue_requests") != 0 and time.monotonic() < deadline
            ):
                time.sleep(0.01)  # until the writer took the first request (and waits for the lock)
            commits = _commits()
            second = writer.submit([_doc("b"), _doc("c")])
            third = writer.submit([_doc("c"), _doc("d")])
            assert not first.done()  # nothing is acknowledged before its commit
        assert first.result(10) is None  # all created
        assert _outcomes(second) == [("b", Outcome.CREATED), ("c", Outcome.CREATED)]
        assert _outcomes(third) == [("c", Outcome.DUPLICATE), ("d", Outcome.CREATED)]
        assert _commits() - commits == 2  # the first alone, then second and third together
        assert store.count("") == 4
    finally:
        writer.close()
        store.close()


def test_close_commits_what_was_queued(tmp_path: Path) -> None:
    """close() lets the writer finish every queued request before it stops."""
    config = _config(tmp_path)
    store = open_store(config.store)
    writer = Writer(store, 8)
    futures = [writer.submit([_doc(f"id-{i}")]) for i in range(5)]
    writer.close()
    try:
        assert all(f.done() and f.result() is None for f in futures)
        assert store.count("") == 5
    finally:
        store.close()
