"""Big reads (a backlog) go to the block builder; their outcomes come back in read order.

Guarantees: a block's batch is registered with the pipeline when the block is read, before it is
built, so offsets commit in read order whatever order blocks finish in; outcomes are taken in read
order; at most ``2 x processes`` blocks (2 with no process) are in flight, so memory is bounded. A
block builder that fails (a build process died) is closed and every later read is built in this
process; its block is built here too, and nothing is lost.
"""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures

from logstore.observe import emit
from logstore.types import Doc
from shipper import metrics
from shipper.build import DocBuilder, FileIds
from shipper.config import InputConfig
from shipper.events import BuildProcessFailed
from shipper.files import FileState
from shipper.parallel import Block, BlockBuilder, Built
from shipper.pipeline import Batch, Event, Pipeline
from shipper.reader import Harvester, split_lines, text_encoding

# A read of at least this part of ``read_chunk`` (a backlog) goes to the block builder; smaller
# reads (a tailed file's few new lines) are built by the caller: no hand-off latency, no IPC for a
# handful of lines.
_BLOCK_PART = 4
# A block is up to this big (or read_chunk, if bigger): one bulk request each. 1 MiB against 256
# KiB: ~10 % less CPU a line in both processes (fewer round trips, commits and hand-offs), for
# ~2.5 MiB more memory per block in flight (2 per build process).
_BLOCK_BYTES = 1 << 20


class Backlog:
    """The blocks in flight: ``read`` hands a big read to the builder, ``collect`` takes outcomes."""

    def __init__(
        self,
        builder: BlockBuilder,
        pipeline: Pipeline,
        inputs: Sequence[InputConfig],
        builders: Sequence[DocBuilder],
        on_done: Callable[[], None],
        while_waiting: Callable[[], None],
    ) -> None:
        self.builder: BlockBuilder | None = builder
        self.pipeline = pipeline
        self.inputs = inputs
        self.builders = builders  # this process's: a failed block is built again with them
        self.on_done = on_done  # a block's outcome is ready (from the builder's thread)
        self.while_waiting = while_waiting  # called while ``collect`` waits (the reader is held)
        # In read order: (their batch, the block, the result).
        self.building: deque[tuple[Batch, Block, Future[Built]]] = deque()
        self.lines = 0  # lines of collected blocks
        self.blocks_built = 0  # blocks the builder built and sent

    def read(self, s: FileState, h: Harvester) -> list[Event]:
        """``h.read()`` with the builder doing the work of a big read: the events left to build
        by the caller (a small read, and what follows a block: an over-long or a deleted file's
        last line)."""
        start, data, rest = h.read_block(max(h.chunk, _BLOCK_BYTES))
        if not data:
            return rest
        big = len(data) >= h.chunk // _BLOCK_PART
        if big and self.builder is not None:
            room = 2 * max(1, self.builder.processes)
            if len(self.building) >= room:
                self.collect(wait=True, keep=room - 1)  # may close a failed builder: checked again below
        if not big or self.builder is None:
            events, skipped = split_lines(data, start, h.max_line, h.encoding)
            h.skipped_empty += skipped
            return events + rest if rest else events
        block = Block(s.row.input, s.fid, s.row.path, start, data, int(time.time() * 1000))
        batch = self.pipeline.open_block(s.fid, s.row.path, start + len(data))
        future = self.builder.submit(block)
        future.add_done_callback(lambda _: self.on_done())  # its acknowledgement need not wait a tick
        self.building.append((batch, block, future))
        return rest

    def collect(self, wait: bool, keep: int = 0, deadline: float | None = None) -> bool:
        """Take the outcomes of blocks in read order: the finished ones, or (``wait``) until at most
        ``keep`` are left or the deadline passes. True if any was taken."""
        got = False
        while len(self.building) > keep:
            batch, block, future = self.building[0]
            if not future.done():
                if not wait:
                    break
                timeout = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
                if timeout <= 0:
                    break
                if not wait_futures([future], timeout=timeout).done:
                    self.while_waiting()  # a slow store holds the reader, not the scan
                continue
            self.building.popleft()
            try:
                built = future.result()
            except Exception as e:  # a build process died: build here from now on
                emit(BuildProcessFailed(error=repr(e)))
                built = Built(False, 0, 0)
                self.close()
            if built.skipped:
                metrics.LINES_SKIPPED.inc(built.skipped)
            self.lines += built.docs
            metrics.LINES_READ.inc(built.docs)
            if built.sent:
                self.blocks_built += 1
                metrics.BLOCKS.inc()
            self.pipeline.block_done(
                batch, built.docs, built.sent, built.results, functools.partial(self._rebuild, block)
            )
            got = True
        return got

    def _rebuild(self, block: Block) -> tuple[list[Doc], list[Event]]:
        """A block's docs, built in this process: exactly what a build process makes of it."""
        inp = self.inputs[block.input]
        events, _ = split_lines(block.data, block.start, inp.max_line_bytes, text_encoding(inp.encoding))
        docs = self.builders[block.input].build_many(FileIds(block.fid), block.path, events, block.now_ms)
        return docs, events

    def close(self) -> None:
        builder, self.builder = self.builder, None
        if builder is not None:
            builder.close()
