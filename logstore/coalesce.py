"""Merge aggregation requests that differ only in their metrics, so a store scans once for them.

Requests sharing (query, window, grouping, histogram interval, group limit) become one request
carrying every metric they need; ``split`` turns the merged results back into one ``AggResult`` per
original request, in order, each with its own metric names. An identical metric asked twice is
computed once. Totals, rows and group cuts of a merged request are the same for every request in it
(they depend only on the shared key), so splitting loses nothing.

This is the one coalescing helper: the alerter engine uses it before ``Store.aggregate`` (any
backend), and the Elasticsearch backend uses it inside ``aggregate`` for every other caller.
Coalescing twice is harmless: already-merged requests have distinct keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from logstore.types import AggRequest, AggResult, AggRow, Metric

Split = Callable[[Sequence[AggResult]], list[AggResult]]


def request_key(req: AggRequest) -> tuple[Any, ...]:
    """What a request's rows depend on: requests with equal keys can share one scan."""
    return (req.query, req.start, req.end, req.group_by, req.interval, req.group_limit)


def metric_identity(m: Metric) -> tuple[Any, ...]:
    """What a metric computes, whatever its name (a percent of 95 and 95.0 are the same)."""
    return (m.kind, m.field, m.query, None if m.percent is None else float(m.percent))


def coalesce(requests: Sequence[AggRequest]) -> tuple[list[AggRequest], Split]:
    """The merged requests, and a function turning their results into one per original request.

    Merged metrics are renamed ``c0, c1, ...`` so that two requests may use one metric name for
    different things.
    """
    merged: list[AggRequest] = []
    slot_of: dict[tuple[Any, ...], int] = {}
    names: list[dict[tuple[Any, ...], str]] = []
    # For each original request: (merged index, [(its metric name, merged metric name)]).
    routes: list[tuple[int, list[tuple[str, str]]]] = []
    for req in requests:
        key = request_key(req)
        idx = slot_of.get(key)
        if idx is None:
            idx = slot_of[key] = len(merged)
            merged.append(replace(req, metrics=()))
            names.append({})
        known = names[idx]
        extra: list[Metric] = []
        route: list[tuple[str, str]] = []
        for m in req.metrics:
            ident = metric_identity(m)
            if ident not in known:
                known[ident] = f"c{len(known)}"
                extra.append(replace(m, name=known[ident]))
            route.append((m.name, known[ident]))
        if extra:
            merged[idx] = replace(merged[idx], metrics=(*merged[idx].metrics, *extra))
        routes.append((idx, route))

    def split(results: Sequence[AggResult]) -> list[AggResult]:
        out: list[AggResult] = []
        for idx, route in routes:
            res = results[idx]
            rows = [
                AggRow(
                    group=dict(row.group),
                    count=row.count,
                    values={mine: row.values.get(theirs) for mine, theirs in route},
                    bucket=row.bucket,
                )
                for row in res.rows
            ]
            out.append(AggResult(res.total, rows, res.truncated, res.groups_total))
        return out

    return merged, split
