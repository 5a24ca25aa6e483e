"""Merge aggregation requests that differ only in their metrics, so the store scans once for them.

Rules over the same query, window and grouping (avg latency, p95 latency and the 5xx ratio of every
service, say) become one request carrying every metric they need; each rule then gets its own
``AggResult`` back with its own metric names. Identical metrics are computed once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from logstore.types import AggRequest, AggResult, AggRow, Metric

_Key = tuple[object, ...]


def _key(req: AggRequest) -> _Key:
    return (req.query, req.start, req.end, req.group_by, req.interval, req.group_limit)


def _metric_key(m: Metric) -> tuple[object, ...]:
    return (m.kind, m.field, m.query, m.percent)


def coalesce(
    requests: Sequence[AggRequest],
) -> tuple[list[AggRequest], Callable[[Sequence[AggResult]], list[AggResult]]]:
    """Answer the merged requests, and a function turning their results into one per original."""
    merged: list[AggRequest] = []
    slots: dict[_Key, int] = {}
    metric_names: list[dict[tuple[object, ...], str]] = []
    # For each original request: (merged index, {its metric name: merged metric name}).
    plan: list[tuple[int, dict[str, str]]] = []
    for req in requests:
        k = _key(req)
        idx = slots.get(k)
        if idx is None:
            idx = len(merged)
            slots[k] = idx
            merged.append(replace(req, metrics=()))
            metric_names.append({})
        names = metric_names[idx]
        mapping: dict[str, str] = {}
        extra: list[Metric] = []
        for m in req.metrics:
            mk = _metric_key(m)
            if mk not in names:
                names[mk] = f"m{len(names)}"
                extra.append(replace(m, name=names[mk]))
            mapping[m.name] = names[mk]
        if extra:
            merged[idx] = replace(merged[idx], metrics=(*merged[idx].metrics, *extra))
        plan.append((idx, mapping))

    def split(results: Sequence[AggResult]) -> list[AggResult]:
        out: list[AggResult] = []
        for idx, mapping in plan:
            res = results[idx]
            rows = [
                AggRow(
                    group=row.group,
                    count=row.count,
                    values={mine: row.values.get(theirs) for mine, theirs in mapping.items()},
                    bucket=row.bucket,
                )
                for row in res.rows
            ]
            out.append(AggResult(res.total, rows, res.truncated, res.groups_total))
        return out

    return merged, split
