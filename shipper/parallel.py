"""Blocks: a backlog's lines built straight into ``_bulk`` bodies and sent, here or in other processes.

Why: one Python process parses ~100k lines/s at best (the GIL); a backlog (a backfill, a burst, a
shipper restarted after a while) wants every core, as a C shipper uses them. A block is a run of
complete lines of one file. ``BuildContext.build`` splits it, turns the lines into body lines without
a ``Doc`` per line (``DocBuilder.bulk_many``), and sends them once: ~90 % of a line's CPU. The reader
process only reads, registers each block's batch, and takes the outcome. It applies to stores that
take a prebuilt body (``logstore.protocol.BodyWrite``: Elasticsearch).

The shipper sees one interface, ``BlockBuilder``: ``submit(block)`` -> a future of its ``Built`` (the
store's per-doc answer), ``close()``. ``block_builder`` makes the in-process one (``processes: 0``) or
the process pool.

What does not change: doc ids, doc contents (the same builder code, with the read time taken when
the block was read), the order offsets are committed in (the pipeline registers a block's batch
when it is read, before the result exists), retries and dead letters: any outcome but "all
created" (a failed item, the store down, a doc refused before sending, a crashed build process)
builds the block's docs again in the reader process, and the pipeline takes over from the store's
first answer.

Build processes are forked once, before the shipper starts any thread. Each gets what it needs as
its initializer's argument (a ``BuildContext``: the inputs' builders, batch limits, how to open a
store connection of its own: ``BodyWrite.writer``, no cluster check, no template) and touches no
registry and no signal (the parent owns shutdown; the kernel kills them with a killed parent).
"""

from __future__ import annotations

import ctypes
import functools
import gc
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from logstore.elastic import bulk_lines
from logstore.protocol import BodyWrite
from logstore.types import Outcome, StoreError, WriteResult
from shipper.build import DocBuilder, FileIds
from shipper.config import BatchConfig
from shipper.reader import split_lines

# One input's building: its builder and (max_line_bytes, encoding or None for UTF-8).
InputBuild = tuple[DocBuilder, int, str | None]


@dataclass(frozen=True, slots=True)
class Block:
    """What a build process needs: a run of complete lines of one file, and where they start."""

    input: int
    fid: str
    path: str
    start: int
    data: bytes
    now_ms: int  # the read time: @timestamp of lines without their own


@dataclass(frozen=True, slots=True)
class Built:
    """What became of a block: ``sent`` with ``results`` None = every doc was created; ``results``
    the store's answer otherwise (a reason for the whole request, or one result per doc);
    not ``sent`` = build it in the reader process and send it from there."""

    sent: bool
    docs: int
    skipped: int
    results: list[WriteResult] | str | None = None


class BlockBuilder(Protocol):
    """Builds and sends blocks; ``processes`` of them at once (0: one, in this process)."""

    processes: int

    def submit(self, block: Block) -> Future[Built]: ...

    def close(self) -> None:
        """Stop now: a block still being sent is abandoned (its batch stays unacknowledged, so its
        lines are read again after a restart; re-sent docs are duplicates, stored once)."""
        ...


@dataclass
class BuildContext:
    """Everything building a block needs, handed over explicitly (to a build process: as its
    initializer's argument). ``open_store`` is called once, on the first block."""

    inputs: list[InputBuild]
    open_store: Callable[[], BodyWrite]
    max_docs: int
    max_bytes: int
    _store: BodyWrite | None = None
    _ids: dict[str, FileIds] = field(default_factory=dict)

    def build(self, block: Block) -> Built:
        """Build, then send once. The store's answer is classified by the store as always;
        retrying is the pipeline's, in the reader process, which gets the answer back."""
        builder, max_line, encoding = self.inputs[block.input]
        events, skipped = split_lines(block.data, block.start, max_line, encoding)
        ids = self._ids.get(block.fid)
        if ids is None:
            if len(self._ids) > 1024:
                self._ids.clear()
            ids = self._ids[block.fid] = FileIds(block.fid)
        store = self._store
        if store is None:
            store = self._store = self.open_store()
        parts = builder.bulk_many(ids, block.path, events, block.now_ms, store.namer)
        if parts is None:  # the docs are needed to know: make them
            docs = builder.build_many(ids, block.path, events, block.now_ms)
            parts, local = bulk_lines(store.namer, docs)
            if local:
                return Built(False, len(docs), skipped)
        n = len(parts) // 2
        if not n:
            return Built(False, 0, skipped)
        try:
            answers = self._send(store, parts)
        except StoreError as e:
            return Built(True, n, skipped, str(e))
        except Exception as e:  # the client library's own errors: transient until proven otherwise
            return Built(True, n, skipped, f"{type(e).__name__}: {e}")
        if all(a is None for _, a in answers):
            return Built(True, n, skipped)
        results: list[WriteResult] = []
        for count, a in answers:
            results.extend(a if a is not None else [WriteResult("", Outcome.CREATED)] * count)
        return Built(True, n, skipped, results)

    def _send(self, store: BodyWrite, parts: list[bytes]) -> list[tuple[int, list[WriteResult] | None]]:
        """One request per batch.max_docs docs (and about batch.max_bytes), as the pipeline batches:
        (docs, the store's answer) of each."""
        answers: list[tuple[int, list[WriteResult] | None]] = []
        i = 0
        while i < len(parts):
            j, size = i, 0
            while j < len(parts) and (j == i or (j - i < 2 * self.max_docs and size < self.max_bytes)):
                size += len(parts[j]) + len(parts[j + 1]) + 2
                j += 2
            request = parts[i:j]
            request.append(b"")
            answer = store.write_body(b"\n".join(request), functools.partial(_action_ids, request))
            answers.append(((j - i) // 2, answer))
            i = j
        return answers


def _action_ids(parts: list[bytes]) -> list[str]:
    """The doc ids of a body's create actions (only needed when some doc was not created)."""
    return [orjson.loads(action)["create"]["_id"] for action in parts[0:-1:2]]


class LocalBuilder:
    """Blocks built and sent on the shipper's own store connection, in one thread of this process
    (``inline``: right away in the calling thread): the same path without the hand-off to another
    process, the least CPU per line, one core; the thread keeps the reader free to scan while a
    bulk is out."""

    processes = 0

    def __init__(self, context: BuildContext, inline: bool) -> None:
        self._context = context
        self._pool: ThreadPoolExecutor | None = None
        if not inline:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shipper-build")

    def submit(self, block: Block) -> Future[Built]:
        if self._pool is not None:
            return self._pool.submit(self._context.build, block)
        done: Future[Built] = Future()
        try:
            done.set_result(self._context.build(block))
        except Exception as e:  # reported like a build process's failure
            done.set_exception(e)
        return done

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)  # a daemon thread: it ends with us


class ProcessBuilder:
    """``processes`` forked build processes, each with the ``BuildContext`` it was started with."""

    def __init__(self, processes: int, context: BuildContext) -> None:
        self.processes = processes
        before = set(multiprocessing.active_children())
        self._pool: Executor = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_init,
            initargs=(os.getpid(), context),
        )
        # Fork now, while the caller has no thread running (with the fork start method the pool
        # starts every process on the first submit); they are ours to terminate in close().
        self._pool.submit(os.getpid).result()
        self._processes = [p for p in multiprocessing.active_children() if p not in before]

    def submit(self, block: Block) -> Future[Built]:
        return self._pool.submit(_build, block)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in self._processes:
            p.terminate()
        for p in self._processes:
            p.join(5)


def block_builder(
    processes: int, inputs: list[InputBuild], store: BodyWrite, batch: BatchConfig, inline: bool
) -> BlockBuilder:
    """The block builder for ``shipper.processes``: forked processes, or (0) this process on
    ``store`` (``inline``: in the calling thread, else in a thread of its own)."""
    if not processes:
        return LocalBuilder(BuildContext(inputs, lambda: store, batch.max_docs, batch.max_bytes), inline)
    # Each process opens its own connection: one shared across a fork would mix their requests.
    open_store = functools.partial(store.writer, store.config)
    return ProcessBuilder(processes, BuildContext(inputs, open_store, batch.max_docs, batch.max_bytes))


# ---- in a build process ---------------------------------------------------------------------------

_context: BuildContext | None = None  # this build process's, set by _init


def _init(parent: int, context: BuildContext) -> None:
    global _context
    _context = context
    # The parent handles SIGINT/SIGTERM and shuts the pool down; a Ctrl-C reaching the whole
    # process group must not kill a build process in the middle of a block.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # A block's docs are acyclic and freed by reference counting; the cyclic GC would only re-scan
    # them (~30 % of the CPU, as in the shipper process: see shipper/cli.py).
    gc.freeze()
    gc.disable()
    # A forked build process holds both ends of the pool's pipes, so it would not notice a parent
    # killed with SIGKILL: the kernel kills it with its parent instead (Linux), else it polls.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        threading.Thread(target=_orphan_watch, args=(parent,), daemon=True).start()
    if os.getppid() != parent:
        os._exit(0)


def _orphan_watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)  # polling the parent's pid is the only portable signal of its death
    os._exit(0)


def _build(block: Block) -> Built:
    assert _context is not None, "called in a build process, after _init"
    return _context.build(block)
