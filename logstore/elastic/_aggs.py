"""AggRequest -> one ``_msearch`` item (size 0) and its reply -> AggResult.

Grouping uses ``composite`` aggregations, paged to completion (more pages go out in further
``_msearch`` batches), so group counts are exact and a group limit is applied by us, after sorting,
exactly like SQLite: rows by count descending, then group values; ``truncated`` and ``groups_total``
say when groups were cut. A date histogram is a ``fixed_interval`` source aligned to epoch multiples
of the interval (Elasticsearch's default for fixed intervals) with empty buckets omitted.

Cost: on osmem-server (and, per shard, on Elasticsearch) an aggregation's price is roughly
docs x value-reading aggregations (osmem-server also runs ``_msearch`` items one after the other;
a real cluster runs them in parallel). So requests that
share (query, window, grouping) are merged into ONE search first (``logstore.coalesce``), and within
a search metrics that read the same field share one aggregation: avg/min/max/sum of a field are one
``stats``, every percentile of a field is one ``percentiles``, identical count queries and
cardinalities appear once. Every search of one ``aggregate`` call goes out in one ``_msearch``; a
real cluster runs its searches in parallel, so nothing here splits a search into parts.
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
# Group by ``filters`` on remembered values (KnownGroups) only up to this many values: each filter is a
# term query, cheap alone but not by the thousand.
KNOWN_GROUPS_MAX = 64

# Reads one metric's value from a bucket (or the top-level aggregations) given its doc count.
Reader = Callable[[dict[str, Any], int], float | int | None]


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
    readers: dict[str, Reader]
    grouped: bool
    sources: list[str] = field(default_factory=list)  # composite source names, in group_by order
    rows: list[AggRow] = field(default_factory=list)
    groups: set[tuple[Any, ...]] = field(default_factory=set)
    total: int = 0
    done: bool = False
    overflow: bool = False  # stopped scanning at MAX_GROUPS_SCANNED
    # Group values believed complete (see KnownGroups): the first search asks a ``filters`` per
    # value instead of the composite ``body``, which goes out only if that belief proves wrong.
    known: list[Any] | None = None
    known_body: dict[str, Any] | None = None

    def page_size(self) -> int:
        return min(COMPOSITE_PAGE_MAX, max(COMPOSITE_PAGE_MIN, self.req.group_limit + 1))

    def first_body(self) -> dict[str, Any]:
        return self.known_body if self.known_body is not None else self.body


class KnownGroups:
    """The values a single keyword ``group_by`` field took last time, per (store, field).

    Why: on osmem-server a ``composite``/``terms`` grouping reads the field's value of every matching
    doc (as costly as one more metric), while one ``term`` filter per known value is answered from the
    inverted index. Docs without the field form a group of their own (value None, as SQLite and logq
    group them), remembered like any value. The belief is checked: the filters' ``other`` bucket
    (free) counts docs matching no known value; when it is not empty, the composite search runs after
    all. So results stay exact either way; only a new value costs a round trip. Values
    vanish from the belief only when the set grows past ``KNOWN_GROUPS_MAX`` and is replaced by the
    latest complete answer.
    """

    def __init__(self) -> None:
        self._values: dict[tuple[str, ...], list[Any]] = {}

    def get(self, key: tuple[str, ...]) -> list[Any] | None:
        return self._values.get(key)

    def learn(self, key: tuple[str, ...], values: set[Any]) -> None:
        # None stands for the docs without the field (a filter of its own); anything but strings
        # and None is not a keyword group value.
        if not values or not all(v is None or isinstance(v, str) for v in values):
            return
        union = set(self._values.get(key, ())) | values
        if len(union) > KNOWN_GROUPS_MAX:
            union = values
        if len(union) > KNOWN_GROUPS_MAX:
            self._values.pop(key, None)
            return
        if len(self._values) > 1024:
            self._values.clear()
        self._values[key] = sorted(union, key=lambda v: (v is None, v or ""))


def _numeric(types: frozenset[str]) -> bool:
    return any(t in NUMERIC_TYPES for t in types)


def _metric_aggs(req: AggRequest, types: TypeLookup) -> tuple[dict[str, Any], dict[str, Reader]]:
    aggs: dict[str, Any] = {}
    readers: dict[str, Reader] = {}
    # One aggregation per distinct thing read: its key in ``aggs`` by what it computes.
    shared: dict[tuple[Any, ...], str] = {}
    for m in req.metrics:
        readers[m.name] = _metric(m, aggs, shared, types)
    return aggs, readers


def _none(bucket: dict[str, Any], count: int) -> float | int | None:
    return None


def _agg_key(shared: dict[tuple[Any, ...], str], what: tuple[Any, ...]) -> tuple[str, bool]:
    """The aggregation key for ``what`` and whether it is new (the caller then adds it)."""
    key = shared.get(what)
    if key is not None:
        return key, False
    key = f"m{len(shared)}"
    shared[what] = key
    return key, True


def _metric(m: Metric, aggs: dict[str, Any], shared: dict[tuple[Any, ...], str], types: TypeLookup) -> Reader:
    if m.kind == "count":
        if not m.query:
            return lambda bucket, count: count
        key, new = _agg_key(shared, ("count", m.query))
        if new:
            aggs[key] = {"filter": translate(parse_query(m.query), types, m.query)}
        return lambda bucket, count: int(bucket.get(key, {}).get("doc_count", 0))
    if not m.field:
        raise ValueError(f"metric {m.name!r}: {m.kind} needs a field")
    found = types(m.field)
    if m.kind == "cardinality":
        if "text" in found:
            return _none  # full-text fields have no values to count
        key, new = _agg_key(shared, ("cardinality", m.field))
        if new:
            aggs[key] = {"cardinality": {"field": m.field}}
        return lambda bucket, count: int(bucket.get(key, {}).get("value") or 0)
    if not _numeric(found) or any(t not in NUMERIC_TYPES for t in found):
        # No number anywhere (or a keyword in some index, which would fail the whole request).
        return _none
    if m.kind == "percentile":
        percent = 50.0 if m.percent is None else float(m.percent)
        key, new = _agg_key(shared, ("percentiles", m.field))
        if new:
            aggs[key] = {"percentiles": {"field": m.field, "percents": [], "keyed": False}}
        percents: list[float] = aggs[key]["percentiles"]["percents"]
        if percent not in percents:
            percents.append(percent)

        def read_pct(bucket: dict[str, Any], count: int) -> float | int | None:
            # Unkeyed: a list of {key: percent, value}; keyed names would depend on float formatting.
            for item in (bucket.get(key) or {}).get("values") or []:
                if isinstance(item, dict) and abs(float(item.get("key", -1.0)) - percent) < 1e-9:
                    v = item.get("value")
                    return None if v is None else float(v)
            return None

        return read_pct
    key, new = _agg_key(shared, ("stats", m.field))
    if new:
        aggs[key] = {"stats": {"field": m.field}}
    kind = m.kind

    def read_stats(bucket: dict[str, Any], count: int) -> float | int | None:
        stats = bucket.get(key) or {}
        if not stats.get("count"):
            return None
        value = stats.get(kind)
        return None if value is None else float(value)

    return read_stats


def known_field(req: AggRequest, types: TypeLookup) -> str | None:
    """The group field when ``req`` may group by remembered values: one keyword field, no histogram."""
    if len(req.group_by) != 1 or req.interval:
        return None
    f = req.group_by[0]
    return f if types(f) == frozenset({"keyword"}) else None


def plan(req: AggRequest, index: str, types: TypeLookup, known: list[Any] | None = None) -> AggPlan:
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
            sources.append({name: {"terms": {"field": f, "missing_bucket": True}}})
        if req.interval:
            sources.append(
                {"b": {"date_histogram": {"field": TIMESTAMP_FIELD, "fixed_interval": f"{req.interval}ms"}}}
            )
        comp: dict[str, Any] = {"composite": {"size": p.page_size(), "sources": sources}}
        if metric_aggs:
            comp["aggs"] = metric_aggs
        body["aggs"] = {"groups": comp}
        by = known_field(req, types)
        if known and by is not None and len(known) <= KNOWN_GROUPS_MAX:
            p.known = list(known)
            missing = {"bool": {"must_not": {"exists": {"field": by}}}}
            filters: dict[str, Any] = {
                "filters": {
                    "filters": {
                        f"k{i}": missing if v is None else {"term": {by: v}} for i, v in enumerate(known)
                    }
                }
            }
            if metric_aggs:
                filters["aggs"] = metric_aggs
            filters["filters"]["other_bucket_key"] = "_other"
            p.known_body = {**body, "aggs": {"known": filters}}
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
        total = (reply.get("hits") or {}).get("total")
        if total is not None:
            p.total = int(total["value"] if isinstance(total, dict) else total)
    aggs = reply.get("aggregations") or {}
    if not p.grouped and not p.req.interval:
        p.rows.append(AggRow(group={}, count=p.total, values=_values(p, aggs, p.total)))
        p.done = True
        return None
    if not p.grouped:
        for b in (aggs.get("hist") or {}).get("buckets", []):
            count = int(b.get("doc_count", 0))
            if count:
                p.rows.append(
                    AggRow(group={}, count=count, values=_values(p, b, count), bucket=int(b["key"]))
                )
        p.done = True
        return None
    if p.known is not None:
        return _absorb_known(p, aggs)
    return _absorb_composite(p, aggs)


def _values(p: AggPlan, bucket: dict[str, Any], count: int) -> dict[str, float | int | None]:
    return {name: read(bucket, count) for name, read in p.readers.items()}


def _absorb_known(p: AggPlan, aggs: dict[str, Any]) -> dict[str, Any] | None:
    """The ``filters`` answer over remembered values (None stands for docs without the field); the
    composite body when some doc matched none of them, else None."""
    assert p.known is not None
    known, p.known = p.known, None
    by_name = (aggs.get("known") or {}).get("buckets") or {}
    for i, value in enumerate(known):
        b = by_name.get(f"k{i}") or {}
        count = int(b.get("doc_count", 0))
        if count:  # a composite never answers an empty group
            group = {p.req.group_by[0]: value}
            p.groups.add((value,))
            p.rows.append(AggRow(group=group, count=count, values=_values(p, b, count)))
    if int((by_name.get("_other") or {}).get("doc_count", 0)):
        # A value we did not know (or docs without the field, when no known value stood for them):
        # group the exact way. The total is read already.
        p.rows.clear()
        p.groups.clear()
        return {**p.body, "track_total_hits": False}
    p.done = True
    return None


def _absorb_composite(p: AggPlan, aggs: dict[str, Any]) -> dict[str, Any] | None:
    """One page of the ``composite`` grouping; the body of the next page, or None when complete."""
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
                values=_values(p, b, count),
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
