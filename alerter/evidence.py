"""What an announced alert shows besides its number: sample lines that explain it, and ``top:`` values.

Guarantees:
- Only called for a firing alert being announced or refreshed (never per evaluation of every rule):
  at most one ``search`` and one ``aggregate`` call (with one grouped request per ``top`` field).
- Both are a courtesy: a store error leaves them empty and is logged; the alert still goes out.
- Samples of a metric rule are the lines that drove the value (the slowest for a latency rule),
  not the newest lines; every other rule shows the newest matching lines.
"""

from __future__ import annotations

import math
from typing import Any

from alerter.conditions import Window
from alerter.events import TopValues
from alerter.observed import SamplesUnavailable, TopValuesUnavailable
from alerter.rules.model import MetricCondition, Rule
from logq.keys import get_path
from logstore.observe import emit
from logstore.protocol import Store
from logstore.types import AggRequest

# Lines read to pick the extreme ones of a metric rule from: the newest this many at or beyond the
# value, sorted by the field here (the Store protocol sorts by @timestamp only).
_METRIC_POOL = 200


def sample_fields(rule: Rule) -> tuple[str, ...]:
    """The rule's own fields a sample line shows next to its message: group_by, then the metric field."""
    spec = rule.condition.spec
    extra = (spec.field,) if isinstance(spec, MetricCondition) else ()
    return tuple(dict.fromkeys([*rule.group_by, *extra]))


def _number_at(value: float, down: bool) -> str:
    # Six decimals, rounded away from the docs we want: a p99 of 2267.1234567 must still match
    # the doc holding 2267.1234567. Plain decimals, because the query language has no exponents.
    scaled = value * 1e6
    shown = (math.floor(scaled) if down else math.ceil(scaled)) / 1e6
    return f"{shown:.6f}".rstrip("0").rstrip(".")


def _as_float(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def samples(
    store: Store, rule: Rule, query: str, window: Window, value: float | None
) -> tuple[dict[str, Any], ...]:
    """Up to ``rule.sample`` docs of the group: the extreme ones for a metric rule, else the newest.

    No store sorts by a field (``search`` orders by @timestamp), so a metric rule asks for the lines
    at or beyond the computed value (``field:>=VALUE`` for gt/gte, ``<=`` for lt/lte), takes the
    newest ``_METRIC_POOL`` of them and keeps the most extreme. Those lines are, by definition of
    the aggregation, the ones that put the value where it is. When none match (a percentile the
    store interpolated past every doc) it falls back to the newest lines.
    """
    limit = rule.sample
    spec = rule.condition.spec
    try:
        if isinstance(spec, MetricCondition) and value is not None and math.isfinite(value):
            high = spec.op in ("gt", "gte")
            bound = f"{spec.field}:{'>=' if high else '<='}{_number_at(value, down=high)}"
            pool = max(limit, _METRIC_POOL)
            found = store.search(f"({query}) AND {bound}", window.start, window.end, order="desc", limit=pool)
            hits = [h.source for h in found]
            if hits:
                missing = -math.inf if high else math.inf  # a doc without a number sorts last

                def key(doc: dict[str, Any]) -> float:
                    v = _as_float(get_path(doc, spec.field))
                    return missing if v is None else v

                hits.sort(key=key, reverse=high)
                return tuple(hits[:limit])
        newest = store.search(query, window.start, window.end, order="desc", limit=limit)
        return tuple(h.source for h in newest)
    except Exception as e:
        emit(SamplesUnavailable(query=query, error=str(e)))
        return ()


def top_values(store: Store, rule: Rule, query: str, window: Window) -> tuple[TopValues, ...]:
    """The ``top.n`` most frequent values of each ``top`` field among the group's docs in the window."""
    top = rule.top
    if top is None:
        return ()
    requests = [
        AggRequest(query, window.start, window.end, group_by=(f,), group_limit=top.n) for f in top.fields
    ]
    try:
        results = store.aggregate(requests)
    except Exception as e:
        emit(TopValuesUnavailable(query=query, error=str(e)))
        return ()
    out = []
    for f, res in zip(top.fields, results, strict=True):
        rows = sorted(res.rows, key=lambda r: -r.count)[: top.n]
        out.append(TopValues(f, tuple((r.group.get(f), r.count) for r in rows), res.total, res.truncated))
    return tuple(out)
