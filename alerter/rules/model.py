"""The typed model of one alert rule: validation only, no I/O (parse -> validate -> build).

Static checks that need no store live here too (cron syntax, time zone, query syntax, template
syntax), so ``alerter check`` and the running engine agree on what a valid rule is.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import timedelta
from typing import Any, Literal

from croniter import croniter
from jinja2 import TemplateSyntaxError
from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from alerter.templates import TEMPLATES
from logstore.config.types import Duration, Strict, StrList, format_duration
from logstore.query import QueryError, parse_query

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_ANNOTATION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# The notification timers a rule may set for its own alerts (notify.<name> is the default).
TIMERS = ("group_wait", "group_interval", "repeat_interval")
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")


SEVERITIES = ("critical", "error", "warning", "info")  # most urgent first (the rate limit's order)
Severity = Literal["critical", "error", "warning", "info"]


class _Documented(Strict):
    # The docstring under each field is its description in `alerter schema` (editors show it).
    model_config = ConfigDict(use_attribute_docstrings=True)


def _check_query(text: str) -> str:
    try:
        parse_query(text)
    except QueryError as e:
        raise ValueError(str(e)) from None
    return text


class Threshold(_Documented):
    """Exactly one comparison: gt, gte, lt or lte."""

    gt: float | None = None
    """Fire when the value is greater than this."""
    gte: float | None = None
    """Fire when the value is greater than or equal to this."""
    lt: float | None = None
    """Fire when the value is less than this."""
    lte: float | None = None
    """Fire when the value is less than or equal to this."""

    @model_validator(mode="after")
    def _one(self) -> Threshold:
        given = [k for k in ("gt", "gte", "lt", "lte") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one threshold: gt, gte, lt or lte")
        return self

    @property
    def op(self) -> str:
        return next(k for k in ("gt", "gte", "lt", "lte") if getattr(self, k) is not None)

    @property
    def limit(self) -> float:
        value = getattr(self, self.op)
        assert value is not None
        return float(value)

    def breached(self, value: float) -> bool:
        limit = self.limit
        return {
            "gt": value > limit,
            "gte": value >= limit,
            "lt": value < limit,
            "lte": value <= limit,
        }[self.op]

    def text(self) -> str:
        sym = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[self.op]
        limit = self.limit
        return f"{sym} {int(limit) if limit.is_integer() else limit}"


class CountCondition(Threshold):
    pass


class RatioCondition(Threshold):
    # The numerator: docs of the rule's query that ALSO match this one (errors among all requests).
    query: str
    """Lucene query: the docs of the rule's query that also match this one are the numerator."""
    # Fewer docs than this in the window (or group) means "not enough data": 1 of 2 is not 50%.
    min_count: int = Field(default=1, ge=1)
    """Fewer docs than this in the window (or group) means not enough data: no evaluation."""

    _q = field_validator("query")(_check_query)


class MetricCondition(Threshold):
    field: str = Field(min_length=1)
    """The numeric field to aggregate, e.g. latency_ms."""
    # The pattern is for editors only: the validator below gives the error message.
    agg: str = Field(
        default="avg", json_schema_extra={"pattern": r"^(avg|min|max|sum|p\d{1,2}(\.\d+)?|p100)$"}
    )
    """avg, min, max, sum, or a percentile like p50, p95, p99, p99.9."""

    @field_validator("agg")
    @classmethod
    def _agg(cls, v: str) -> str:
        if v in ("avg", "min", "max", "sum"):
            return v
        m = _PERCENTILE.match(v)
        if m and 0 < float(m.group(1)) <= 100:
            return v
        raise ValueError("expected avg, min, max, sum or a percentile like p99")

    @property
    def percent(self) -> float | None:
        return float(self.agg[1:]) if self.agg.startswith("p") else None


class CardinalityCondition(Threshold):
    field: str = Field(min_length=1)
    """Count the distinct values of this field in the window (per group with group_by)."""


class AbsenceCondition(_Documented):
    # With group_by: groups seen this far back (before the window) that have no doc now fire too.
    lookback: Duration = timedelta(hours=1)
    """With group_by: groups seen this far back (before the window) that have no doc now fire too."""


class SpikeCondition(_Documented):
    factor: float = Field(gt=1)
    """Fire when the count is at least this many times the compared window's (down: at most 1/factor)."""
    compare: Literal["previous", "day", "day_ago"] = "previous"  # day and day_ago: same window a day earlier
    """previous: the window just before; day or day_ago: the same window a day earlier."""
    direction: Literal["up", "down"] = "up"
    """up: fire on a rise; down: fire on a drop."""
    # Below this many docs in the larger of the two windows, a jump (2 -> 6) is noise, not a spike.
    min_count: int = Field(default=10, ge=1)
    """Below this many docs in the larger of the two windows a jump is noise, not a spike."""


class NewValueCondition(_Documented):
    field: str = Field(min_length=1)
    """Fire for a value of this field not seen during lookback before the window."""
    lookback: Duration = timedelta(days=1)
    """How far back a value counts as already seen."""


class Condition(_Documented):
    """Exactly one kind of condition."""

    count: CountCondition | None = None
    """The number of matching docs in the window."""
    ratio: RatioCondition | None = None
    """The share of the window's docs that also match ratio.query."""
    metric: MetricCondition | None = None
    """An aggregate (avg, max, p99, ...) of a numeric field."""
    absence: AbsenceCondition | None = None
    """Fire when no doc matches in the window ({} or true: the defaults)."""
    spike: SpikeCondition | None = None
    """Fire when the count jumps against an earlier window."""
    new_value: NewValueCondition | None = None
    """Fire when a field takes a value not seen before."""
    cardinality: CardinalityCondition | None = None
    """The number of distinct values of a field (client IPs, users, URLs)."""

    @field_validator("absence", mode="before")
    @classmethod
    def _absence_shorthand(cls, v: Any) -> Any:
        # `absence: {}` and `absence: true` both mean "defaults".
        return {} if v is True or v is None else v

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        given = [k for k in KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one condition: {', '.join(KINDS)}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)

    @property
    def spec(self) -> Any:
        return getattr(self, self.kind)


KINDS = ("count", "ratio", "metric", "absence", "spike", "new_value", "cardinality")


class Top(_Documented):
    """``top:`` the most frequent values of these fields in a firing group's window, in its message."""

    fields: StrList = Field(min_length=1, max_length=10)
    """The fields whose most frequent values are counted (at most 10)."""
    n: int = Field(default=5, ge=1, le=50)
    """How many values of each field are shown (1 to 50)."""

    @model_validator(mode="before")
    @classmethod
    def _top_shorthand(cls, v: Any) -> Any:
        # `top: [url.path, source.ip]` is `top: {fields: [url.path, source.ip]}`.
        return {"fields": v} if isinstance(v, (list, str)) else v


class Rule(_Documented):
    name: str
    """Unique rule name: letters, digits, '.', '_' and '-' (at most 128)."""
    query: str = "*"
    """Lucene query selecting the docs the condition looks at (as in logq)."""
    every: Duration | None = None
    """Evaluate this often, e.g. 30s or 1m (give every or cron)."""
    cron: str | None = None
    """Evaluate on a cron schedule, e.g. '*/5 * * * *' (give every or cron)."""
    tz: str | None = None
    """Time zone of the cron schedule, e.g. Europe/Berlin (default UTC)."""
    window: Duration = timedelta(minutes=5)
    """How far back each evaluation looks, e.g. 5m."""
    delay: Duration = timedelta(0)
    """Shift the window this far into the past, for logs that arrive late."""
    condition: Condition
    """What makes the rule breach: one of count, ratio, metric, absence, spike, new_value, cardinality."""
    group_by: StrList = Field(default_factory=list)
    """Fields whose values split the docs into groups, each alerting on its own."""
    for_: Duration | None = Field(default=None, alias="for")
    """Breach this long before firing (pending until then)."""
    consecutive: int | None = Field(default=None, ge=1)
    """Breach this many evaluations in a row before firing (instead of for)."""
    keep_firing_for: Duration = timedelta(0)
    """Keep firing this long after the breach ends, against flapping."""
    severity: Severity = "warning"
    """How urgent: critical, error, warning or info (orders digests and rate limits)."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Extra key/value labels carried by every notification (routing, silences)."""
    notify: StrList = Field(default_factory=list)
    """Channel names or tags (from notify.channels) to notify; empty: the routes decide."""
    sample: int = Field(default=0, ge=0, le=50)
    """Include this many matching log lines in each notification (0 to 50)."""
    top: Top | None = None
    """The most frequent values of these fields in a firing group's window, shown in its message."""
    summary: str = "{{ rule }}: {{ statement }}{% if group %} on {{ group_text }}{% endif %}"
    """One-line Jinja2 summary: the notification title and the alert line."""
    description: str = ""
    """Longer Jinja2 text for the notification body (shorthand for annotations.description)."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Jinja2 templates rendered into every message, one line each: description, runbook_url, any key."""
    group_wait: Duration | None = None
    """A new group of this rule's alerts waits this long for siblings (default: notify's)."""
    group_interval: Duration | None = None
    """This rule's alerts: a notified group sends changes at most this often (default notify's)."""
    repeat_interval: Duration | None = None
    """This rule's alerts: a still-firing alert is sent again after this long (default notify's)."""
    enabled: bool = True
    """false: the rule is loaded and checked but never evaluated."""

    _q = field_validator("query")(_check_query)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use letters, digits, '.', '_' and '-' (at most 128)")
        return v

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None, info: ValidationInfo) -> str | None:
        # Checked here rather than on the model, so the error names the `cron` key and its line.
        if v is not None and info.data.get("every") is not None:
            raise ValueError("give exactly one of every or cron")
        if v is not None and not croniter.is_valid(v):
            raise ValueError(f"invalid cron expression {v!r}")
        return v

    @field_validator("tz")
    @classmethod
    def _tz(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and info.data.get("cron") is None:
            raise ValueError("tz only applies to cron schedules")
        if v is not None:
            try:
                zoneinfo.ZoneInfo(v)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @field_validator("consecutive")
    @classmethod
    def _one_pending_rule(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is not None and info.data.get("for_") is not None:
            raise ValueError("give at most one of for or consecutive")
        return v

    @field_validator("summary", "description")
    @classmethod
    def _template(cls, v: str) -> str:
        try:
            TEMPLATES.parse(v)
        except TemplateSyntaxError as e:
            raise ValueError(f"template syntax error on template line {e.lineno}: {e.message}") from None
        return v

    @field_validator("annotations")
    @classmethod
    def _annotations(cls, v: dict[str, str]) -> dict[str, str]:
        for key, text in v.items():
            if not _ANNOTATION.match(key):
                raise ValueError(f"annotation name {key!r}: use letters, digits and '_' (at most 64)")
            try:
                TEMPLATES.parse(text)
            except TemplateSyntaxError as e:
                raise ValueError(
                    f"{key}: template syntax error on template line {e.lineno}: {e.message}"
                ) from None
        return v

    @model_validator(mode="after")
    def _annotation_shorthands(self) -> Rule:
        # summary and description are shorthands: one place for each text, whichever way it is written.
        for key in ("summary", "description"):
            if key in self.annotations:
                if key in self.model_fields_set:
                    raise ValueError(f"give {key} once: at the top level or under annotations, not both")
                setattr(self, key, self.annotations.pop(key))
        return self

    @field_validator("group_wait", "group_interval", "repeat_interval")
    @classmethod
    def _timer(cls, v: timedelta | None) -> timedelta | None:
        if v is not None and v.total_seconds() <= 0:
            raise ValueError("must be longer than zero")
        return v

    @field_validator("every", "window")
    @classmethod
    def _positive(cls, v: timedelta | None) -> timedelta | None:
        if v is not None and v.total_seconds() < 1:
            raise ValueError("must be at least 1s")
        return v

    @field_validator("delay", "keep_firing_for")
    @classmethod
    def _not_negative(cls, v: timedelta) -> timedelta:
        if v.total_seconds() < 0:
            raise ValueError("must not be negative")
        return v

    @model_validator(mode="after")
    def _schedule(self) -> Rule:
        if self.every is None and self.cron is None:
            raise ValueError("give a schedule: every (like 30s) or cron")
        return self

    def annotation_templates(self) -> dict[str, str]:
        """Every annotation but the summary (which is the title), description first."""
        first = {"description": self.description} if self.description else {}
        return {**first, **self.annotations}

    def timing(self) -> dict[str, float]:
        """The notification timers this rule sets, in seconds (carried on each of its events)."""
        chosen = {"group_wait": self.group_wait, "group_interval": self.group_interval}
        chosen["repeat_interval"] = self.repeat_interval
        return {k: v.total_seconds() for k, v in chosen.items() if v is not None}

    def threshold_text(self) -> str:
        spec = self.condition.spec
        kind = self.condition.kind
        if isinstance(spec, Threshold):
            return spec.text()
        if kind == "absence":
            return "no matching line"
        if isinstance(spec, SpikeCondition):
            sign = ">=" if spec.direction == "up" else "<="
            factor = spec.factor if spec.direction == "up" else 1 / spec.factor
            which = "previous window" if spec.compare == "previous" else "same window a day earlier"
            return f"{sign} {factor:g}x the {which}"
        if isinstance(spec, NewValueCondition):
            return f"{spec.field} not seen in the last {format_duration(spec.lookback)}"
        return ""
