"""The seam between rule evaluation (alerter.engine) and the notification pipeline (alerter.notify).

The engine emits one ``AlertEvent`` per (rule, group) state change it wants people to hear about,
and on every tick lets the pipeline flush timers (group_wait, group_interval, retries). The pipeline
never evaluates rules; the engine never talks to apprise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from logstore.types import Health

AlertState = Literal["firing", "resolved", "nodata", "error"]


@dataclass(frozen=True, slots=True)
class TopValues:
    """The most frequent values of one field (ElastAlert2's top_count_keys)."""

    field: str
    values: tuple[tuple[Any, int], ...]  # (value, docs), most first; None: docs without the field
    total: int  # docs of the group in the window, so a count reads as a share
    more: bool = False  # further values exist beyond the ones shown


@dataclass(frozen=True, slots=True)
class AlertEvent:
    rule: str
    fingerprint: str  # stable hash of rule name + sorted group items: the dedup key
    state: AlertState
    group: dict[str, Any]  # group_by field -> value; {} for an ungrouped rule
    severity: str  # "critical" | "warning" | "info" (free text allowed)
    labels: dict[str, str]
    channels: tuple[str, ...]  # the rule's `notify` list: channel names or tags
    summary: str  # rendered template, one line
    value: float | None  # the evaluated value (count, ratio, p99, ...)
    threshold: str  # human form of the condition, e.g. "> 50"
    window_start: datetime
    window_end: datetime
    started_at: datetime  # when this instance started firing (== at for new ones)
    at: datetime  # evaluation time (the injected clock)
    logq: str  # ready-to-run command showing the matching lines
    samples: tuple[dict[str, Any], ...] = ()  # up to `sample` example docs
    extra: dict[str, Any] = field(default_factory=dict)
    # The value against the threshold as people read it ("6.2 % (14 of 226) > 5 %"): alerter.statement.
    statement: str = ""
    # Fields a sample line shows next to its message (the rule's group_by and metric field).
    sample_fields: tuple[str, ...] = ()
    # The rule's `top:` fields: their most frequent values among this group's lines in the window.
    top: tuple[TopValues, ...] = ()
    # {notify.base_url}/ui/alerts/{rule}?query=...&from=...&to=... ("" without notify.base_url).
    link: str = ""
    # The rule's rendered annotations (summary, description, runbook_url, any key), one line each.
    annotations: dict[str, str] = field(default_factory=dict)
    # The rule's own group_wait / group_interval / repeat_interval in seconds; absent: notify's.
    timing: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # started_at is part of every notification's identity (dedup, HA claims), compared with
        # what state backends stored: one precision for all of them, set here once.
        for name in ("started_at", "at"):
            object.__setattr__(self, name, whole_ms(getattr(self, name)))


def whole_ms(dt: datetime) -> datetime:
    """``dt`` at the precision every state backend keeps (Elasticsearch: epoch milliseconds)."""
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


class Notifier(Protocol):
    def submit(self, events: Sequence[AlertEvent], now: datetime) -> None:
        """Accept state changes; sending may happen now or on a later ``tick`` (group_wait)."""
        ...

    def tick(self, now: datetime) -> None:
        """Flush due groups, retries and digests. Called by the engine at least once a second."""
        ...


@runtime_checkable
class Flushing(Protocol):
    """A notifier that can send everything pending now, without waiting out its timers (``--once``)."""

    def flush(self, now: datetime | None = None) -> None: ...


@runtime_checkable
class Updating(Protocol):
    """A notifier that keeps the latest evaluation of alerts it holds (repeats show current values)."""

    def update(self, events: Sequence[AlertEvent], now: datetime) -> None:
        """Replace held alerts of the same fingerprint, state and start; never starts a message."""
        ...


@runtime_checkable
class Reporting(Protocol):
    """A notifier that reports the health of its channels."""

    def health(self) -> Health: ...
