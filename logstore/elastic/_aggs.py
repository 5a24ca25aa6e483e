"""AggRequest -> one ``_msearch`` item (size 0) and its reply -> AggResult.

Grouping uses ``composite`` aggregations, paged to completion (more pages go out in further
``_msearch`` batches), so group counts are exact and a group limit is applied by us, after sorting,
exactly like SQLite: rows by count descending, then group values; ``truncated`` and ``groups_total``
say when groups were cut. A date histogram is a ``fixed_interval`` source aligned to epoch multiples
of the interval (Elasticsearch's default for fixed intervals) with empty buckets omitted.

Cost: on osmem-server (and, per shard, on Elasticsearch) an aggregation's price is roughly
docs x value-reading aggregations, and ``_msearch`` items run one after the other. So requests that
share (query, window, grouping) are merged into ONE search first (``logstore.coalesce``), and within
a search metrics that read the same field share one aggregation: avg/min/max/sum of a field are one
``stats``, every percentile of a field is one ``percentiles``, identical count queries and
cardinalities appear once. When the store may send several searches at once
(``max_concurrent_searches``), a search grouped by remembered values is split by GROUP
(``split_by_group``: each part groups some of the values, with every metric; the first also counts
the exact total), any other search reading several fields' values is split by METRIC
(``fan_out``), and ``schedule`` spreads the searches over the connections.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from logstore.elastic._dsl import NUMERIC_TYPES, TypeLookup, translate, with_window
from logstore.query import parse_query
from logstore.types import TIMESTAMP_FIELD, AggRequest, AggResult, AggRow, Metric, datetime_to_ms

STATS_KINDS = ("avg", "min", "max", "sum")
VALUE_READING = ("stats", "percentiles", "cardinality")  # aggregation types that read every doc's value
# Scanning this many groups without reaching the end stops with truncated=True, groups_total=None:
# a bound on memory and time for a runaway group_by on a high-cardinality field.
MAX_GROUPS_SCANNED = 200_000
COMPOSITE_PAGE_MAX = 10_000
COMPOSITE_PAGE_MIN = 1000
# Group by ``filters`` on remembered values (KnownGroups) only up to this many values: each filter is a
# term query, cheap alone but not by the thousand.
KNOWN_GROUPS_MAX = 64
# Schedule price (``AggPlan.cost`` units) of the check for unknown values (an ``exists`` filter and a
# ``must_not terms``): 190-250 ms on osmem-server at 50k docs, where a grouped search with two
# value-reading aggregations (cost 5.0) takes 1.3-1.5 s.
CHECK_COST = 1.0

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
    check_body: dict[str, Any] | None = None  # counts docs with the field but no known value
    checking: bool = False
    # Relative price of one search of this plan, to spread searches over connections (``schedule``):
    # a value-reading aggregation costs about two groupings or filters on osmem-server.
    cost: float = 1.0
    # Split by group (``split_by_group``): this plan sends nothing at first; its total and rows come
    # from ``parts``, each grouping some of the known values (``join_parts``).
    parts: list[AggPlan] = field(default_factory=list)
    unknown: int | None = None  # docs with the field but no known value, when a search counted them

    def page_size(self) -> int:
        return min(COMPOSITE_PAGE_MAX, max(COMPOSITE_PAGE_MIN, self.req.group_limit + 1))

    def first_body(self) -> dict[str, Any]:
        return self.known_body if self.known_body is not None else self.body


class KnownGroups:
    """The values a single keyword ``group_by`` field took last time, per (store, field).

    Why: on osmem-server a ``composite``/``terms`` grouping reads the field's value of every matching
    doc (as costly as one more metric), while one ``term`` filter per known value is answered from the
    inverted index. The belief is checked: the filters' ``other`` bucket (free) counts docs matching no
    known value; when it is not empty, a second small search counts those that have the field at all
    (docs without it are not a group), and if any exist the composite search runs after all. So results
    stay exact either way; only a doc without the field or a new value costs round trips. Values
    vanish from the belief only when the set grows past ``KNOWN_GROUPS_MAX`` and is replaced by the
    latest complete answer.

    It also remembers, per key and query (``scope``), each value's doc count in the latest complete
    answer (``weights``: how ``split_by_group`` balances its parts) and whether docs without the
    field matched (``missing``: then a split search checks for unknown values at once rather than in
    a second round trip).
    """

    def __init__(self) -> None:
        self._values: dict[tuple[str, ...], list[Any]] = {}
        self._weights: dict[tuple[str, ...], dict[Any, int]] = {}
        self._missing: set[tuple[str, ...]] = set()

    def get(self, key: tuple[str, ...]) -> list[Any] | None:
        return self._values.get(key)

    def weights(self, key: tuple[str, ...], scope: str = "") -> dict[Any, int] | None:
        return self._weights.get((*key, scope))

    def missing(self, key: tuple[str, ...], scope: str = "") -> bool:
        return (*key, scope) in self._missing

    def learn(
        self,
        key: tuple[str, ...],
        values: set[Any],
        counts: Mapping[Any, int] | None = None,
        missing: bool = False,
        scope: str = "",
    ) -> None:
        if counts is not None:
            scoped = (*key, scope)
            if len(self._weights) > 1024:
                self._weights.clear()
                self._missing.clear()
            self._weights[scoped] = dict(counts)
            if missing:
                self._missing.add(scoped)
            else:
                self._missing.discard(scoped)
        if not values or not all(isinstance(v, str) for v in values):
            return
        union = set(self._values.get(key, ())) | values
        if len(union) > KNOWN_GROUPS_MAX:
            union = values
        if len(union) > KNOWN_GROUPS_MAX:
            self._values.pop(key, None)
            return
        if len(self._values) > 1024:
            self._values.clear()
        self._values[key] = sorted(union)


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


# ---- fan-out: one search per value-reading aggregation, for servers that use one core per search --


def heavy_aggregation(m: Metric) -> tuple[str, str] | None:
    """The doc-value aggregation a metric is computed by, or None when the index answers it.

    ``stats``, ``percentiles`` and ``cardinality`` read a value per matching doc (on osmem-server
    that is most of a search's cost); counts are ``filter`` aggregations answered from the index.
    """
    if m.kind == "count" or not m.field:
        return None
    if m.kind == "percentile":
        return ("percentiles", m.field)
    if m.kind == "cardinality":
        return ("cardinality", m.field)
    return ("stats", m.field)


def fan_out(
    requests: Sequence[AggRequest], parts: int, whole: Callable[[AggRequest], bool] | None = None
) -> tuple[list[AggRequest], Callable[[Sequence[AggResult]], list[AggResult]]]:
    """Split a request that reads several fields' values into up to ``parts`` requests.

    Why: osmem-server answers each search on one core, and its cost is docs x value-reading
    aggregations; a request carrying avg and p95 of a field (two reads per doc) answers in about
    0.6-0.8 of the time as two searches sent at once on two connections (see ``ElasticStore``)
    when the server has a second core free; the grouping is then done twice, so on a saturated
    machine it costs more than it saves (which is why ``max_concurrent_searches`` defaults to 1).

    Each part has the same query, window and grouping. Part 0 keeps every count metric, so a
    ratio's two counts always come from one search, and its rows, totals and group cuts are the
    answer; the other parts only contribute their metrics' values, matched by group and bucket
    (None for a group a part did not see, which only happens when docs land in the window between
    the two searches). Requests for which ``whole`` answers True are left as they are (they are
    split by group instead, see ``split_by_group``).
    """
    expanded: list[AggRequest] = []
    layout: list[list[int]] = []  # for each request, the indices of its parts in ``expanded``
    for req in requests:
        heavy = list(dict.fromkeys(h for m in req.metrics if (h := heavy_aggregation(m)) is not None))
        k = min(parts, len(heavy))
        if k < 2 or (whole is not None and whole(req)):
            layout.append([len(expanded)])
            expanded.append(req)
            continue
        slot = {h: i % k for i, h in enumerate(heavy)}
        subsets: list[list[Metric]] = [[] for _ in range(k)]
        for m in req.metrics:
            h = heavy_aggregation(m)
            subsets[0 if h is None else slot[h]].append(m)
        layout.append(list(range(len(expanded), len(expanded) + k)))
        expanded.extend(replace(req, metrics=tuple(s)) for s in subsets)

    def join(results: Sequence[AggResult]) -> list[AggResult]:
        out: list[AggResult] = []
        for idx in layout:
            base = results[idx[0]]
            if len(idx) == 1:
                out.append(base)
                continue
            by = expanded[idx[0]].group_by
            rows = [AggRow(dict(r.group), r.count, dict(r.values), r.bucket) for r in base.rows]
            for j in idx[1:]:
                theirs = {_row_key(r, by): r.values for r in results[j].rows}
                names = [m.name for m in expanded[j].metrics]
                for row in rows:
                    values = theirs.get(_row_key(row, by), {})
                    for name in names:
                        row.values[name] = values.get(name)
            out.append(AggResult(base.total, rows, base.truncated, base.groups_total))
        return out

    return expanded, join


def _row_key(row: AggRow, by: tuple[str, ...]) -> tuple[Any, ...]:
    return (*(row.group.get(f) for f in by), row.bucket)


def schedule(costs: Sequence[float], lanes: int) -> list[list[int]]:
    """Indices of ``costs`` in at most ``lanes`` groups of about equal total (longest first).

    Each group becomes one ``_msearch`` on its own connection; the groups run at the same time.
    """
    lanes = max(1, min(lanes, len(costs)))
    groups: list[list[int]] = [[] for _ in range(lanes)]
    load = [0.0] * lanes
    for i in sorted(range(len(costs)), key=lambda i: -costs[i]):
        lane = load.index(min(load))
        groups[lane].append(i)
        load[lane] += costs[i]
    return [sorted(g) for g in groups if g]


# ---- split by group: the parts of a search grouped by remembered values ---------------------------


def group_splittable(req: AggRequest, types: TypeLookup, known: Sequence[Any] | None) -> bool:
    """Whether ``req`` is split by group (``split_by_group``) when the store has several lanes.

    It must group by remembered values (see ``KnownGroups``) and read some field's values: a request
    that only counts is cheap (its ``filters`` alone) and stays one search, which ``schedule`` puts
    in the lighter lane beside the parts of the expensive ones.
    """
    return (
        known is not None
        and 2 <= len(known) <= KNOWN_GROUPS_MAX
        and known_field(req, types) is not None
        and any(heavy_aggregation(m) is not None for m in req.metrics)
    )


def partition(values: Sequence[Any], parts: int, weights: Mapping[Any, int] | None = None) -> list[list[Any]]:
    """``values`` in at most ``parts`` non-empty subsets of about equal weight (heaviest first).

    Without weights every value weighs the same: an equal split by number. A value the weights do
    not know (new since they were learnt) weighs their mean; every weight gets one more doc, so a
    value that had none still counts and the split stays deterministic.
    """
    w = _value_weights(values, weights)
    parts = max(1, min(parts, len(values)))
    subsets: list[list[Any]] = [[] for _ in range(parts)]
    load = [0.0] * parts
    for v in sorted(values, key=lambda v: (-w[v], _sort_key(v))):
        lane = load.index(min(load))
        subsets[lane].append(v)
        load[lane] += w[v]
    return [sorted(s, key=_sort_key) for s in subsets if s]


def _value_weights(values: Sequence[Any], weights: Mapping[Any, int] | None) -> dict[Any, float]:
    if not weights:
        return {v: 1.0 for v in values}
    seen = [float(weights[v]) for v in values if v in weights]
    mean = sum(seen) / len(seen) if seen else 0.0
    return {v: float(weights[v]) + 1.0 if v in weights else mean + 1.0 for v in values}


def split_by_group(
    p: AggPlan, parts: int, weights: Mapping[Any, int] | None = None, missing: bool = False
) -> list[AggPlan]:
    """Split a plan grouped by known values into up to ``parts`` searches, each for some of the values.

    Why: osmem-server answers each search on one core at about docs x (grouping + value-reading
    aggregations); split by metric (``fan_out``) every part repeats the grouping over all docs and
    the parts are as unequal as their metrics. Split by group, part j groups only its subset S_j of
    the values (a ``filters`` over S_j) with ALL the metrics, so no part repeats another's work, and
    the parts are balanced by the groups' doc counts in the latest complete answer (``weights``),
    or by number of values. (The parts keep the plan's query: restricting it by a ``terms`` on S_j
    made osmem-server's searches ~70 % dearer, not cheaper.)

    Part 0 also counts the exact total (``track_total_hits``). ``join_parts`` compares it with the
    parts' summed group counts: equal means every matching doc has a known value, so the answer is
    exact; more sends the plan's ``check_body`` (docs with the field but no known value), and an
    unknown value runs the composite as without a split. ``missing`` (docs without the field
    matched last time, so the sums will differ again) puts that check into part 0, saving the
    round trip. Rows, totals and group cuts are what the unsplit plan answers (``result`` sorts and
    cuts the joined rows). As with ``fan_out``, docs landing in the window between the parts'
    searches may be counted by one part and not by another. Returns the parts, to be sent instead
    of the plan's first body; [] when the plan stays as it is.
    """
    if p.known is None or p.known_body is None or p.check_body is None or parts < 2:
        return []
    subsets = partition(p.known, parts, weights)
    if len(subsets) < 2:
        return []
    by = p.req.group_by[0]
    metric_aggs = p.known_body["aggs"]["known"].get("aggs")
    w = _value_weights(p.known, weights)
    whole = sum(w.values())
    out: list[AggPlan] = []
    for j, subset in enumerate(subsets):
        filters: dict[str, Any] = {
            "filters": {"filters": {f"k{i}": {"term": {by: v}} for i, v in enumerate(subset)}}
        }
        if metric_aggs:
            filters["aggs"] = metric_aggs
        aggs: dict[str, Any] = {"known": filters}
        part = AggPlan(p.req, p.header, p.body, p.readers, grouped=True, sources=p.sources)
        part.known = list(subset)
        part.known_body = {"size": 0, "track_total_hits": j == 0, "query": p.body["query"], "aggs": aggs}
        part.cost = p.cost * sum(w[v] for v in subset) / whole
        if j == 0 and missing:
            aggs.update(p.check_body["aggs"])
            part.cost += CHECK_COST
        out.append(part)
    p.known = None
    p.parts = out
    return out


def join_parts(p: AggPlan) -> dict[str, Any] | None:
    """Give a split plan its total and rows once all its parts have answered (see ``split_by_group``).

    Answers the body still needed: the check for unknown values when the parts saw fewer docs than
    the total, the composite when part 0 found an unknown value; None when the plan is complete.
    """
    if not p.parts:
        return None
    parts, p.parts = p.parts, []
    p.total = parts[0].total
    if parts[0].unknown:
        return {**p.body, "track_total_hits": False}  # a value we did not know: the exact way
    for part in parts:
        p.rows.extend(part.rows)
        p.groups |= part.groups
    # Fewer: docs without a known value. More: a multi-valued field (a doc in several groups), where
    # the sums prove nothing either way: check.
    if parts[0].unknown is None and sum(r.count for r in p.rows) != p.total:
        p.checking = True
        return p.check_body
    p.done = True
    return None


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
    p.cost = 1.0 + 2.0 * sum(next(iter(a)) in VALUE_READING for a in metric_aggs.values())
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
        by = known_field(req, types)
        if known and by is not None and len(known) <= KNOWN_GROUPS_MAX:
            p.known = list(known)
            filters: dict[str, Any] = {
                "filters": {"filters": {f"k{i}": {"term": {by: v}} for i, v in enumerate(known)}}
            }
            if metric_aggs:
                filters["aggs"] = metric_aggs
            filters["filters"]["other_bucket_key"] = "_other"
            p.known_body = {**body, "aggs": {"known": filters}}
            # (An ``exists`` filter in the first search would cost ~8 % of it on osmem, every time.)
            unknown = {"bool": {"filter": [{"exists": {"field": by}}], "must_not": [{"terms": {by: known}}]}}
            p.check_body = {
                "size": 0,
                "track_total_hits": False,
                "query": query,
                "aggs": {"unknown": {"filter": unknown}},
            }
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
        if total is not None:  # (absent where ``track_total_hits`` was false: a split's parts)
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
    if p.checking:
        p.checking = False
        if int((aggs.get("unknown") or {}).get("doc_count", 0)):
            p.rows.clear()  # a value we did not know: group the exact way (the total is read already)
            p.groups.clear()
            return {**p.body, "track_total_hits": False}
        p.done = True
        return None
    if p.known is not None:
        known, p.known = p.known, None
        if "unknown" in aggs:  # part 0 of a split plan asked at once (split_by_group)
            p.unknown = int(aggs["unknown"].get("doc_count", 0))
        by_name = (aggs.get("known") or {}).get("buckets") or {}
        for i, value in enumerate(known):
            b = by_name.get(f"k{i}") or {}
            count = int(b.get("doc_count", 0))
            if count:  # a composite never answers an empty group
                group = {p.req.group_by[0]: value}
                p.groups.add((value,))
                p.rows.append(AggRow(group=group, count=count, values=values(b, count)))
        if int((by_name.get("_other") or {}).get("doc_count", 0)) and p.check_body is not None:
            p.checking = True
            return p.check_body
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
