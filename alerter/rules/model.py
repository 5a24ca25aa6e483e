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
from pydantic import Field, ValidationInfo, field_validator, model_validator

from alerter.templates import TEMPLATES
from logstore.config.types import Duration, Strict, StrList, format_duration
from logstore.query import QueryError, parse_query

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")


def _check_query(text: str) -> str:
    try:
        parse_query(text)
    except QueryError as e:
        raise ValueError(str(e)) from None
    return text


class Threshold(Strict):
    """Exactly one comparison: gt, gte, lt or lte."""

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

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
    # Fewer docs than this in the window (or group) means "not enough data": 1 of 2 is not 50%.
    min_count: int = Field(default=1, ge=1)

    _q = field_validator("query")(_check_query)


class MetricCondition(Threshold):
    field: str = Field(min_length=1)
    agg: str = "avg"  # avg | min | max | sum | pNN (p50, p95, p99, p99.9)

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


class AbsenceCondition(Strict):
    # With group_by: groups seen this far back (before the window) that have no doc now fire too.
    lookback: Duration = timedelta(hours=1)


class SpikeCondition(Strict):
    factor: float = Field(gt=1)
    compare: Literal["previous", "day", "day_ago"] = "previous"  # day and day_ago: same window a day earlier
    direction: Literal["up", "down"] = "up"
    # Below this many docs in the larger of the two windows, a jump (2 -> 6) is noise, not a spike.
    min_count: int = Field(default=10, ge=1)


class NewValueCondition(Strict):
    field: str = Field(min_length=1)
    lookback: Duration = timedelta(days=1)


class Condition(Strict):
    """Exactly one kind of condition."""

    count: CountCondition | None = None
    ratio: RatioCondition | None = None
    metric: MetricCondition | None = None
    absence: AbsenceCondition | None = None
    spike: SpikeCondition | None = None
    new_value: NewValueCondition | None = None

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


KINDS = ("count", "ratio", "metric", "absence", "spike", "new_value")


class Top(Strict):
    """``top:`` the most frequent values of these fields in a firing group's window, in its message."""

    fields: StrList = Field(min_length=1, max_length=10)
    n: int = Field(default=5, ge=1, le=50)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        # `top: [url.path, source.ip]` is `top: {fields: [url.path, source.ip]}`.
        return {"fields": v} if isinstance(v, (list, str)) else v


class Rule(Strict):
    name: str
    query: str = "*"
    every: Duration | None = None
    cron: str | None = None
    tz: str | None = None
    window: Duration = timedelta(minutes=5)
    delay: Duration = timedelta(0)
    condition: Condition
    group_by: StrList = Field(default_factory=list)
    for_: Duration | None = Field(default=None, alias="for")
    consecutive: int | None = Field(default=None, ge=1)
    keep_firing_for: Duration = timedelta(0)
    severity: str = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    notify: StrList = Field(default_factory=list)
    sample: int = Field(default=0, ge=0, le=50)
    top: Top | None = None
    summary: str = "{{ rule }}: {{ statement }}{% if group %} on {{ group_text }}{% endif %}"
    description: str = ""
    enabled: bool = True

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
