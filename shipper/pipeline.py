"""Batching, delivery with retries, dead letters, and the ordered finalizer.

Guarantees:
- Batches close on count, bytes or age (``batch.max_wait``), whichever comes first.
- At most ``max_in_flight`` batches wait for or are in delivery; beyond that ``add`` blocks, so the
  reader pauses and the log files are the buffer (bounded memory whatever the backlog).
- The ONE retry loop: RETRYABLE items (and whole batches on ``StoreError``) are re-sent, item by item,
  with exponential backoff and full jitter, without limit while the shipper runs. REJECTED items go
  to the dead-letter table (durably) with the store's reason and count as handled. Nothing is
  dropped silently.
- A request the store finds too large (HTTP 413, ``Outcome.TOO_LARGE``) is sent again in halves until
  each half fits; a doc too large on its own is a dead letter. The largest request that fitted is
  remembered, and later batches are sent in requests no bigger (bytes of the docs' JSON).
- A store with the ``FastWrite`` capability (Elasticsearch) is called through it: a batch that
  was all created costs no per-doc result objects.
- Offsets are committed in order per file: a file's committed offset is the end of the longest
  prefix of its batches that are all acknowledged (Vector's ordered finalizer, Filebeat's registry).
"""

from __future__ import annotations

import queue
import random
import threading
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter

import orjson

from logstore.observe import emit
from logstore.protocol import FastWrite, Store
from logstore.types import Doc, Health, Outcome, StoreAuthError, StoreError, WriteResult
from shipper import metrics
from shipper.config import ShipperConfig
from shipper.events import (
    DeadLettersNotWritten,
    DeliveryCrashed,
    DocsRejected,
    RequestTooLarge,
    StoreRefusedCredentials,
    StoreRetrying,
)
from shipper.registry import Registry

_RAW = attrgetter("raw")
Event = tuple[int, int, bytes, tuple[str, ...]]
_START = itemgetter(0)


@dataclass(slots=True)
class Batch:
    seq: int = 0
    docs: list[Doc] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # the byte offset of each doc in its file
    # (index of the first doc, fid, path) of each run of docs from one file: no tuple per doc.
    runs: list[tuple[int, str, str]] = field(default_factory=list)
    marks: dict[str, int] = field(default_factory=dict)  # fid -> end offset covered by this batch
    nbytes: int = 0
    opened: float = 0.0
    # The store's answer to a first attempt made elsewhere (a block sent by shipper/parallel.py),
    # where delivery starts; None: not sent yet.
    first: list[WriteResult] | str | None = None

    def add_run(self, fid: str, path: str) -> None:
        """The docs appended next come from ``fid`` (at ``path``)."""
        runs = self.runs
        if not runs or runs[-1][1] != fid or runs[-1][2] != path:
            runs.append((len(self.docs), fid, path))

    def meta(self, i: int) -> tuple[str, int, str]:
        """(fid, offset, path) of doc ``i``."""
        k = bisect_right(self.runs, i, key=lambda r: r[0]) - 1
        _, fid, path = self.runs[k]
        return fid, self.offsets[i], path


class Finalizer:
    """Per file, the batches in read order; acknowledges advance the committed offset in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, deque[list[int]]] = {}
        self.committed: dict[str, int] = {}

    def register(self, seq: int, marks: dict[str, int]) -> None:
        with self._lock:
            for fid, end in marks.items():
                self._pending.setdefault(fid, deque()).append([seq, end, 0])

    def ack(self, seq: int, marks: dict[str, int]) -> dict[str, int]:
        advanced: dict[str, int] = {}
        with self._lock:
            for fid in marks:
                dq = self._pending.get(fid)
                if not dq:
                    continue
                for entry in dq:
                    if entry[0] == seq:
                        entry[2] = 1
                        break
                while dq and dq[0][2]:
                    end = dq.popleft()[1]
                    if end > self.committed.get(fid, -1):
                        self.committed[fid] = end
                        advanced[fid] = end
                if not dq:
                    del self._pending[fid]
        return advanced

    def idle(self) -> bool:
        with self._lock:
            return not self._pending


class Pipeline:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        config: ShipperConfig,
        stop: threading.Event,
        on_commit: Callable[[dict[str, int]], None] | None = None,
        on_blocked: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.max_docs = config.batch.max_docs
        self.max_bytes = config.batch.max_bytes
        self.max_wait = config.batch.max_wait.total_seconds()
        self.initial = config.retry.initial.total_seconds()
        self.max_backoff = config.retry.max.total_seconds()
        self.stop = stop  # reading stopped: don't block forever on a full queue
        self.abort = threading.Event()  # the shutdown deadline passed: give up on unacknowledged batches
        # The store refused our credentials (StoreAuthError, HTTP 401/403): waiting will not fix
        # that, so reading stops, unacknowledged batches are given up (their offsets stay where
        # they are, so a restart with good credentials sends them) and `shipper run` exits 2.
        self.refused: str | None = None
        self.finalizer = Finalizer()
        self.on_commit = on_commit
        self.on_blocked = on_blocked  # called every 100 ms while add()/flush() waits for room
        self._queue: queue.Queue[Batch | None] = queue.Queue(maxsize=config.max_in_flight)
        self._seq = 0
        self._batch = Batch()
        # Registered but not yet queued (a flush hit its deadline), oldest first.
        self._waiting: deque[Batch] = deque()
        self._unacked = 0
        self._unacked_lock = threading.Condition()
        self._fail_since: float | None = None
        self._fail_reason = ""
        # After a 413: the largest request (bytes of docs) the store took; later ones stay below it.
        self.request_bytes: int | None = None
        self.sent = 0
        self.rejected = 0
        # workers: 0 delivers on the reader thread: the least CPU per doc (no thread hand-off), and
        # reading simply pauses during each bulk round trip.
        self.inline = config.workers == 0
        # Optional store capability (ElasticStore): None instead of one WriteResult per created doc.
        self._write_fast: Callable[[list[Doc]], list[WriteResult] | None] | None = (
            store.write_unless_all_created if isinstance(store, FastWrite) else None
        )
        self._workers = [
            threading.Thread(target=self._work, name=f"shipper-send-{i}", daemon=True)
            for i in range(config.workers)
        ]
        for t in self._workers:
            t.start()

    # -- reader side ---------------------------------------------------------------------------------

    def add(self, doc: Doc, fid: str, offset: int, path: str, end: int) -> None:
        b = self._batch
        if not b.docs:
            b.opened = time.monotonic()
        b.add_run(fid, path)
        b.docs.append(doc)
        b.offsets.append(offset)
        b.marks[fid] = end
        b.nbytes += len(doc.raw) if doc.raw is not None else 256
        if len(b.docs) >= self.max_docs or b.nbytes >= self.max_bytes:
            self.flush()

    def add_many(
        self, docs: list[Doc], events: list[tuple[int, int, bytes, tuple[str, ...]]], fid: str, path: str
    ) -> None:
        """``add`` for one file read's docs in order; ``events[i]`` is the (offset, end, ...) of docs[i]."""
        i, n = 0, len(docs)
        max_docs, max_bytes = self.max_docs, self.max_bytes
        while i < n:
            b = self._batch
            if not b.docs:
                b.opened = time.monotonic()
            # At least one: a batch that could not be handed over (shutdown) keeps every doc, in order.
            take = min(n - i, max(1, max_docs - len(b.docs)))
            part = docs[i : i + take]
            try:
                nbytes = b.nbytes + sum(map(len, map(_RAW, part)))
            except TypeError:  # a doc without raw bytes
                nbytes = b.nbytes + sum(256 if d.raw is None else len(d.raw) for d in part)
            b.add_run(fid, path)
            b.docs.extend(part)
            b.offsets.extend(map(_START, events[i : i + take]))
            b.marks[fid] = events[i + take - 1][1]
            b.nbytes = nbytes
            i += take
            if len(b.docs) >= max_docs or nbytes >= max_bytes:
                self.flush()

    def mark(self, fid: str, end: int) -> None:
        """Everything of ``fid`` below ``end`` is in this or an earlier batch (skipped bytes, empty lines)."""
        b = self._batch
        if b.marks.get(fid, -1) < end:
            if not b.docs and not b.marks:
                b.opened = time.monotonic()
            b.marks[fid] = end

    def due(self, now: float) -> bool:
        b = self._batch
        return bool(b.marks) and now - b.opened >= self.max_wait

    def flush(self, deadline: float | None = None) -> bool:
        """Hand the open batch to the senders; blocks while max_in_flight batches are out (backpressure)."""
        if not self._hand_over_waiting(deadline):
            return False
        b = self._batch
        if not b.marks:
            return True
        self._batch = Batch()
        self._seq += 1
        b.seq = self._seq
        self.finalizer.register(b.seq, b.marks)
        if not b.docs:
            self._commit(self.finalizer.ack(b.seq, b.marks))
            return True
        with self._unacked_lock:
            self._unacked += 1
        return self._hand_over(b, deadline)

    def open_block(self, fid: str, path: str, end: int) -> Batch:
        """A batch for one block of ``fid`` up to ``end``, registered now, in read order: the block is
        built and sent elsewhere (``block_done`` takes the outcome). What the open batch holds of
        this file was read before the block, so it is registered first."""
        if fid in self._batch.marks:
            self.flush()
        b = Batch(marks={fid: end}, opened=time.monotonic())
        b.runs.append((0, fid, path))
        self._seq += 1
        b.seq = self._seq
        self.finalizer.register(b.seq, b.marks)
        with self._unacked_lock:
            self._unacked += 1
        return b

    def block_done(
        self,
        b: Batch,
        ndocs: int,
        sent: bool,
        answer: list[WriteResult] | str | None,
        rebuild: Callable[[], tuple[list[Doc], list[Event]]],
    ) -> bool:
        """A block builder's outcome for block ``b`` of ``ndocs`` docs: every doc created (``sent``,
        ``answer`` None) acknowledges it; anything else hands its docs, built here, to the usual
        delivery, which starts from ``answer`` (when sent) and owns the retries."""
        if sent and answer is None:
            self.sent += ndocs
            metrics.SENT.inc(ndocs)
            self._fail_since = None
            metrics.BATCH.observe(time.monotonic() - b.opened)
            self._commit(self.finalizer.ack(b.seq, b.marks))
            self._settled()
            return True
        docs, events = rebuild()
        b.docs = docs
        b.offsets = [e[0] for e in events]
        # The answer is per doc of the body: it applies only to the very same docs.
        if sent and (isinstance(answer, str) or len(docs) == ndocs):
            b.first = answer
        if not self._hand_over_waiting(None):
            self._waiting.append(b)
            return False
        return self._hand_over(b, None)

    def _hand_over_waiting(self, deadline: float | None) -> bool:
        while self._waiting:
            if not self._hand_over(self._waiting.popleft(), deadline):
                return False
        return True

    def _hand_over(self, b: Batch, deadline: float | None) -> bool:
        """Queue ``b``; past the deadline it is kept aside (still unacknowledged) for the next flush."""
        if self.inline:
            if not self._deliver(b, deadline):
                self._waiting.appendleft(b)
                return False
            self._commit(self.finalizer.ack(b.seq, b.marks))
            self._settled()
            return True
        while True:
            try:
                self._queue.put(b, timeout=0.1)
                return True
            except queue.Full:
                if self.on_blocked is not None:
                    self.on_blocked()
                # Stopping without a deadline: run() takes the batch from here, with its own.
                if (
                    self.abort.is_set()
                    or (deadline is not None and time.monotonic() > deadline)
                    or (deadline is None and self.stop.is_set())
                ):
                    self._waiting.appendleft(b)
                    return False

    def backlogged(self) -> bool:
        return self._queue.full()

    def drain(self, deadline: float) -> bool:
        """Wait until every handed-over batch is acknowledged, or the deadline."""
        with self._unacked_lock:
            while self._unacked:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._unacked_lock.wait(min(left, 0.1))
        return True

    def close(self, deadline: float) -> bool:
        ok = self.flush(deadline) and self.drain(deadline)
        self.abort.set()
        for _ in self._workers:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                pass
        for t in self._workers:
            t.join(timeout=max(0.1, deadline - time.monotonic()) + 2)
        return ok

    def health(self) -> Health:
        since = self._fail_since
        if since is not None and time.monotonic() - since > 30:
            return Health(False, f"store failing for {time.monotonic() - since:.0f}s: {self._fail_reason}")
        return Health(True, "ok")

    # -- sender side ---------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            try:
                b = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self.abort.is_set():
                    return
                continue
            if b is None:
                return
            try:
                if self._deliver(b):
                    self._commit(self.finalizer.ack(b.seq, b.marks))
            except Exception as e:  # a bug here must not kill the sender silently: log, keep offsets
                emit(DeliveryCrashed(error=repr(e)))
            finally:
                self._settled()

    def _settled(self) -> None:
        """A handed-over batch is done with (acknowledged, or given up on by a crashed sender)."""
        with self._unacked_lock:
            self._unacked -= 1
            self._unacked_lock.notify_all()

    def _write(self, docs: list[Doc]) -> list[WriteResult] | str | None:
        """The store's results, a reason string for a whole-batch failure, or None: all created."""
        try:
            fast = self._write_fast
            if fast is not None:
                results = fast(docs)
                if results is None:
                    return None
            else:
                results = self.store.write(docs)
        except StoreAuthError as e:
            self._refused(str(e))
            return str(e)
        except StoreError as e:
            return str(e)
        except Exception as e:  # the client library's own errors: transient until proven otherwise
            return f"{type(e).__name__}: {e}"
        if len(results) != len(docs):
            return f"store answered {len(results)} results for {len(docs)} docs"
        return results

    def _refused(self, reason: str) -> None:
        if self.refused is None:
            self.refused = reason
            emit(StoreRefusedCredentials(reason=reason[:300]))
        self.stop.set()
        self.abort.set()

    def _send(self, docs: list[Doc]) -> list[WriteResult] | str | None:
        """``_write`` in requests the store takes: after a 413, in parts no bigger than what fitted."""
        limit = self.request_bytes
        if limit is None or len(docs) < 2:
            return self._send_fitting(docs)
        parts: list[list[Doc]] = [[]]
        size = 0
        for d in docs:
            n = _doc_bytes(d)
            if parts[-1] and size + n > limit:
                parts.append([])
                size = 0
            parts[-1].append(d)
            size += n
        if len(parts) == 1:
            return self._send_fitting(docs)
        return _joined([(p, self._send_fitting(p)) for p in parts])

    def _split_too_large(
        self, docs: list[Doc], answer: list[WriteResult] | str | None
    ) -> list[WriteResult] | str | None:
        """``answer`` with the docs a request of it found too large sent again, split (a block sent
        elsewhere is several requests: some may have fitted)."""
        if not isinstance(answer, list) or not any(r.outcome is Outcome.TOO_LARGE for r in answer):
            return answer
        redo = [i for i, r in enumerate(answer) if r.outcome is Outcome.TOO_LARGE]
        again = self._send([docs[i] for i in redo])
        if len(redo) == len(docs):
            return again
        out = list(answer)
        results = _joined([([docs[i] for i in redo], again)])
        for i, r in zip(
            redo, results or [WriteResult(docs[i].id, Outcome.CREATED) for i in redo], strict=True
        ):
            out[i] = r
        return out

    def _send_fitting(self, docs: list[Doc]) -> list[WriteResult] | str | None:
        """``_write``; a 413 is answered by sending each half the same way (recursively)."""
        answer = self._write(docs)
        if not _too_large(answer):
            if self.request_bytes is not None and not isinstance(answer, str):
                self.request_bytes = max(self.request_bytes, sum(map(_doc_bytes, docs)))
            return answer
        assert isinstance(answer, list)
        nbytes = sum(map(_doc_bytes, docs))
        reason = answer[0].reason
        if len(docs) == 1:
            why = f"too large for the store even alone ({nbytes} bytes): {reason}"
            return [WriteResult(docs[0].id, Outcome.REJECTED, why)]
        if self.request_bytes is None or self.request_bytes >= nbytes:
            self.request_bytes = nbytes // 2  # raised again by what fits (above)
            emit(RequestTooLarge(docs=len(docs), bytes=nbytes, reason=reason[:300]))
        mid = len(docs) // 2
        return _joined(
            [(docs[:mid], self._send_fitting(docs[:mid])), (docs[mid:], self._send_fitting(docs[mid:]))]
        )

    def _wait(self, delay: float, deadline: float | None) -> bool:
        """Back off for ``delay``; True means give up now (abort, deadline, or an inline stop)."""
        end = time.monotonic() + delay
        while True:
            now = time.monotonic()
            if self.abort.is_set() or (deadline is not None and now >= deadline):
                return True
            if self.inline and deadline is None and self.stop.is_set():
                return True  # hand the batch back so run() can reach its shutdown deadline
            left = end - now if deadline is None else min(end, deadline) - now
            if left <= 0:
                return False
            if not self.inline:
                return self.abort.wait(left)
            if self.on_blocked is not None:
                self.on_blocked()  # inline, the reader is the one waiting: keep scanning
            if self.abort.wait(min(left, 0.1)):
                return True

    def _deliver(self, b: Batch, deadline: float | None = None) -> bool:
        started = time.monotonic()
        pending = list(range(len(b.docs)))
        attempt = 0
        while pending:
            answer: list[WriteResult] | str | None
            if b.first is not None:  # a block builder sent the batch once already: start from its answer
                answer, b.first = b.first, None
                answer = self._split_too_large(b.docs, answer)
            else:
                answer = self._send(b.docs if attempt == 0 else [b.docs[i] for i in pending])
            if answer is None:
                self.sent += len(pending)
                metrics.SENT.inc(len(pending))
                break
            retry, dead, reason = self._tally(pending, answer)
            if dead:
                self._dead_letters(b, dead)
            pending = retry
            if not pending:
                break
            metrics.RETRIED.inc(len(pending))
            if self._fail_since is None:
                self._fail_since = time.monotonic()
            self._fail_reason = reason
            attempt += 1
            delay = min(self.max_backoff, self.initial * (2 ** min(attempt, 30)))
            delay = random.uniform(delay / 2, delay)  # jitter: restarts of many shippers don't stampede
            if attempt == 1 or attempt % 10 == 0:
                emit(
                    StoreRetrying(
                        docs=len(pending), attempt=attempt, reason=reason[:300], delay_s=round(delay, 3)
                    )
                )
            if self._wait(delay, deadline):
                return False
        self._fail_since = None
        metrics.BATCH.observe(time.monotonic() - started)
        return True

    def _tally(
        self, pending: list[int], answer: list[WriteResult] | str
    ) -> tuple[list[int], list[tuple[int, str]], str]:
        """(to retry, dead letters with their reason, a reason to log) of the docs ``pending`` from
        the store's ``answer`` to them; the done ones (created, duplicate) are counted here."""
        if isinstance(answer, str):
            return pending, [], answer
        retry: list[int] = []
        dead: list[tuple[int, str]] = []
        reason = ""
        dups = 0
        for i, r in zip(pending, answer, strict=True):
            o = r.outcome
            if o is Outcome.CREATED:
                continue
            if o is Outcome.DUPLICATE:
                dups += 1
            elif o is Outcome.REJECTED:
                dead.append((i, r.reason or "rejected"))
            else:
                retry.append(i)
                reason = r.reason or reason
        done = len(pending) - len(retry) - len(dead)
        self.sent += done
        metrics.SENT.inc(done)
        if dups:
            metrics.DUPLICATES.inc(dups)
        return retry, dead, reason

    def _dead_letters(self, b: Batch, dead: list[tuple[int, str]]) -> None:
        items = []
        for i, reason in dead:
            doc = b.docs[i]
            fid, offset, path = b.meta(i)
            raw = doc.raw if doc.raw is not None else orjson.dumps(doc.source)
            items.append((doc.id, fid, offset, path, reason[:2000], raw, doc.ts))
        while True:
            try:
                self.registry.dlq_add(items)
                break
            except Exception as e:
                emit(DeadLettersNotWritten(error=str(e)))
                if self.abort.wait(1.0):
                    raise
        self.rejected += len(items)
        emit(DocsRejected(docs=len(items), reason=dead[0][1][:300]))

    def _commit(self, advanced: dict[str, int]) -> None:
        if not advanced:
            return
        self.registry.commit(advanced)
        if self.on_commit is not None:
            self.on_commit(advanced)


def _doc_bytes(d: Doc) -> int:
    return len(d.raw) if d.raw is not None else 256  # as Batch.nbytes counts them


def _too_large(answer: list[WriteResult] | str | None) -> bool:
    """Whether the store refused the whole request as too large (every result TOO_LARGE)."""
    return isinstance(answer, list) and bool(answer) and all(r.outcome is Outcome.TOO_LARGE for r in answer)


def _joined(parts: list[tuple[list[Doc], list[WriteResult] | str | None]]) -> list[WriteResult] | None:
    """The answers to consecutive parts of one request as the answer to the whole (None: all created)."""
    if all(answer is None for _, answer in parts):
        return None
    out: list[WriteResult] = []
    for docs, answer in parts:
        if answer is None:
            out.extend(WriteResult(d.id, Outcome.CREATED) for d in docs)
        elif isinstance(answer, str):
            out.extend(WriteResult(d.id, Outcome.RETRYABLE, answer) for d in docs)
        else:
            out.extend(answer)
    return out
