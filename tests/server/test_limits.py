"""server.limits, overload and store failure: each refusal is clear, bounded, and the server recovers."""

from __future__ import annotations

import gzip
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import apsw
import pytest

from logwarden.config import Config
from tests.server.harness import Running, serve, server_config
from tests.server.http import Answer, bulk, ndjson, stored

TS = "2026-12-02T10:00:00.000Z"


def _docs(n: int, dataset: str, first: int = 0) -> bytes:
    pairs = [
        ({"create": {"_index": dataset, "_id": f"{dataset}-{i}"}}, {"@timestamp": TS, "n": i})
        for i in range(first, first + n)
    ]
    return ndjson(*[x for pair in pairs for x in pair])


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    limits = {"max_body": "1KiB", "max_docs": 3, "request_timeout": "500ms"}
    with serve(server_config(tmp_path_factory.mktemp("limits"), {"limits": limits})) as running:
        yield running


def test_a_body_over_max_body_is_a_413_naming_the_limit(limited: Running) -> None:
    """A body larger than server.limits.max_body: 413 whose reason names the limit and its key."""
    answer = bulk(limited.url, _docs(3, "lim-body") + b" " * 2000)
    assert answer.status == 413
    assert answer.json["error"]["type"] == "content_too_long_exception"
    assert (
        "1024 bytes" in answer.json["error"]["reason"]
        and "server.limits.max_body" in answer.json["error"]["reason"]
    )
    assert stored(limited.config, "event.dataset:lim-body") == []


def test_a_gzip_bomb_is_refused_at_the_limit(limited: Running) -> None:
    """A small gzip body that inflates past max_body: 413 (counted after gzip), nothing stored."""
    bomb = gzip.compress(_docs(1, "lim-bomb") + b" " * 20_000_000)
    assert len(bomb) < 1024 * 30
    answer = bulk(limited.url, bomb, headers={"Content-Encoding": "gzip"})
    assert answer.status == 413 and "after gzip" in answer.json["error"]["reason"]
    assert stored(limited.config, "event.dataset:lim-bomb") == []


def test_more_docs_than_max_docs_is_a_413_naming_the_limit(limited: Running) -> None:
    """max_docs docs are stored; one more is a 413 naming server.limits.max_docs, and nothing is stored."""
    assert bulk(limited.url, _docs(3, "lim-docs")).json["errors"] is False
    answer = bulk(limited.url, _docs(4, "lim-docs", first=3))
    assert answer.status == 413
    assert "more than 3 docs" in answer.json["error"]["reason"]
    assert "server.limits.max_docs" in answer.json["error"]["reason"]
    assert len(stored(limited.config, "event.dataset:lim-docs")) == 3


def test_a_body_sent_too_slowly_gets_a_408_and_the_connection_closed(limited: Running) -> None:
    """A client that stops sending mid-body: 408 naming request_timeout after it, then the socket closes."""
    port = int(limited.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n" + b'{"index":{}}\n')
        started = time.monotonic()
        received = b""
        while chunk := sock.recv(65536):  # until the server closes the connection
            received += chunk
        waited = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 408 ")
    assert b"server.limits.request_timeout" in received
    assert 0.4 < waited < 5


@contextmanager
def write_lock(config: Config) -> Iterator[None]:
    """Holds the store's SQLite write lock (as another writer would) until the block ends.

    With apsw, the store's own SQLite library: POSIX locks do not conflict within one process, so
    only connections of the same library see each other's locks here.
    """
    conn = apsw.Connection(str(config.store.settings.path))
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def test_a_full_write_queue_answers_429_then_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With the writer held up and its queue full, a request gets 429 es_rejected_execution_exception
    (and a warning); the accepted ones are stored once the writer moves, and new ones are accepted again."""
    config = server_config(
        tmp_path,
        {"limits": {"queue": 1}},
        store={"sqlite": {"path": str(tmp_path / "s.db"), "busy_timeout": "30s"}},
    )
    with caplog.at_level(logging.WARNING, logger="server.bulk"), serve(config) as srv:
        answers: dict[int, Answer] = {}

        def send(k: int) -> None:
            answers[k] = bulk(srv.url, _docs(2, "q", first=2 * k))

        threads: list[threading.Thread] = []
        with write_lock(config):
            for k in range(8):  # one runs into the held lock, one waits in the queue, the next is refused
                threads.append(threading.Thread(target=send, args=(k,)))
                threads[-1].start()
                deadline = time.monotonic() + 0.3
                while k not in answers and time.monotonic() < deadline:
                    time.sleep(0.01)
                if any(a.status == 429 for a in answers.values()):
                    break
            refused = [k for k, a in answers.items() if a.status == 429]
        for t in threads:
            t.join(30)
        assert refused, "no request was refused while the queue was full"
        assert answers[refused[0]].json["error"]["type"] == "es_rejected_execution_exception"
        accepted = sorted(k for k, a in answers.items() if a.status == 200)
        assert len(accepted) >= 1 and all(answers[k].json["errors"] is False for k in accepted)
        assert bulk(srv.url, _docs(2, "q", first=100)).status == 200  # recovered
        ns = sorted(d["n"] for d in stored(config, "event.dataset:q"))
    assert ns == sorted([n for k in accepted for n in (2 * k, 2 * k + 1)] + [100, 101])
    assert [r.getMessage() for r in caplog.records].count(
        "write queue full; answering 429 (clients retry later)"
    ) == 1


def test_a_store_that_cannot_be_written_is_a_503_and_nothing_is_acknowledged(tmp_path: Path) -> None:
    """A write that fails in SQLite (locked past busy_timeout): 503 with the store's reason; then recovery."""
    config = server_config(
        tmp_path, store={"sqlite": {"path": str(tmp_path / "s.db"), "busy_timeout": "100ms"}}
    )
    with serve(config) as srv:
        with write_lock(config):
            answer = bulk(srv.url, _docs(2, "fail"))
        assert answer.status == 503
        assert "locked" in answer.json["error"]["reason"]
        assert bulk(srv.url, _docs(2, "fail")).json["errors"] is False
        assert len(stored(config, "event.dataset:fail")) == 2
