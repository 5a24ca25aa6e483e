"""The shipper process: scan, read, parse, batch, deliver, commit; stop cleanly on a signal.

The main loop runs on the calling thread: it scans (``Tracker``; filesystem events from
``shipper.watch`` only wake it early, the periodic scan decides), reads a round of every file
(``shipper.harvest``), takes the outcomes of blocks in flight (``shipper.backlog``), and flushes due
batches. Delivery runs on ``workers`` sender threads (``shipper.pipeline``).

Guarantees: ``stop()`` is signal-safe; after it ``run`` stops reading, waits for batches in flight
up to ``shutdown_timeout`` and persists file states, so a restart resumes at the committed offsets.
With ``once``, ``run`` returns when every matched file is read to its end and acknowledged.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logstore.observe import emit
from logstore.protocol import BodyWrite, Store
from logstore.types import Health
from logwarden.config import Config
from shipper import metrics
from shipper.backlog import Backlog
from shipper.build import DocBuilder
from shipper.config import InputConfig
from shipper.events import FileStatesNotSaved, NewFile, ShipperStarted, ShipperStopped
from shipper.files import FileState, Tracker
from shipper.geoip import GeoIP
from shipper.harvest import Files
from shipper.journald import Journal, journals
from shipper.parallel import BlockBuilder, block_builder
from shipper.parsers import make_parser
from shipper.pipeline import Pipeline
from shipper.reader import text_encoding
from shipper.registry import Registry
from shipper.watch import watch

_GC_EVERY = 30.0
# /healthz fails when the main loop has not turned for this long. It turns at least every 100 ms,
# also while a slow store holds it (the pipeline's on_blocked), so only a hang gets this far; a
# store request is bounded by the client's own timeout, well below this.
LOOP_STALLED_AFTER = 300.0


@dataclass
class Progress:
    """What --once reports to its progress bar."""

    total: int = 0
    done: int = 0


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
        host = self.host = self.sc.host_name or socket.gethostname()
        self.tracker = Tracker(self.registry, self.sc.inputs, self.sc.fingerprint_bytes, host)
        self.builders = [_builder(inp, host, self.sc.geoip) for inp in self.sc.inputs]
        self.pipeline: Pipeline | None = None
        self.journals: list[Journal] = []
        self.files: Files | None = None
        self.backlog: Backlog | None = None
        self._blocks: BlockBuilder | None = None
        if isinstance(store, BodyWrite):
            # Blocks (big reads) are built straight into bulk bodies, here (processes: 0) or in
            # build processes forked here, before any thread of this process starts.
            self._blocks = block_builder(
                self.sc.processes,
                [
                    # Builders of its own: theirs keep caches, and a build thread runs beside ours.
                    (
                        _builder(inp, host, self.sc.geoip),
                        inp.max_line_bytes,
                        text_encoding(inp.encoding),
                    )
                    for inp in self.sc.inputs
                ],
                store,
                self.sc.batch,
                inline=self.sc.workers == 0,
            )
        self._observer: Any = None
        self._released: list[FileState] = []  # changed files to close at the reader's next turn
        self._next_scan = 0.0
        self._last_scan = 0.0
        self._rescan = False
        self._beat: float | None = None  # time.monotonic() of the main loop's last turn

    @property
    def lines_read(self) -> int:
        return (
            (self.files.lines_read if self.files else 0)
            + (self.backlog.lines if self.backlog else 0)
            + sum(j.lines_read for j in self.journals)
        )

    @property
    def blocks_built(self) -> int:
        """Blocks the block builder built and sent."""
        return self.backlog.blocks_built if self.backlog else 0

    # -- control -------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Signal-safe: stop reading; ``run`` then flushes within the shutdown deadline and returns."""
        self.stopping.set()
        self.wake.set()

    def live(self) -> Health:
        """Liveness (/healthz): the main loop still turns. Nothing else: a store outage is not cured
        by a restart, and a probe restarting the shipper for it would only re-read files."""
        beat = self._beat
        if beat is None:
            return Health(True, "starting")
        stalled = time.monotonic() - beat
        if stalled > LOOP_STALLED_AFTER:
            return Health(False, f"the shipper loop has not turned for {stalled:.0f}s")
        return Health(True, "shipper loop alive")

    def ready(self) -> Health:
        """Readiness (/readyz): the store is reachable (and has taken batches lately) and the registry
        takes writes."""
        store = self.store.health()
        if not store.ok:
            return Health(False, f"store: {store.detail}")
        delivering = self.health()
        if not delivering.ok:
            return delivering
        unwritable = self.registry.writable()
        if unwritable is not None:
            return Health(False, unwritable)
        return Health(True, "store reachable, registry writable")

    def health(self) -> Health:
        """Delivery: whether the store took batches lately (failing for 30 s: not); part of ``ready``."""
        if self.pipeline is None:
            return Health(True, "starting")
        return self.pipeline.health()

    # -- main loop -----------------------------------------------------------------------------------

    def run(self) -> bool:
        """Ship until stopped (or, with once, until every matched file is read). True if all was flushed."""
        pipeline = self.pipeline = Pipeline(
            self.store,
            self.registry,
            self.sc,
            self.stopping,
            on_commit=self._on_commit,
            on_blocked=self._scan_while_blocked,
        )
        self.journals = journals(self.sc.inputs, self.host, self.registry, pipeline, follow=not self.once)
        if self._blocks is not None:
            self.backlog = Backlog(
                self._blocks, pipeline, self.sc.inputs, self.builders, self.wake.set, self._scan_while_blocked
            )
        files = self.files = Files(
            self.sc, self.tracker, self.registry, pipeline, self.builders, self.stopping, self.backlog
        )
        if not self.sc.poll and not self.once:
            self._observer = watch(self.sc.inputs, self._on_event)
        close_inactive = self.sc.close_inactive.total_seconds()
        emit(ShipperStarted(inputs=len(self.sc.inputs), once=self.once, store=self.store.name))
        next_gc = time.monotonic() + _GC_EVERY
        try:
            while not self.stopping.is_set():
                now = self._beat = time.monotonic()
                if not gc.isenabled() and now >= next_gc:
                    gc.collect()  # see cli.py: automatic GC is off on the hot path; cycles are rare
                    next_gc = now + _GC_EVERY
                self.wake.clear()
                self._scan_if_due(now)
                progressed = files.read_round()
                for j in self.journals:
                    progressed = j.read_round() or progressed
                if self.backlog is not None and self.backlog.building:
                    progressed = self.backlog.collect(wait=False) or progressed
                now = time.monotonic()
                files.timeouts(now, close_inactive)
                if pipeline.due(now):
                    pipeline.flush()
                if self.progress is not None:
                    self.progress(self._progress())
                if progressed:
                    continue
                if self.once and any(not j.exited for j in self.journals):
                    self.wake.wait(0.02)  # journalctl still writing what is there
                    continue
                if self.once:
                    self._scan()
                    if not files.read_round() and not self._collect(wait=True):
                        files.finish()
                        self._drain_once()
                        break
                    continue
                self.wake.wait(min(0.1, max(0.0, self._next_scan - now)))
        finally:
            ok = self._shutdown()
        return ok

    def _on_commit(self, advanced: dict[str, int]) -> None:
        """Committed offsets (a sender's thread): a journald input's are entry numbers -> its cursor."""
        for j in self.journals:
            end = advanced.get(j.fid)
            if end is not None:
                j.committed(end)

    def _on_event(self, rotation: bool) -> None:
        """A filesystem event (watchdog's thread): wake the loop; a rotation also asks for a scan."""
        if rotation:
            self._rescan = True  # scan now rather than at the next interval
        self.wake.set()

    def _collect(self, wait: bool, deadline: float | None = None) -> bool:
        return self.backlog is not None and self.backlog.collect(wait=wait, deadline=deadline)

    # -- scanning ------------------------------------------------------------------------------------

    def _scan_if_due(self, now: float) -> None:
        assert self.files is not None
        rescan = self._rescan or self.files.rescan
        if now >= self._next_scan or self._released or (rescan and now >= self._last_scan + 0.05):
            self._rescan = self.files.rescan = False
            self._last_scan = now
            self._scan()
            self._next_scan = now + self.sc.scan_interval.total_seconds()

    def _scan_while_blocked(self) -> None:
        """Backpressure holds the reader, not the scan: files created, rotated and compressed while the
        store is slow must still get an identity before they vanish into a .gz."""
        now = self._beat = time.monotonic()
        if now >= self._next_scan:
            self._next_scan = now + self.sc.scan_interval.total_seconds()
            self._scan(defer=True)

    def _scan(self, defer: bool = False) -> None:
        assert self.files is not None and self.pipeline is not None
        result = self.tracker.scan(time.time(), self.sc.clean_removed.total_seconds())
        self._released.extend(result.released)
        if not defer:
            # Closing a harvester while the reader is inside it (a scan from backpressure) would pull
            # the file from under it: those wait for the reader's next turn.
            released, self._released = self._released, []
            for s in released:
                self.files.close(s, "content changed (truncated or copied)")
        for s in result.new:
            emit(NewFile(path=s.row.path, fid=s.fid, size=s.row.size))
        committed = self.pipeline.finalizer.committed
        lag = 0
        for s in self.tracker.states.values():
            if s.seen and not s.row.gz:
                lag += max(0, s.row.size - committed.get(s.fid, s.row.offset))
        metrics.LAG.set(lag)

    # -- the end -------------------------------------------------------------------------------------

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
        for j in self.journals:
            j.stop()  # nothing more is read; what was read is in the pipeline, flushed below
        if self.pipeline is not None:
            self._collect(wait=True, deadline=deadline)
            ok = self.pipeline.close(deadline)
        if self.backlog is not None:
            self.backlog.close()
        elif self._blocks is not None:
            self._blocks.close()
        if self._observer is not None:
            try:
                self._observer.stop()
                self._observer.join(timeout=2)
            except Exception:
                pass
        if self.files is not None:
            self.files.close_all()
        try:
            self.tracker.persist()
        except Exception as e:
            emit(FileStatesNotSaved(error=str(e)))
        self.registry.close()
        emit(
            ShipperStopped(
                flushed=ok,
                lines=self.lines_read,
                blocks=self.blocks_built,
                sent=self.pipeline.sent if self.pipeline else 0,
                rejected=self.pipeline.rejected if self.pipeline else 0,
            )
        )
        return ok


def _builder(inp: InputConfig, host: str, geoip: Path | None) -> DocBuilder:
    """One input's doc builder (each has its own caches and GeoIP reader: a build thread or process
    runs beside the reader's)."""
    return DocBuilder(
        make_parser(inp.format, inp),
        host,
        inp.service,
        dict(inp.fields),
        namespace=inp.field_namespace,
        dataset=inp.event_dataset,
        override=inp.override,
        geoip=GeoIP(geoip) if geoip is not None else None,
    )
