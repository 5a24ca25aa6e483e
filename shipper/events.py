"""Everything the shipper reports: one typed event per kind, each logging one JSON line and counting.

``emit(Event(...))`` (logstore.observe) updates the event's metric from ``shipper.metrics`` and logs its
sentence with the fields as keys. The sentences and keys are the ones operators already grep for;
the metric names are stable (dashboards depend on them). Events without a metric say why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from logstore.observe import Event
from shipper import metrics


class _Shipper(Event):
    logger = "shipper"


class _Files(Event):
    logger = "shipper.files"


class _Pipeline(Event):
    logger = "shipper.pipeline"


# ---- life cycle: once per process, so no metrics (the scraper's `up` and the process_* metrics tell) ----


@dataclass(frozen=True)
class ShipperStarted(_Shipper):
    """Once per process."""

    message = "shipper started"
    inputs: int
    once: bool
    store: str


@dataclass(frozen=True)
class EndpointUp(_Shipper):
    """Once per process; the port is worth a line when ``metrics.port: 0`` picked it."""

    message = "metrics and health endpoint up"
    host: str
    port: int


@dataclass(frozen=True)
class StoreUnavailable(_Shipper):
    """At start-up, before any metric is scraped: the log line is what an operator sees."""

    message = "store unavailable; retrying"
    level = logging.WARNING
    reason: str
    delay_s: float


@dataclass(frozen=True)
class WatchUnavailable(_Shipper):
    """Once at start; the periodic scan still finds every file."""

    message = "file watching unavailable; polling"
    level = logging.WARNING
    error: str


@dataclass(frozen=True)
class BuildProcessFailed(_Shipper):
    """Once per backlog: the shipper builds the rest in its own process, so nothing is lost."""

    message = "build process failed; building in the shipper process"
    level = logging.ERROR
    error: str


@dataclass(frozen=True)
class FileStatesNotSaved(_Shipper):
    """At shutdown; the next start re-reads from the last saved offsets (re-sends are no-ops)."""

    message = "cannot save file states"
    level = logging.ERROR
    error: str


@dataclass(frozen=True)
class ShipperStopped(_Shipper):
    """Once per process; the totals repeat the counters for a run without a scraper (``--once``)."""

    message = "shipper stopped"
    flushed: bool
    lines: int
    blocks: int
    sent: int
    rejected: int


@dataclass(frozen=True)
class ShutdownDeadlinePassed(_Shipper):
    """At shutdown; the unacknowledged batches are re-sent by the next run."""

    message = "shutdown deadline passed before every batch was acknowledged; they will be re-sent"
    level = logging.WARNING


# ---- files ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewFile(_Shipper):
    message = "new file"
    metric = metrics.FILES_FOUND
    path: str
    fid: str
    size: int


@dataclass(frozen=True)
class SymlinkSkipped(_Files):
    message = "symlink skipped (set follow_symlinks: true on its input to ship it)"
    level = logging.WARNING
    metric = metrics.FILES_SKIPPED
    labels = ("reason",)
    path: str
    target: str | None
    reason: str = "symlink"


@dataclass(frozen=True)
class FileUnreadable(_Files):
    """Said again at most once a minute per file while it lasts (shipper.files.UNREADABLE_WARN_EVERY)."""

    message = "file not readable; skipped (grant this user read permission to ship it)"
    level = logging.WARNING
    metric = metrics.FILES_SKIPPED
    labels = ("reason",)
    path: str
    error: str
    reason: str = "unreadable"


@dataclass(frozen=True)
class InputDirMissing(_Files):
    """Said again at most once an hour per directory while it lasts; the scan keeps looking for it."""

    message = "input directory not there; watching for it to appear"
    level = logging.WARNING
    metric = metrics.INPUT_DIRS_MISSING
    directory: str
    pattern: str
    error: str


@dataclass(frozen=True)
class CannotOpenFile(_Shipper):
    """Transient (the file changed between scan and open): the next scan tries again, so no metric."""

    message = "cannot open file"
    level = logging.DEBUG
    path: str
    reason: str


@dataclass(frozen=True)
class FileClosed(_Shipper):
    """shipper_files_open (a gauge the harvester keeps) already tells how many are open."""

    message = "file closed"
    level = logging.DEBUG
    path: str
    reason: str
    offset: int


# ---- delivery -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryCrashed(_Pipeline):
    message = "batch delivery crashed"
    level = logging.ERROR
    metric = metrics.DELIVERY_CRASHES
    error: str


@dataclass(frozen=True)
class RequestTooLarge(_Pipeline):
    message = "store found the request too large; sending it in smaller ones"
    level = logging.WARNING
    metric = metrics.REQUESTS_SPLIT
    docs: int
    bytes: int
    reason: str


@dataclass(frozen=True)
class StoreRefusedCredentials(_Pipeline):
    """The store answered 401/403 to a write: the shipper stops (exit 2) instead of retrying."""

    message = "store refused our credentials; stopping (offsets stay at the last acknowledged batch)"
    level = logging.ERROR
    reason: str


@dataclass(frozen=True)
class StoreRetrying(_Pipeline):
    """Logged on the first and every tenth attempt only; shipper_events_retried_total counts every doc
    of every attempt where the retry happens."""

    message = "store did not take the batch; retrying"
    level = logging.WARNING
    docs: int
    attempt: int
    reason: str
    delay_s: float


@dataclass(frozen=True)
class DeadLettersNotWritten(_Pipeline):
    """Retried every second until written (the docs are counted once, by DocsRejected)."""

    message = "cannot write dead letters; retrying"
    level = logging.ERROR
    error: str


@dataclass(frozen=True)
class DocsRejected(_Pipeline):
    message = "store rejected docs; kept in the dead-letter table"
    level = logging.WARNING
    metric = metrics.DROPPED
    amount = "docs"
    docs: int
    reason: str


@dataclass(frozen=True)
class JournalReaderExited(_Shipper):
    """journalctl stopped while following (it cannot read the journal, a bad cursor): it is started
    again from the last entry read after a pause; its stderr's last line is the reason."""

    message = "journalctl exited; restarting"
    level = logging.WARNING
    input: int
    code: int
    reason: str
