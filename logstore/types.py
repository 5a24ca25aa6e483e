"""Value types shared by every store backend and by the shipper, alerter and logq.

Timestamps cross this boundary as timezone-aware UTC ``datetime`` objects or as integer epoch
milliseconds (``Doc.ts``); the document body always carries ``@timestamp`` as an RFC 3339 string
with a ``Z`` suffix, millisecond precision, which is what Elasticsearch and Kibana expect.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

# The document field that doubles as the stable sort tiebreak and mirrors ``_id``: ECS event.id.
ID_FIELD = "event.id"
TIMESTAMP_FIELD = "@timestamp"
MESSAGE_FIELD = "message"


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def datetime_to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        # A naive time is UTC by project convention (logq's help says so).
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def format_ts(ms: int) -> str:
    """RFC 3339 UTC with milliseconds: ``2026-11-22T06:39:00.123Z``."""
    dt = ms_to_datetime(ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(slots=True)
class Doc:
    """One log event on its way into a store.

    ``id`` is deterministic (the shipper hashes file fingerprint + offset), so re-sending a doc is a
    no-op. ``source`` is the body: nested objects, ``@timestamp`` set. ``raw`` optionally carries
    ``source`` already serialized as JSON bytes, so the hot path serializes once.

    ``final`` (added for the shipper's hot path; default False) is the producer's promise that ``raw``
    is ``source`` serialized in the stored shape: one line, no dotted top-level key, ``@timestamp`` set
    and ``event.id`` equal to ``id``. A store may then send ``raw`` without checking or re-serializing.
    """

    id: str
    ts: int  # epoch milliseconds, equal to source["@timestamp"]
    source: dict[str, Any]
    raw: bytes | None = None
    final: bool = False


class Outcome(enum.Enum):
    CREATED = "created"
    DUPLICATE = "duplicate"  # that _id is stored already: counts as delivered
    RETRYABLE = "retryable"  # 429, 5xx, connection trouble: the pipeline retries
    REJECTED = "rejected"  # the store refuses this doc for good (mapping error, 4xx)
    TOO_LARGE = "too_large"  # the whole request was too big (HTTP 413): the pipeline sends it split

    @property
    def delivered(self) -> bool:
        return self in (Outcome.CREATED, Outcome.DUPLICATE)


@dataclass(frozen=True, slots=True)
class WriteResult:
    id: str
    outcome: Outcome
    reason: str = ""  # the server's words for RETRYABLE / REJECTED


def each_result(docs: Sequence[Doc], results: list[WriteResult] | None) -> list[WriteResult]:
    """``write``'s answer from ``write_unless_all_created``'s (None: every doc was created)."""
    if results is None:
        return [WriteResult(d.id, Outcome.CREATED) for d in docs]
    return results


@dataclass(frozen=True, slots=True)
class Cursor:
    """Resume point for search/follow: the sort key of the last hit returned."""

    ts: int
    id: str


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    ts: int
    source: dict[str, Any]

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.ts, self.id)


MetricKind = Literal["count", "avg", "min", "max", "sum", "percentile", "cardinality"]


@dataclass(frozen=True, slots=True)
class Metric:
    """One value computed per group (and per histogram bucket).

    - ``count`` with ``query``: docs of the group that also match ``query`` (ratios: errors/all).
    - ``avg/min/max/sum``: of numeric ``field``; ``None`` when no doc has a number there.
    - ``percentile``: ``percent`` in (0, 100] of numeric ``field``. SQLite is exact; Elasticsearch
      uses TDigest, close but not always identical.
    - ``cardinality``: distinct values of ``field`` (Elasticsearch: HyperLogLog, exact below 3000).
    """

    name: str
    kind: MetricKind
    field: str | None = None
    query: str | None = None
    percent: float | None = None


@dataclass(frozen=True, slots=True)
class AggRequest:
    """Count (plus metrics) of docs matching ``query`` in [start, end), grouped and/or bucketed."""

    query: str
    start: datetime
    end: datetime
    metrics: tuple[Metric, ...] = ()
    group_by: tuple[str, ...] = ()
    interval: int | None = None  # date histogram bucket width in milliseconds
    group_limit: int = 1000  # more groups than this sets AggResult.truncated, never silently


@dataclass(slots=True)
class AggRow:
    group: dict[str, Any]  # {field: value} for each group_by field; {} when ungrouped
    count: int
    values: dict[str, float | int | None] = field(default_factory=dict)
    bucket: int | None = None  # histogram bucket start, epoch ms, when interval is set


@dataclass(slots=True)
class AggResult:
    total: int  # exact number of docs matching query in the window
    rows: list[AggRow]
    truncated: bool = False  # more groups existed than group_limit
    groups_total: int | None = None  # how many groups exist, when known


@dataclass(frozen=True, slots=True)
class RetentionResult:
    deleted_docs: int | None  # None when the backend drops whole indices
    deleted_indices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    detail: str


class StoreError(Exception):
    """The store cannot be used at all (unreachable, corrupt, locked, misconfigured).

    ``str(err)`` is one line for the user, naming the URL or path and the reason.
    """


class StoreAuthError(StoreError):
    """The store refused our credentials or permissions (HTTP 401/403): waiting will not fix it."""


JsonDoc = Mapping[str, Any]
