"""Numbers as an on-call person reads them: one statement of the value against the threshold.

- ratios as percentages with their counts: ``6.2 % (14 of 226) > 5 %``;
- metrics with their aggregation, field and unit: ``p99 event.duration 2.27 s > 500 ms``;
- counts with thousands separators: ``1,204 > 50``;
- the comparison sign is true for the state shown: a RESOLVED ratio reads ``4.8 % (11 of 229) <= 5 %``.

Units come from the field name (ECS ``event.duration`` is nanoseconds; ``*_ms``, ``*_seconds``,
``request_time`` and ``*bytes`` say theirs); a field with no known unit prints its plain number.
"""

from __future__ import annotations

from typing import Any

from alerter.rules.model import MetricCondition, RatioCondition, Rule, Threshold

_SYMBOL = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_NEGATION = {"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}
# Seconds per unit; bytes are their own scale.
_TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def unit_of(field: str) -> str | None:
    """The unit a field's name tells (None when it tells none)."""
    name = field.lower()
    if name == "event.duration" or name.endswith(("_ns", ".ns")):
        return "ns"
    if name.endswith(("_us", ".us")):
        return "us"
    if name.endswith(("_ms", ".ms", "latency_ms")) or name.endswith("millis"):
        return "ms"
    if name.endswith(("_s", "_seconds", ".seconds", "request_time", "response_time")):
        return "s"
    if name.endswith("bytes"):
        return "bytes"
    return None


def _number(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:.3g}"


def with_unit(value: float, unit: str | None) -> str:
    """``2267`` ms -> ``2.27 s``; ``0.4`` s -> ``400 ms``; ``2.5e6`` bytes -> ``2.4 MiB``."""
    if unit in _TIME_UNITS:
        seconds = value * _TIME_UNITS[unit]
        for name, size in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
            if abs(seconds) >= size:
                return f"{seconds / size:.3g} {name}"
        return f"{seconds / 1e-9:.3g} ns"
    if unit == "bytes":
        size = float(value)
        for name in ("bytes", "KiB", "MiB", "GiB"):
            if abs(size) < 1024 or name == "GiB":
                return f"{_number(size) if name == 'bytes' else f'{size:.3g}'} {name}"
            size /= 1024
    return _number(value)


def statement(rule: Rule, state: str, value: float | None, count: int, values: dict[str, Any]) -> str:
    """The value against the threshold, in words and units, true for ``state``."""
    spec = rule.condition.spec
    if not isinstance(spec, Threshold):
        shown = "no data" if value is None else _number(value)
        return f"{shown} ({rule.threshold_text()})"
    op = spec.op if state in ("firing", "pending", "nodata", "error") else _NEGATION[spec.op]
    sign = _SYMBOL[op]
    if isinstance(spec, RatioCondition):
        if value is None:
            return f"{count:,} lines, fewer than min_count {spec.min_count:,}: not judged"
        matched = int(values.get("matched") or 0)
        return f"{value * 100:.1f} % ({matched:,} of {count:,}) {sign} {spec.limit * 100:g} %"
    if isinstance(spec, MetricCondition):
        unit = unit_of(spec.field)
        head = f"{spec.agg} {spec.field}"
        if value is None:
            return f"{head}: no value in the window ({count:,} lines)"
        return f"{head} {with_unit(value, unit)} {sign} {with_unit(spec.limit, unit)}"
    shown = "0" if value is None else _number(value)
    return f"{shown} {sign} {_number(spec.limit)}"
