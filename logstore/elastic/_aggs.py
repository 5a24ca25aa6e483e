"""AggRequest -> one ``_msearch`` item (size 0) and its reply -> AggResult.

Grouping uses ``composite`` aggregations, paged to completion (more pages go out in further
``_msearch`` batches), so group counts are exact and a group limit is applied by us, after sorting,
exactly like SQLite: rows by count descending, then group values; ``truncated`` and ``groups_total``
say when groups were cut. A date histogram is a ``fixed_interval`` source aligned to epoch multiples
of the interval (Elasticsearch's default for fixed intervals) with empty buckets omitted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from logstore.elastic._dsl import NUMERIC_TYPES, TypeLookup, translate, with_window
from logstore.query import parse_query
from logstore.types import TIMESTAMP_FIELD, AggRequest, AggResult, AggRow, Metric, datetime_to_ms

STATS_KINDS = ("avg", "min", "max", "sum")
# Scanning this many groups without reaching the end stops with truncated=True, groups_total=None:
# a bound on memory and time for a runaway group_by on a high-cardinality field.
MAX_GROUPS_SCANNED = 200_000
COMPOSITE_PAGE_MAX = 10_000
COMPOSITE_PAGE_MIN = 1000


def metric_fields(req: AggRequest) -> set[str]:
    return {m.field for m in req.metrics if m.field and m.kind != "count"}


def _sort_key(value: Any) -> tuple[int, Any]:
    # The SQLite backend's order: numbers, then strings, then anything else by its repr.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, repr(value))


@dataclass
class AggPlan:
    req: AggRequest
    header: dict[str, Any]
    body: dict[str, Any]
    # metric name -> how to read it from a bucket (None: the metric cannot apply, value None)
    readers: dict[str, Callable[[dict[str, Any], int], float | int | None]]
    grouped: bool
    sources: list[str] = field(default_factory=list)  # composite source names, in group_by order
    rows: list[AggRow] = field(default_factory=list)
    groups: set[tuple[Any, ...]] = field(default_factory=set)
    total: int = 0
    done: bool = False
    overflow: bool = False  # stopped scanning at MAX_GROUPS_SCANNED

    def page_size(self) -> int:
        return min(COMPOSITE_PAGE_MAX, max(COMPOSITE_PAGE_MIN, self.req.group_limit + 1))


def _numeric(types: frozenset[str]) -> bool:
    return any(t in NUMERIC_TYPES for t in types)


def _metric_aggs(
    req: AggRequest, types: TypeLookup
) -> tuple[dict[str, Any], dict[str, Callable[[dict[str, Any], int], float | int | None]]]:
    aggs: dict[str, Any] = {}
    readers: dict[str, Callable[[dict[str, Any], int], float | int | None]] = {}
    for i, m in enumerate(req.metrics):
        key = f"m{i}"
        readers[m.name] = _metric(m, key, aggs, types)
    return aggs, readers


def _none(bucket: dict[str, Any], count: int) -> float | int | None:
    return None


def _metric(
    m: Metric, key: str, aggs: dict[str, Any], types: TypeLookup
) -> Callable[[dict[str, Any], int], float | int | None]:
    if m.kind == "count":
        if not m.query:
            return lambda bucket, count: count
        aggs[key] = {"filter": translate(parse_query(m.query), types, m.query)}
        return lambda bucket, count: int(bucket.get(key, {}).get("doc_count", 0))
    if not m.field:
        raise ValueError(f"metric {m.name!r}: {m.kind} needs a field")
    found = types(m.field)
    if m.kind == "cardinality":
        if "text" in found:
            return _none  # full-text fields have no values to count
        aggs[key] = {"cardinality": {"field": m.field}}
        return lambda bucket, count: int(bucket.get(key, {}).get("value") or 0)
    if not _numeric(found) or any(t not in NUMERIC_TYPES for t in found):
        # No number anywhere (or a keyword in some index, which would fail the whole request).
        return _none
    if m.kind == "percentile":
        percent = 50.0 if m.percent is None else m.percent
        aggs[key] = {"percentiles": {"field": m.field, "percents": [percent], "keyed": True}}

        def read_pct(bucket: dict[str, Any], count: int) -> float | int | None:
            values = bucket.get(key, {}).get("values") or {}
            for v in values.values():
                return None if v is None else float(v)
            return None

        return read_pct
    aggs[key] = {"stats": {"field": m.field}}
    kind = m.kind

    def read_stats(bucket: dict[str, Any], count: int) -> float | int | None:
        stats = bucket.get(key) or {}
        if not stats.get("count"):
            return None
        value = stats.get(kind)
        return None if value is None else float(value)

    return read_stats


def plan(req: AggRequest, index: str, types: TypeLookup) -> AggPlan:
    start = datetime_to_ms(req.start) if req.start is not None else None
    end = datetime_to_ms(req.end) if req.end is not None else None
    query = with_window(translate(parse_query(req.query), types, req.query), start, end)
    header = {"index": index, "ignore_unavailable": True, "allow_no_indices": True}
    metric_aggs, readers = _metric_aggs(req, types)
    body: dict[str, Any] = {"size": 0, "track_total_hits": True, "query": query}
    grouped = bool(req.group_by)
    p = AggPlan(req, header, body, readers, grouped)
    if grouped:
        sources: list[dict[str, Any]] = []
        for i, f in enumerate(req.group_by):
            name = f"g{i}"
            p.sources.append(name)
            sources.append({name: {"terms": {"field": f}}})
        if req.interval:
            sources.append(
                {"b": {"date_histogram": {"field": TIMESTAMP_FIELD, "fixed_interval": f"{req.interval}ms"}}}
            )
        comp: dict[str, Any] = {"composite": {"size": p.page_size(), "sources": sources}}
        if metric_aggs:
            comp["aggs"] = metric_aggs
        body["aggs"] = {"groups": comp}
    elif req.interval:
        hist: dict[str, Any] = {
            "date_histogram": {
                "field": TIMESTAMP_FIELD,
                "fixed_interval": f"{req.interval}ms",
                "min_doc_count": 1,
            }
        }
        if metric_aggs:
            hist["aggs"] = metric_aggs
        body["aggs"] = {"hist": hist}
    elif metric_aggs:
        body["aggs"] = metric_aggs
    return p


def absorb(p: AggPlan, reply: dict[str, Any], first: bool) -> dict[str, Any] | None:
    """Take one page of reply into the plan; the body for the next page, or None when complete."""
    if first:
        total = reply.get("hits", {}).get("total", 0)
        p.total = int(total["value"] if isinstance(total, dict) else total)
    aggs = reply.get("aggregations") or {}
    values = lambda bucket, count: {name: read(bucket, count) for name, read in p.readers.items()}  # noqa: E731
    if not p.grouped and not p.req.interval:
        p.rows.append(AggRow(group={}, count=p.total, values=values(aggs, p.total)))
        p.done = True
        return None
    if not p.grouped:
        for b in (aggs.get("hist") or {}).get("buckets", []):
            count = int(b.get("doc_count", 0))
            if count:
                p.rows.append(AggRow(group={}, count=count, values=values(b, count), bucket=int(b["key"])))
        p.done = True
        return None
    comp = aggs.get("groups") or {}
    buckets = comp.get("buckets", [])
    for b in buckets:
        key = b.get("key", {})
        count = int(b.get("doc_count", 0))
        group = {f: key.get(name) for f, name in zip(p.req.group_by, p.sources, strict=True)}
        bucket = key.get("b") if p.req.interval else None
        p.groups.add(tuple(group.values()))
        p.rows.append(
            AggRow(
                group=group,
                count=count,
                values=values(b, count),
                bucket=None if bucket is None else int(bucket),
            )
        )
    after = comp.get("after_key")
    if not buckets or after is None or len(buckets) < p.page_size():
        p.done = True
        return None
    if len(p.groups) >= MAX_GROUPS_SCANNED:
        p.overflow = True
        p.done = True
        return None
    nxt = dict(p.body)
    groups = dict(nxt["aggs"]["groups"])
    groups["composite"] = {**groups["composite"], "after": after}
    nxt["aggs"] = {"groups": groups}
    nxt["track_total_hits"] = False
    return nxt


def result(p: AggPlan) -> AggResult:
    req = p.req
    if not p.grouped:
        rows = sorted(p.rows, key=lambda r: r.bucket or 0) if req.interval else p.rows
        return AggResult(total=p.total, rows=rows)
    # Rank groups by their total count (all buckets of a group together), then cut at the limit.
    per_group: dict[tuple[Any, ...], int] = {}
    for r in p.rows:
        k = tuple(r.group.values())
        per_group[k] = per_group.get(k, 0) + r.count
    ranked = sorted(per_group, key=lambda k: (-per_group[k], tuple(_sort_key(v) for v in k)))
    truncated = p.overflow or len(ranked) > req.group_limit
    keep = set(ranked[: req.group_limit])
    rows = [r for r in p.rows if tuple(r.group.values()) in keep]
    if req.interval:
        rows.sort(key=lambda r: (r.bucket or 0, -r.count, tuple(_sort_key(v) for v in r.group.values())))
    else:
        rows.sort(key=lambda r: (-r.count, tuple(_sort_key(v) for v in r.group.values())))
    return AggResult(
        total=p.total,
        rows=rows,
        truncated=truncated,
        groups_total=None if p.overflow else len(ranked),
    )
