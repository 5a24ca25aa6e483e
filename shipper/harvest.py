"""The open files: open (within ``max_open_files``), read a round, build and hand docs to the
pipeline, close (inactive, read to the end, changed, shutdown).

Guarantees: a file is read from its ``read_offset`` onwards, in order; a closed file's pending
partial line is dropped from memory and read again from its start next time (``read_offset`` is the
safe offset); everything below a file's safe offset is in the pipeline's open batch or an earlier
one (``Pipeline.mark``), so its offset commits once those are acknowledged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from logstore.observe import emit
from shipper import metrics
from shipper.backlog import Backlog
from shipper.build import DocBuilder
from shipper.config import InputConfig, ShipperConfig
from shipper.events import CannotOpenFile, FileClosed
from shipper.files import FileState, ScanResult, Tracker
from shipper.parsers.container import cri_partial, docker_partial
from shipper.pipeline import Event, Pipeline
from shipper.reader import Changed, Harvester, Multiline, Partial
from shipper.registry import Registry


def joiner(inp: InputConfig) -> Multiline | Partial | None:
    """The stage joining an input's lines into events: multiline, or a container format's partials."""
    if inp.multiline is not None:
        return Multiline(inp.multiline)
    if inp.format == "docker":
        return Partial(docker_partial, inp.max_line_bytes)
    if inp.format == "cri":
        return Partial(cri_partial, inp.max_line_bytes)
    return None


class _Reader:
    """A harvester plus the per-input stage in front of the builder (multiline or partial joining;
    an input with one is read line by line, never as blocks)."""

    __slots__ = ("harvester", "multiline")

    def __init__(self, harvester: Harvester, multiline: Multiline | Partial | None) -> None:
        self.harvester = harvester
        self.multiline = multiline

    def safe_offset(self) -> int:
        h = self.harvester
        return h.safe_offset if self.multiline is None else self.multiline.safe_offset(h.safe_offset)


class Files:
    """Reads the tracker's files into the pipeline; ``backlog`` (when set) takes the big reads."""

    def __init__(
        self,
        sc: ShipperConfig,
        tracker: Tracker,
        registry: Registry,
        pipeline: Pipeline,
        builders: Sequence[DocBuilder],
        stopping: threading.Event,
        backlog: Backlog | None,
    ) -> None:
        self.sc = sc
        self.tracker = tracker
        self.registry = registry
        self.pipeline = pipeline
        self.builders = builders
        self.stopping = stopping
        self.backlog = backlog
        self.rescan = False  # a file could not be read as it was known: scan soon
        self.lines_read = 0

    def open(self, s: FileState) -> bool:
        open_now = [x for x in self.tracker.states.values() if x.harvester is not None]
        if len(open_now) >= self.sc.max_open_files:
            idle = [x for x in open_now if not x.harvester.harvester.buf and x is not s]
            if not idle:
                return False
            self.close(min(idle, key=lambda x: x.last_data), "too many open files")
        inp = self.sc.inputs[s.row.input] if s.row.input < len(self.sc.inputs) else InputConfig(paths=["-"])
        try:
            h = Harvester(s, self.sc.read_chunk, inp.max_line_bytes, inp.encoding)
        except Changed as e:
            emit(CannotOpenFile(path=s.row.path, reason=str(e)))
            s.seen = False
            self.rescan = True
            return False
        s.harvester = _Reader(h, joiner(inp))
        s.last_data = time.monotonic()
        metrics.OPEN_FILES.inc()
        return True

    def close(self, s: FileState, why: str) -> None:
        r: _Reader | None = s.harvester
        if r is None:
            return
        # Pending partial lines are dropped from memory: reading resumes at their start next time.
        s.read_offset = r.safe_offset()
        r.harvester.close()
        s.harvester = None
        metrics.OPEN_FILES.dec()
        emit(FileClosed(path=s.row.path, reason=why, offset=s.read_offset))

    def read_round(self) -> bool:
        """One chunk from every file that has something to read. True if any bytes came in."""
        progressed = False
        for s in list(self.tracker.states.values()):
            if self.stopping.is_set():
                break
            if not s.wants_read:
                continue
            if s.harvester is None and not self.open(s):
                continue
            if self._read_file(s):
                progressed = True
        return progressed

    def _read_file(self, s: FileState) -> bool:
        r: _Reader = s.harvester
        h = r.harvester
        before = h.pos
        backlog = self.backlog
        try:
            if backlog is not None and backlog.builder is not None and r.multiline is None:
                events = backlog.read(s, h)
            else:
                events = h.read()
        except Changed as e:
            self.close(s, str(e))
            self.tracker.release(s, ScanResult())
            self.rescan = True
            return False
        if r.multiline is not None:
            events = r.multiline.feed(events, time.monotonic())
            if h.final:
                events.extend(r.multiline.flush())
        if events:
            self.ship(s, events)
        skipped = h.skipped_empty
        if skipped:
            metrics.LINES_SKIPPED.inc(skipped)
            h.skipped_empty = 0
        safe = r.safe_offset()
        s.read_offset = safe
        self.pipeline.mark(s.fid, safe)
        if h.pos != before:
            s.last_data = time.monotonic()
        if h.final:
            s.row.done = True
            s.row.size = s.read_offset  # its final length: done only counts once committed that far
            self.close(s, "read to the end (deleted or compressed)")
            self.registry.upsert(s.row)
        return h.pos != before

    def ship(self, s: FileState, events: list[Event]) -> None:
        build = self.builders[s.row.input].build_many if s.row.input < len(self.builders) else None
        if build is None:
            return
        path = s.row.path
        docs = build(s.hasher, path, events, int(time.time() * 1000))
        self.pipeline.add_many(docs, events, s.fid, path)
        self.lines_read += len(events)
        metrics.LINES_READ.inc(len(events))

    def timeouts(self, now: float, close_inactive: float) -> None:
        """Multiline events that waited long enough go; files idle for ``close_inactive`` close."""
        for s in self.tracker.states.values():
            r: _Reader | None = s.harvester
            if r is None:
                continue
            if r.multiline is not None:
                events = r.multiline.flush(now)
                if events:
                    self.ship(s, events)
                    self.pipeline.mark(s.fid, r.safe_offset())
            if now - s.last_data >= close_inactive and not r.harvester.buf:
                self.close(s, "inactive")

    def finish(self) -> None:
        """--once at the end of everything: unterminated last lines and pending events go too."""
        for s in self.tracker.states.values():
            r: _Reader | None = s.harvester
            if r is None:
                continue
            events = r.harvester.flush_partial()
            if r.multiline is not None:
                events = r.multiline.feed(events, time.monotonic()) + r.multiline.flush()
            if events:
                self.ship(s, events)
            safe = r.safe_offset()
            self.pipeline.mark(s.fid, safe)
            s.read_offset = safe

    def close_all(self) -> None:
        for s in list(self.tracker.states.values()):
            self.close(s, "shutdown")
