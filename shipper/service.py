"""The shipper process: scan, read, parse, batch, deliver, commit; stop cleanly on a signal.

The reader runs on the calling thread; delivery runs on ``workers`` sender threads (pipeline.py).
Filesystem events (watchdog/inotify) only wake the reader early; the periodic scan decides.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any

from logstore.observe import log_event
from logstore.protocol import Store
from logstore.types import Doc, Health
from logwarden.config import Config
from shipper import metrics
from shipper.build import DocBuilder, FileIds
from shipper.config import InputConfig
from shipper.files import FileState, ScanResult, Tracker
from shipper.parallel import Block, BuildPool, Built
from shipper.parsers import make_parser
from shipper.pipeline import Batch, Event, Pipeline
from shipper.reader import Changed, Harvester, Multiline, split_lines, text_encoding
from shipper.registry import Registry

log = logging.getLogger("shipper")
_GC_EVERY = 30.0
# A read of at least this part of ``read_chunk`` (a backlog) goes to a build process (with
# shipper.processes); smaller reads (a tailed file's few new lines) are built here: no hand-off
# latency, no IPC for a handful of lines.
_BLOCK_PART = 4
# A block is up to this big (or read_chunk, if bigger): one bulk request each. 1 MiB against 256
# KiB: ~10 % less CPU a line in both processes (fewer round trips, commits and hand-offs), for
# ~2.5 MiB more memory per block in flight (2 per build process).
_BLOCK_BYTES = 1 << 20


@dataclass
class Progress:
    """What --once reports to its progress bar."""

    total: int = 0
    done: int = 0


class _Reader:
    """A harvester plus the per-input stages in front of the builder (multiline)."""

    __slots__ = ("harvester", "multiline")

    def __init__(self, harvester: Harvester, multiline: Multiline | None) -> None:
        self.harvester = harvester
        self.multiline = multiline


class Shipper:
    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        once: bool = False,
        progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.config = config
        self.sc = config.shipper
        self.store = store
        self.once = once
        self.progress = progress
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.registry = Registry(self.sc.registry)
        self.tracker = Tracker(self.registry, self.sc.inputs, self.sc.fingerprint_bytes)
        host = self.sc.host_name or socket.gethostname()
        self.builders = [
            DocBuilder(make_parser(inp.format), host, inp.service, dict(inp.fields)) for inp in self.sc.inputs
        ]
        self.pipeline: Pipeline | None = None
        self.pool: BuildPool | None = None
        # Blocks handed to build processes, in read order: (their batch, the block, the result).
        self._building: deque[tuple[Batch, Block, Future[Built]]] = deque()
        es = config.store.elasticsearch
        if es is not None and getattr(store, "write_body", None) is not None:
            # Blocks (big reads) are built straight into bulk bodies, here (processes: 0) or in
            # build processes forked here, before any thread of this process starts.
            self.pool = BuildPool(
                self.sc.processes,
                [
                    # Builders of its own: theirs keep caches, and a build thread runs beside ours.
                    (
                        DocBuilder(make_parser(inp.format), host, inp.service, dict(inp.fields)),
                        inp.max_line_bytes,
                        text_encoding(inp.encoding),
                    )
                    for inp in self.sc.inputs
                ],
                es,
                self.sc.batch,
                store,  # type: ignore[arg-type]  # an ElasticStore: it has write_body
                inline=self.sc.workers == 0,
            )
        self._observer: Any = None
        self._released: list[FileState] = []
        self._next_scan = 0.0
        self._last_scan = 0.0
        self._rescan = False
        self.lines_read = 0
        self.blocks_built = 0  # blocks a build process built and sent

    # -- control -------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Signal-safe: stop reading; ``run`` then flushes within the shutdown deadline and returns."""
        self.stopping.set()
        self.wake.set()

    def health(self) -> Health:
        if self.pipeline is None:
            return Health(True, "starting")
        return self.pipeline.health()

    # -- main loop -----------------------------------------------------------------------------------

    def run(self) -> bool:
        """Ship until stopped (or, with once, until every matched file is read). True if all was flushed."""
        self.pipeline = Pipeline(
            self.store, self.registry, self.sc, self.stopping, on_blocked=self._scan_while_blocked
        )
        if not self.sc.poll and not self.once:
            self._watch()
        scan_every = self.sc.scan_interval.total_seconds()
        close_inactive = self.sc.close_inactive.total_seconds()
        log_event(log, "shipper started", inputs=len(self.sc.inputs), once=self.once, store=self.store.name)
        next_gc = time.monotonic() + _GC_EVERY
        try:
            while not self.stopping.is_set():
                now = time.monotonic()
                if not gc.isenabled() and now >= next_gc:
                    gc.collect()  # see cli.py: automatic GC is off on the hot path; cycles are rare
                    next_gc = now + _GC_EVERY
                self.wake.clear()
                if (
                    now >= self._next_scan
                    or self._released
                    or (self._rescan and now >= self._last_scan + 0.05)
                ):
                    self._rescan = False
                    self._last_scan = now
                    self._scan()
                    self._next_scan = now + scan_every
                progressed = self._read_round()
                if self._building:
                    progressed = self._collect(wait=False) or progressed
                now = time.monotonic()
                self._timeouts(now, close_inactive)
                if self.pipeline.due(now):
                    self.pipeline.flush()
                if self.progress is not None:
                    self.progress(self._progress())
                if progressed:
                    continue
                if self.once:
                    self._scan()
                    if not self._read_round() and not self._collect(wait=True):
                        self._finish_once()
                        self._drain_once()
                        break
                    continue
                self.wake.wait(min(0.1, max(0.0, self._next_scan - now)))
        finally:
            ok = self._shutdown()
        return ok

    def _watch(self) -> None:
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            return
        wake = self.wake

        shipper = self

        class _Wake(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                kind = event.event_type
                if kind in ("created", "moved", "deleted"):
                    shipper._rescan = True  # a rotation: scan now rather than at the next interval
                if kind != "opened" and kind != "closed_no_write":
                    wake.set()

        dirs: set[str] = set()
        for inp in self.sc.inputs:
            for pattern in inp.paths:
                base = os.path.dirname(os.path.expanduser(pattern)) or "."
                while any(c in base for c in "*?["):
                    base = os.path.dirname(base) or "."
                if os.path.isdir(base):
                    dirs.add(base)
        if not dirs:
            return
        try:
            observer = Observer()
            for d in sorted(dirs):
                observer.schedule(_Wake(), d, recursive=False)
            observer.daemon = True
            observer.start()
            self._observer = observer
        except Exception as e:  # inotify limits: the periodic scan still works
            log_event(log, "file watching unavailable; polling", logging.WARNING, error=str(e))

    def _scan_while_blocked(self) -> None:
        """Backpressure holds the reader, not the scan: files created, rotated and compressed while the
        store is slow must still get an identity before they vanish into a .gz."""
        now = time.monotonic()
        if now >= self._next_scan:
            self._next_scan = now + self.sc.scan_interval.total_seconds()
            self._scan(defer=True)

    def _scan(self, defer: bool = False) -> None:
        now = time.time()
        result = self.tracker.scan(now, self.sc.clean_removed.total_seconds())
        self._released.extend(result.released)
        if not defer:
            # Closing a harvester while the reader is inside it (a scan from backpressure) would pull
            # the file from under it: those wait for the reader's next turn.
            released, self._released = self._released, []
            for s in released:
                self._close(s, "content changed (truncated or copied)")
        for s in result.new:
            log_event(log, "new file", path=s.row.path, fid=s.fid, size=s.row.size)
        lag = 0
        for s in self.tracker.states.values():
            if s.seen and not s.row.gz:
                lag += max(
                    0,
                    s.row.size
                    - (
                        self.pipeline.finalizer.committed.get(s.fid, s.row.offset)
                        if self.pipeline
                        else s.row.offset
                    ),
                )
        metrics.LAG.set(lag)

    def _open(self, s: FileState) -> bool:
        open_now = [x for x in self.tracker.states.values() if x.harvester is not None]
        if len(open_now) >= self.sc.max_open_files:
            idle = [x for x in open_now if not x.harvester.harvester.buf and x is not s]
            if not idle:
                return False
            self._close(min(idle, key=lambda x: x.last_data), "too many open files")
        inp = self.sc.inputs[s.row.input] if s.row.input < len(self.sc.inputs) else InputConfig(paths=["-"])
        try:
            h = Harvester(s, self.sc.read_chunk, inp.max_line_bytes, inp.encoding)
        except Changed as e:
            log_event(log, "cannot open file", logging.DEBUG, path=s.row.path, reason=str(e))
            s.seen = False
            self._rescan = True
            return False
        s.harvester = _Reader(h, Multiline(inp.multiline) if inp.multiline is not None else None)
        s.last_data = time.monotonic()
        metrics.OPEN_FILES.inc()
        return True

    def _close(self, s: FileState, why: str) -> None:
        r: _Reader | None = s.harvester
        if r is None:
            return
        h = r.harvester
        safe = h.safe_offset if r.multiline is None else r.multiline.safe_offset(h.safe_offset)
        # Pending partial lines are dropped from memory: reading resumes at their start next time.
        s.read_offset = safe
        h.close()
        s.harvester = None
        metrics.OPEN_FILES.dec()
        log_event(log, "file closed", logging.DEBUG, path=s.row.path, reason=why, offset=s.read_offset)

    def _read_round(self) -> bool:
        """One chunk from every file that has something to read. True if any bytes came in."""
        assert self.pipeline is not None
        progressed = False
        for s in list(self.tracker.states.values()):
            if self.stopping.is_set():
                break
            if not s.wants_read:
                continue
            if s.harvester is None and not self._open(s):
                continue
            if self._read_file(s):
                progressed = True
        return progressed

    def _read_file(self, s: FileState) -> bool:
        assert self.pipeline is not None
        r: _Reader = s.harvester
        h = r.harvester
        before = h.pos
        try:
            events = self._read_blocks(s, h) if self.pool is not None and r.multiline is None else h.read()
        except Changed as e:
            self._close(s, str(e))
            self.tracker._release(s, ScanResult())
            self._rescan = True
            return False
        if r.multiline is not None:
            events = r.multiline.feed(events, time.monotonic())
            if h.final:
                events.extend(r.multiline.flush())
        if events:
            self._ship(s, events)
        skipped = h.skipped_empty
        if skipped:
            metrics.LINES_SKIPPED.inc(skipped)
            h.skipped_empty = 0
        safe = h.safe_offset if r.multiline is None else r.multiline.safe_offset(h.safe_offset)
        s.read_offset = safe
        self.pipeline.mark(s.fid, safe)
        if h.pos != before:
            s.last_data = time.monotonic()
        if h.final:
            s.row.done = True
            s.row.size = s.read_offset  # its final length: done only counts once committed that far
            self._close(s, "read to the end (deleted or compressed)")
            self.registry.upsert(s.row)
        return h.pos != before

    def _read_blocks(self, s: FileState, h: Harvester) -> list[Event]:
        """``h.read()`` with a build process doing the work of a big read: the events left to build
        here (a small read, and what follows a block: an over-long or a deleted file's last line)."""
        start, data, rest = h.read_block(max(h.chunk, _BLOCK_BYTES))
        if not data:
            return rest
        big = len(data) >= h.chunk // _BLOCK_PART
        if big and self.pool is not None:
            room = 2 * max(1, self.pool.processes)
            if len(self._building) >= room:
                self._collect(wait=True, keep=room - 1)  # may close a failed pool: checked again below
        if not big or self.pool is None:
            events, skipped = split_lines(data, start, h.max_line, h.encoding)
            h.skipped_empty += skipped
            return events + rest if rest else events
        assert self.pipeline is not None
        block = Block(s.row.input, s.fid, s.row.path, start, data, int(time.time() * 1000))
        batch = self.pipeline.open_block(s.fid, s.row.path, start + len(data))
        future = self.pool.submit(block)
        future.add_done_callback(lambda _: self.wake.set())  # its acknowledgement need not wait a tick
        self._building.append((batch, block, future))
        return rest

    def _collect(self, wait: bool, keep: int = 0, deadline: float | None = None) -> bool:
        """Take the outcomes of blocks in read order: the finished ones, or (``wait``) until at most
        ``keep`` are left or the deadline passes. True if any was taken."""
        assert self.pipeline is not None
        got = False
        while len(self._building) > keep:
            batch, block, future = self._building[0]
            if not future.done():
                if not wait:
                    break
                timeout = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
                if timeout <= 0:
                    break
                if not wait_futures([future], timeout=timeout).done:
                    self._scan_while_blocked()  # a slow store holds the reader, not the scan
                continue
            self._building.popleft()
            try:
                built = future.result()
            except Exception as e:  # a build process died: build here from now on
                log_event(
                    log, "build process failed; building in the shipper process", logging.ERROR, error=repr(e)
                )
                built = Built(False, 0, 0)
                self._close_pool()
            if built.skipped:
                metrics.LINES_SKIPPED.inc(built.skipped)
            self.lines_read += built.docs
            metrics.LINES_READ.inc(built.docs)
            if built.sent:
                self.blocks_built += 1
                metrics.BLOCKS.inc()
            batch.ndocs = built.docs
            self.pipeline.block_done(
                batch, built.sent, built.results, functools.partial(self._rebuild, block)
            )
            got = True
        return got

    def _rebuild(self, block: Block) -> tuple[list[Doc], list[Event]]:
        """A block's docs, built in this process: exactly what a build process makes of it."""
        inp = self.sc.inputs[block.input]
        events, _ = split_lines(block.data, block.start, inp.max_line_bytes, text_encoding(inp.encoding))
        docs = self.builders[block.input].build_many(FileIds(block.fid), block.path, events, block.now_ms)
        return docs, events

    def _close_pool(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.close()

    def _ship(self, s: FileState, events: list[tuple[int, int, bytes, tuple[str, ...]]]) -> None:
        assert self.pipeline is not None
        build = self.builders[s.row.input].build_many if s.row.input < len(self.builders) else None
        if build is None:
            return
        path = s.row.path
        docs = build(s.hasher, path, events, int(time.time() * 1000))
        self.pipeline.add_many(docs, events, s.fid, path)
        self.lines_read += len(events)
        metrics.LINES_READ.inc(len(events))

    def _timeouts(self, now: float, close_inactive: float) -> None:
        for s in self.tracker.states.values():
            r: _Reader | None = s.harvester
            if r is None:
                continue
            if r.multiline is not None:
                events = r.multiline.flush(now)
                if events:
                    self._ship(s, events)
                    assert self.pipeline is not None
                    self.pipeline.mark(s.fid, r.multiline.safe_offset(r.harvester.safe_offset))
            if now - s.last_data >= close_inactive and not r.harvester.buf:
                self._close(s, "inactive")

    def _finish_once(self) -> None:
        """--once at the end of everything: unterminated last lines and pending events go too."""
        assert self.pipeline is not None
        for s in self.tracker.states.values():
            r: _Reader | None = s.harvester
            if r is None:
                continue
            events = r.harvester.flush_partial()
            if r.multiline is not None:
                events = r.multiline.feed(events, time.monotonic()) + r.multiline.flush()
            if events:
                self._ship(s, events)
            safe = (
                r.harvester.safe_offset
                if r.multiline is None
                else r.multiline.safe_offset(r.harvester.safe_offset)
            )
            self.pipeline.mark(s.fid, safe)
            s.read_offset = safe

    def _drain_once(self) -> None:
        """--once waits for every batch however slow the store is; a signal falls back to the deadline."""
        assert self.pipeline is not None
        self._collect(wait=True)
        while not self.stopping.is_set():
            if not self.pipeline.flush(time.monotonic() + 0.5):
                continue
            if self.pipeline.drain(time.monotonic() + 0.5):
                return
            if self.progress is not None:
                self.progress(self._progress())

    def _progress(self) -> Progress:
        p = Progress()
        for s in self.tracker.states.values():
            if s.seen and not s.row.gz:
                p.total += s.row.size
                p.done += min(s.row.size, s.read_offset)
        return p

    def _shutdown(self) -> bool:
        deadline = time.monotonic() + self.sc.shutdown_timeout.total_seconds()
        ok = True
        if self.pipeline is not None:
            self._collect(wait=True, deadline=deadline)
            ok = self.pipeline.close(deadline)
        self._close_pool()
        if self._observer is not None:
            try:
                self._observer.stop()
                self._observer.join(timeout=2)
            except Exception:
                pass
        for s in list(self.tracker.states.values()):
            self._close(s, "shutdown")
        try:
            self.tracker.persist()
        except Exception as e:
            log_event(log, "cannot save file states", logging.ERROR, error=str(e))
        self.registry.close()
        log_event(
            log,
            "shipper stopped",
            flushed=ok,
            lines=self.lines_read,
            blocks=self.blocks_built,
            sent=self.pipeline.sent if self.pipeline else 0,
            rejected=self.pipeline.rejected if self.pipeline else 0,
        )
        return ok
