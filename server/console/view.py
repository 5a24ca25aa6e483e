"""The Logs page's state, read from its URL: the query, the window, the chart's split, the stats.

Guarantees: the same query string gives the same view (times are resolved against one ``now``);
every bad parameter is a ``ViewError`` naming the parameter with one line for the user, and a bad
query carries logq's own message and the query with a caret under the column. The query language,
the saved queries (``@name``) and the time syntax are logq's (``logq.cli.expand_saved``,
``logstore.parse_query``, ``logq.timerange.parse_time``), so a view and its "copy as logq" command
select the same docs.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from logq.aggs import auto_interval
from logq.cli import UsageError, expand_saved
from logq.timerange import TimeError, current_time, parse_time
from logstore import QueryError, parse_query
from logstore.config import parse_duration
from logstore.config.types import format_duration
from logstore.query import Node, Or
from logstore.types import Metric, MetricKind, format_ts

DEFAULT_FROM = "now-1h"
DEFAULT_TO = "now"
DEFAULT_BY = "log.level"
MAX_BUCKETS = 100  # bars in the histogram when the interval is chosen for the window
MAX_CHOSEN_BUCKETS = 1000  # bars when the URL sets the interval
QUICK_RANGES = (("15m", "now-15m"), ("1h", "now-1h"), ("24h", "now-24h"), ("7d", "now-7d"))
_FIELD = re.compile(r"^[A-Za-z_@][\w.@-]*$")
_METRIC = re.compile(r"^(count|avg|min|max|sum|p(\d{1,2}(?:\.\d+)?|100))(?::([A-Za-z_@][\w.@-]*))?$")


class ViewError(ValueError):
    """A parameter of the URL that cannot be used: ``param``, one line, and a caret block for a query."""

    def __init__(self, param: str, message: str, detail: str | None = None) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.detail = detail


@dataclass(frozen=True, slots=True)
class StatSpec:
    """One column of the stats table: ``count``, or ``avg``/``min``/``max``/``sum``/``pNN`` of a field."""

    text: str  # as written in the URL: p95:latency_ms
    metric: Metric | None  # None for count (every row has its count)

    @property
    def field(self) -> str | None:
        return None if self.metric is None else self.metric.field


@dataclass(slots=True)
class View:
    q: str  # as typed
    query: str  # saved queries expanded: what the store runs
    from_: str
    to: str
    start: datetime
    end: datetime
    by: str  # the histogram's split field ('' for none)
    interval: timedelta
    tail: bool = False
    stats: list[StatSpec] = field(default_factory=list)
    stats_by: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)  # the URL's own parameters, for links

    def fields(self) -> list[str]:
        """Every field the view names outside the query (split, stats), for the missing-field check."""
        named = [self.by] if self.by else []
        named += [s.field for s in self.stats if s.field]
        named += self.stats_by
        return list(dict.fromkeys(named))

    def absolute(self) -> dict[str, str]:
        """The view's parameters with the window pinned (for "load more": the same window later)."""
        return {**self.params, "from": format_ts(_ms(self.start)), "to": format_ts(_ms(self.end))}


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _query(q: str, saved: Mapping[str, str]) -> str:
    try:
        query = expand_saved(q, saved) if q else ""
    except UsageError as e:
        raise ViewError("q", str(e)) from None
    try:
        parse_query(query)
    except QueryError as e:
        lines = e.render().splitlines()
        raise ViewError("q", lines[0], "\n".join(line[2:] for line in lines[1:])) from None
    return query


def _time(param: str, text: str, now: datetime) -> datetime:
    try:
        return parse_time(text, now)
    except TimeError as e:
        raise ViewError(param, str(e)) from None


def _field_list(param: str, text: str, most: int) -> list[str]:
    names = [f.strip() for f in text.split(",") if f.strip()]
    for name in names:
        if not _FIELD.match(name):
            raise ViewError(param, f"{name!r} is not a field name")
    if len(names) > most:
        raise ViewError(param, f"at most {most} fields, got {len(names)}")
    return names


def parse_stats(text: str) -> list[StatSpec]:
    """``count,avg:latency_ms,p95:latency_ms`` -> the table's columns (the alerter's agg names)."""
    out = []
    kinds: dict[str, MetricKind] = {"avg": "avg", "min": "min", "max": "max", "sum": "sum"}
    for item in [s.strip() for s in text.split(",") if s.strip()]:
        m = _METRIC.match(item)
        if not m:
            expected = "count, or avg/min/max/sum/pNN:FIELD like p95:latency_ms"
            raise ViewError("stats", f"{item!r}: expected {expected}")
        agg, percent, name = m.group(1), m.group(2), m.group(3)
        if agg == "count":
            out.append(StatSpec(item, None))
        elif not name:
            raise ViewError("stats", f"{item!r}: {agg} needs a field, like {agg}:latency_ms")
        elif percent is not None:
            out.append(StatSpec(item, Metric(item, "percentile", field=name, percent=float(percent))))
        else:
            out.append(StatSpec(item, Metric(item, kinds[agg], field=name)))
    return out


def _interval(text: str, start: datetime, end: datetime) -> timedelta:
    if not text:
        return auto_interval(start, end, MAX_BUCKETS)
    try:
        step = parse_duration(text)
    except ValueError:
        raise ViewError("interval", f"expected a duration like 30s, 5m or 1h, got {text!r}") from None
    if step.total_seconds() < 0.001:
        raise ViewError("interval", "at least 1ms")
    if (end - start) / step > MAX_CHOSEN_BUCKETS:
        raise ViewError("interval", f"{text} gives more than {MAX_CHOSEN_BUCKETS:,} bars over this window")
    return step


def parse_view(params: Mapping[str, str], saved: Mapping[str, str], now: datetime | None = None) -> View:
    """The view a query string asks for; ViewError names the first parameter that cannot be used."""
    now = now or current_time(None)
    q = params.get("q", "").strip()
    from_ = params.get("from", "").strip() or DEFAULT_FROM
    to = params.get("to", "").strip() or DEFAULT_TO
    query = _query(q, saved)
    start, end = _time("from", from_, now), _time("to", to, now)
    if start >= end:
        first, last = format_ts(_ms(start)), format_ts(_ms(end))
        raise ViewError("from", f"the window is empty: from {first} is not before to {last}")
    by = params.get("by", DEFAULT_BY).strip()
    if by and not _FIELD.match(by):
        raise ViewError("by", f"{by!r} is not a field name")
    return View(
        q=q,
        query=query,
        from_=from_,
        to=to,
        start=start,
        end=end,
        by=by,
        interval=_interval(params.get("interval", "").strip(), start, end),
        tail=params.get("tail", "") in ("1", "true", "on"),
        stats=parse_stats(params.get("stats", "")),
        stats_by=_field_list("stats_by", params.get("stats_by", ""), 2),
        params={k: v for k, v in params.items() if v},
    )


# ---- the query, changed by a click -------------------------------------------------------------------


def quote_value(value: object) -> str:
    """A value as the query language reads it back exactly: numbers bare, text as a quoted phrase."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def add_filter(q: str, name: str, value: object, negate: bool = False) -> str:
    """``q`` AND ``name:value`` (or NOT): appended, so repeated clicks read ``a AND b AND -c``; only
    a query whose top level is an OR is put in parentheses first."""
    clause = f"{'-' if negate else ''}{name}:{quote_value(value)}"
    if not q.strip() or q.strip() in ("*", "*:*"):
        return clause
    try:
        node: Node = parse_query(q)
    except QueryError:
        node = Or(())  # cannot tell: parentheses keep the clause outside whatever it is
    return f"({q}) AND {clause}" if isinstance(node, Or) else f"{q} AND {clause}"


# ---- the same view as a logq command ---------------------------------------------------------------


def logq_command(view: View) -> str:
    """The logq command selecting this view's docs: ``-f`` for a tail, ``--count-by`` for a stats
    table of counts only, else the window's hits (``-n 0``: all of them, as the page pages on)."""
    parts = ["logq"]
    if view.q:
        parts.append(shlex.quote(view.q))
    if view.tail:
        return " ".join([*parts, "-f"])
    parts += ["--from", shlex.quote(view.from_), "--to", shlex.quote(view.to)]
    if view.stats_by and all(s.metric is None for s in view.stats):
        return " ".join([*parts, "--count-by", shlex.quote(",".join(view.stats_by))])
    return " ".join([*parts, "-n", "0"])


def interval_label(view: View) -> str:
    return format_duration(view.interval)
