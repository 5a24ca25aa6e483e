"""Aggregations on SQLite: one GROUP BY statement per request over the request's time window.

Semantics shared with Elasticsearch (docs/query-semantics.md):
- ``total`` counts every doc matching the query in [start, end); grouped rows leave out docs that
  lack a group field (an Elasticsearch terms aggregation does the same).
- Rows are sorted by count desc, then group values (numbers before strings); with a histogram by
  bucket first. ``group_limit`` keeps the largest groups and reports the cut.
- Percentiles are exact, linear interpolation between closest ranks (numpy's default).
- Numeric metrics read JSON numbers only; a doc whose field is not a number is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import apsw
import orjson

from logstore.query import parse_query
from logstore.sqlite._schema import HOT_COLUMNS, HOT_NUMBERS
from logstore.sqlite._translate import Where, json_path, window
from logstore.types import ID_FIELD, TIMESTAMP_FIELD, AggRequest, AggResult, AggRow, Metric, datetime_to_ms


def value_expr(w: Where, field: str) -> str:
    """The SQL value of a field for grouping and cardinality (JSON arrays/objects come back as text).

    Hot fields read their column only: that skips the JSON entirely (the point of a window
    aggregate), at the price that a doc whose service.name (say) is not a string joins no group.
    """
    if field == ID_FIELD:
        return "e.id"
    if field == TIMESTAMP_FIELD:
        return "e.ts"
    column = HOT_COLUMNS.get(field) or HOT_NUMBERS.get(field)
    if column is not None:
        return f"e.{column}"
    return f"json_extract(e.doc, {w.bind(json_path(field))})"


def number_expr(w: Where, field: str) -> str:
    """A field's value when it is a JSON number, else NULL (a numeric hot column holds exactly that)."""
    if field == TIMESTAMP_FIELD:
        return "e.ts"
    column = HOT_NUMBERS.get(field)
    if column is not None:
        return f"e.{column}"
    path = w.bind(json_path(field))
    return f"(CASE WHEN json_type(e.doc, {path}) IN ('integer', 'real') THEN json_extract(e.doc, {path}) END)"


def percentile(values: list[float], percent: float) -> float | None:
    """Exact percentile, linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    values.sort()
    rank = (len(values) - 1) * min(max(percent, 0.0), 100.0) / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, len(values) - 1)
    return float(values[lo] + (values[hi] - values[lo]) * (rank - lo))


def sort_key(values: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    out: list[tuple[int, Any]] = []
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append((0, v))
        elif isinstance(v, str):
            out.append((1, v))
        else:
            out.append((2, repr(v)))
    return tuple(out)


def _metric_columns(w: Where, metrics: tuple[Metric, ...]) -> tuple[list[str], list[str], list[Any]]:
    """Per metric: a per-row expression (inner SELECT), its aggregate over ``m<i>`` (outer SELECT), and
    how to read the result back: ("col", i) | ("pct", i, percent) | ("count",)."""
    inner: list[str] = []
    outer: list[str] = []
    readers: list[Any] = []
    pct_cols: dict[str, int] = {}

    def add(per_row: str, aggregate: str) -> int:
        inner.append(f"{per_row} AS m{len(inner)}")
        outer.append(aggregate.format(f"m{len(outer)}"))
        return len(outer) - 1

    for m in metrics:
        if m.kind == "count" and not m.query:
            readers.append(("count",))
        elif m.kind == "count":
            assert m.query is not None
            # CASE, not a bare boolean: only a WHEN condition short-circuits its ORs on SQLite 3.40,
            # so the JSON fallback of a hot column is never evaluated for rows the column decides.
            cond = w.node(parse_query(m.query))
            readers.append(("col", add(f"(CASE WHEN {cond} THEN 1 END)", "count({})")))
        elif not m.field:
            raise ValueError(f"metric {m.name!r}: {m.kind} needs a field")
        elif m.kind in ("avg", "min", "max", "sum"):
            readers.append(("col", add(number_expr(w, m.field), m.kind + "({})")))
        elif m.kind == "cardinality":
            readers.append(("col", add(value_expr(w, m.field), "count(DISTINCT {})")))
        elif m.kind == "percentile":
            if m.field not in pct_cols:
                pct_cols[m.field] = add(number_expr(w, m.field), "json_group_array({})")
            readers.append(("pct", pct_cols[m.field], 50.0 if m.percent is None else m.percent))
        else:
            raise ValueError(f"metric {m.name!r}: unknown kind {m.kind!r}")
    return inner, outer, readers


def _values(
    metrics: tuple[Metric, ...], readers: list[Any], count: int, cols: tuple[Any, ...]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    parsed: dict[int, list[float]] = {}
    for m, reader in zip(metrics, readers, strict=True):
        if reader[0] == "count":
            out[m.name] = count
        elif reader[0] == "col":
            out[m.name] = cols[reader[1]]
        else:
            idx = reader[1]
            if idx not in parsed:
                parsed[idx] = [v for v in orjson.loads(cols[idx] or "[]") if v is not None]
            out[m.name] = percentile(list(parsed[idx]), reader[2])
    return out


def run_aggregate(
    conn: apsw.Connection,
    req: AggRequest,
    indexed: frozenset[str] = frozenset(),
    before_text: Callable[[], None] | None = None,
) -> AggResult:
    w = Where(conn, req.query, indexed=indexed, before_text=before_text)
    time_cond = window(w, datetime_to_ms(req.start), datetime_to_ms(req.end))
    cond = f"{time_cond} AND {w.node(parse_query(req.query))}"
    groups = [value_expr(w, f) for f in req.group_by]
    keys = list(groups)
    if req.interval is not None:
        if req.interval <= 0:
            raise ValueError("interval must be a positive number of milliseconds")
        iv = w.bind(int(req.interval))
        keys.append(f"(e.ts / {iv}) * {iv}")
    inner_cols, outer_cols, readers = _metric_columns(w, req.metrics)
    # Per-row values are computed in a subquery and only they reach GROUP BY's sorter: grouping the
    # flat query would copy every referenced column, the whole doc JSON included, into the sorter.
    # LIMIT -1 keeps SQLite from flattening the subquery back into the outer query.
    inner = ", ".join([*(f"{k} AS k{i}" for i, k in enumerate(keys)), *inner_cols]) or "1"
    outer = ", ".join([*(f"k{i}" for i in range(len(keys))), "count(*)", *outer_cols])
    sql = f"SELECT {outer} FROM (SELECT {inner} FROM logstore_events e WHERE {cond} LIMIT -1)"
    if keys:
        sql += " GROUP BY " + ", ".join(f"k{i}" for i in range(len(keys)))
    raw_rows = conn.execute(sql, w.params).fetchall()

    ngroups = len(groups)
    has_bucket = req.interval is not None
    nkeys = len(keys)
    rows: list[tuple[tuple[Any, ...], int | None, AggRow]] = []
    total = 0  # every matching doc, including those no group takes: no second pass over the window
    for r in raw_rows:
        count = cast(int, r[nkeys])
        total += count
        group_values = tuple(r[:ngroups])
        bucket = cast(int, r[ngroups]) if has_bucket else None
        values = _values(req.metrics, readers, count, tuple(r[nkeys + 1 :]))
        row = AggRow(dict(zip(req.group_by, group_values, strict=True)), count, values, bucket)
        rows.append((group_values, bucket, row))

    if not groups:
        out = [row for _, _, row in rows]
        if has_bucket:
            out.sort(key=lambda row: row.bucket or 0)
            return AggResult(total=total, rows=out)
        return AggResult(total=out[0].count if out else 0, rows=out)
    return _cut_groups(req, rows, total)


def _cut_groups(
    req: AggRequest, rows: list[tuple[tuple[Any, ...], int | None, AggRow]], total: int
) -> AggResult:
    """Rank groups by their total count (all buckets of a group together), keep ``group_limit``."""
    has_bucket = req.interval is not None
    totals: dict[tuple[Any, ...], int] = {}
    for key, _, row in rows:
        totals[key] = totals.get(key, 0) + row.count
    ranked = sorted(totals, key=lambda k: (-totals[k], sort_key(k)))
    kept = set(ranked[: req.group_limit])
    selected = [(key, bucket, row) for key, bucket, row in rows if key in kept]
    if has_bucket:
        selected.sort(key=lambda t: (t[1], -t[2].count, sort_key(t[0])))
    else:
        selected.sort(key=lambda t: (-t[2].count, sort_key(t[0])))
    return AggResult(
        total=total,
        rows=[row for _, _, row in selected],
        truncated=len(ranked) > req.group_limit,
        groups_total=len(ranked),
    )
