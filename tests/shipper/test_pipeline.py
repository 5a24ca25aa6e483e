"""The pipeline at its seam with a scripted sink: retries, dead letters, ordered commits, backpressure."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from logstore.types import Doc, Health, Outcome, StoreError, WriteResult
from shipper.config import ShipperConfig
from shipper.pipeline import Finalizer, Pipeline
from shipper.registry import FileRow, Registry
from tests.shipper.harness import wait_until


class ScriptedSink:
    """The store seam: answers each write with what ``script`` says (STYLE.md #12: fakes only at seams)."""

    name = "scripted"

    def __init__(self, script: Callable[[int, Sequence[Doc]], list[WriteResult] | Exception]) -> None:
        self.script = script
        self.calls = 0
        self.stored: dict[str, Doc] = {}
        self.gate = threading.Event()
        self.gate.set()

    def write(self, docs: Sequence[Doc]) -> list[WriteResult]:
        self.gate.wait()
        self.calls += 1
        answer = self.script(self.calls, docs)
        if isinstance(answer, Exception):
            raise answer
        for d, r in zip(docs, answer, strict=True):
            if r.outcome is Outcome.CREATED:
                self.stored.setdefault(d.id, d)
        return answer

    def health(self) -> Health:
        return Health(True, "ok")

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


def _created(docs: Sequence[Doc]) -> list[WriteResult]:
    return [WriteResult(d.id, Outcome.CREATED) for d in docs]


def _doc(i: int) -> Doc:
    return Doc(f"id{i}", 1000 + i, {"n": i}, b'{"n":%d}' % i)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(tmp_path / "reg.db")
    reg.upsert(FileRow("f1", "/x.log", 1, 1, False, 10, "h", 0, 0, 0, 0.0))
    yield reg
    reg.close()


def _pipeline(sink: ScriptedSink, registry: Registry, **over: Any) -> Pipeline:
    cfg = ShipperConfig.model_validate(
        {"batch": {"max_docs": 10}, "retry": {"initial": "1ms", "max": "5ms"}, **over}
    )
    return Pipeline(sink, registry, cfg, threading.Event())


def _feed(p: Pipeline, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        p.add(_doc(i), "f1", i * 10, "/x.log", (i + 1) * 10)


def _committed(reg: Registry) -> int:
    return {r.fid: r.offset for r in reg.files()}["f1"]


@pytest.mark.parametrize("workers", [0, 1])
def test_retryable_items_are_resent_until_created(registry: Registry, workers: int) -> None:
    """RETRYABLE items (429/5xx) are retried item by item; created ones are not sent again."""
    seen: list[int] = []

    def script(call: int, docs: Sequence[Doc]) -> list[WriteResult]:
        seen.append(len(docs))
        if call <= 2:  # every other doc fails twice
            return [
                WriteResult(d.id, Outcome.RETRYABLE if i % 2 else Outcome.CREATED, "429")
                for i, d in enumerate(docs)
            ]
        return _created(docs)

    sink = ScriptedSink(script)
    p = _pipeline(sink, registry, workers=workers)
    _feed(p, 10)
    assert p.close(deadline=time.monotonic() + 5)
    assert len(sink.stored) == 10
    assert seen == [10, 5, 2]
    assert _committed(registry) == 100


@pytest.mark.parametrize("workers", [0, 1])
def test_connection_errors_retry_without_limit(registry: Registry, workers: int) -> None:
    """A store that raises StoreError is retried with backoff until it answers; then offsets commit."""

    def script(call: int, docs: Sequence[Doc]) -> list[WriteResult] | Exception:
        return StoreError("connection refused") if call < 20 else _created(docs)

    sink = ScriptedSink(script)
    p = _pipeline(sink, registry, workers=workers)
    _feed(p, 10)
    assert p.close(deadline=time.monotonic() + 10)
    assert sink.calls == 20 and len(sink.stored) == 10
    assert _committed(registry) == 100


@pytest.mark.parametrize("workers", [0, 1])
def test_rejected_docs_go_to_dead_letters_and_count_as_handled(registry: Registry, workers: int) -> None:
    """REJECTED docs land in shipper_dlq with the reason, are not retried, and offsets still advance."""

    def script(call: int, docs: Sequence[Doc]) -> list[WriteResult]:
        return [
            WriteResult(d.id, Outcome.REJECTED, "mapper_parsing_exception")
            if d.id == "id3"
            else WriteResult(d.id, Outcome.CREATED)
            for d in docs
        ]

    sink = ScriptedSink(script)
    p = _pipeline(sink, registry, workers=workers)
    _feed(p, 10)
    assert p.close(deadline=time.monotonic() + 5)
    assert sink.calls == 1
    dead = registry.dlq_list()
    assert [(d.doc_id, d.offset, d.reason) for d in dead] == [("id3", 30, "mapper_parsing_exception")]
    assert dead[0].raw == b'{"n":3}'
    assert _committed(registry) == 100


@pytest.mark.parametrize("workers", [0, 1])
def test_duplicates_count_as_delivered(registry: Registry, workers: int) -> None:
    """A DUPLICATE answer (a re-send after a crash) is acknowledged like CREATED."""
    sink = ScriptedSink(lambda call, docs: [WriteResult(d.id, Outcome.DUPLICATE) for d in docs])
    p = _pipeline(sink, registry, workers=workers)
    _feed(p, 10)
    assert p.close(deadline=time.monotonic() + 5)
    assert _committed(registry) == 100 and sink.calls == 1


def test_finalizer_commits_only_contiguous_acknowledged_prefix() -> None:
    """A later batch acknowledged first does not move the offset past an unacknowledged earlier one."""
    f = Finalizer()
    f.register(1, {"a": 100})
    f.register(2, {"a": 200, "b": 50})
    f.register(3, {"a": 300})
    assert f.ack(2, {"a": 200, "b": 50}) == {"b": 50}
    assert f.ack(3, {"a": 300}) == {}
    assert f.ack(1, {"a": 100}) == {"a": 300}
    assert f.idle()


def test_backpressure_pauses_reading_when_store_is_slow(registry: Registry) -> None:
    """With max_in_flight batches out, add() blocks until the store answers (bounded memory)."""
    sink = ScriptedSink(lambda call, docs: _created(docs))
    sink.gate.clear()  # the store hangs
    p = _pipeline(sink, registry, max_in_flight=2, workers=1)
    fed = threading.Event()

    def reader() -> None:
        _feed(p, 100)
        fed.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    wait_until(p.backlogged, 5, "queue full")
    assert not fed.wait(0.3), "reader should be blocked by backpressure"
    sink.gate.set()
    assert fed.wait(5)
    t.join(5)
    assert p.close(deadline=time.monotonic() + 5)
    assert len(sink.stored) == 100
    assert _committed(registry) == 1000


def test_shutdown_deadline_leaves_unacknowledged_offsets_uncommitted(registry: Registry) -> None:
    """If the store never answers before the deadline, the offset stays put (re-read next start)."""
    sink = ScriptedSink(lambda call, docs: StoreError("down"))
    p = _pipeline(sink, registry)
    _feed(p, 5)
    assert not p.close(deadline=time.monotonic() + 0.3)
    assert _committed(registry) == 0


def test_marks_without_docs_commit_skipped_bytes(registry: Registry) -> None:
    """Bytes that produce no doc (empty lines) still advance the committed offset, in order."""
    sink = ScriptedSink(lambda call, docs: _created(docs))
    p = _pipeline(sink, registry)
    p.mark("f1", 42)
    p.flush()
    assert _committed(registry) == 42
    p.close(deadline=time.monotonic() + 2)


def test_inline_delivery_retries_and_commits(registry: Registry) -> None:
    """workers: 0 delivers on the caller's thread with the same retries, dead letters and commits."""

    def script(call: int, docs: Sequence[Doc]) -> list[WriteResult] | Exception:
        if call == 1:
            return StoreError("down")
        return [
            WriteResult(d.id, Outcome.REJECTED, "bad")
            if d.id == "id4"
            else WriteResult(d.id, Outcome.CREATED)
            for d in docs
        ]

    sink = ScriptedSink(script)
    p = _pipeline(sink, registry, workers=0)
    _feed(p, 25)
    assert p.close(deadline=time.monotonic() + 5)
    assert len(sink.stored) == 24 and [d.doc_id for d in registry.dlq_list()] == ["id4"]
    assert _committed(registry) == 250


def test_inline_delivery_gives_up_at_the_deadline_and_keeps_docs(registry: Registry) -> None:
    """Inline, a store that stays down makes flush fail at its deadline; no doc is dropped or committed."""
    sink = ScriptedSink(lambda call, docs: StoreError("down"))
    p = _pipeline(sink, registry, workers=0)
    p.stop.set()  # a SIGTERM arrived: the inline retry hands the batch back instead of blocking
    _feed(p, 25)
    assert not p.close(deadline=time.monotonic() + 0.3)
    assert _committed(registry) == 0
