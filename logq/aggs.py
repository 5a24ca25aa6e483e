"""Summaries instead of lines: ``--count``, ``--count-by``, ``--histogram`` and ``--fields``.

The store does the counting (``Store.aggregate``, exact totals); this module only chooses a bucket
width, fills empty buckets, and renders. Field discovery samples a bounded number of the newest
hits, so it costs the same on a thousand docs and on a billion.
"""

from __future__ import annotations

import difflib
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from logq.keys import flatten
from logq.render import cell, dumps, utc_label
from logstore import AggRequest, AggResult, Store
from logstore.config.types import format_duration
from logstore.query import MESSAGE, And, MatchAll, Node, Not, Or, QueryError
from logstore.types import datetime_to_ms, format_ts

# Bucket widths a person reads easily; auto picks the smallest giving at most MAX_BUCKETS bars.
_NICE_SECONDS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 10800, 21600, 43200, 86400, 604800)
NICE_INTERVALS = tuple(timedelta(seconds=s) for s in _NICE_SECONDS)
MAX_BUCKETS = 60
OTHER = "(other)"
MISSING = "(missing)"
_GLYPHS = "█▓▒░#=+*"
_COLORS = ("\x1b[32m", "\x1b[33m", "\x1b[34m", "\x1b[35m", "\x1b[36m", "\x1b[31m", "\x1b[37m", "\x1b[90m")
_RESET = "\x1b[0m"
# Fields every stored doc has, whatever the sample shows (free text searches ``message``; a doc
# without one is still searched as text-less, not a misspelling).
_ALWAYS = frozenset({MESSAGE, "@timestamp", "event.id", "_id"})


def auto_interval(start: datetime, end: datetime, max_buckets: int = MAX_BUCKETS) -> timedelta:
    span = (end - start).total_seconds()
    for step in NICE_INTERVALS:
        if span / step.total_seconds() <= max_buckets:
            return step
    return NICE_INTERVALS[-1]


def _write_lines(out: BinaryIO, lines: Sequence[str]) -> None:
    out.write(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape") if lines else b"")
    out.flush()


def _group_label(group: dict[str, Any], fields: Sequence[str]) -> str:
    return ", ".join(cell(group.get(f)) if group.get(f) is not None else MISSING for f in fields)


# ---- count-by ----------------------------------------------------------------------------------


def count_by(
    store: Store, query: str, start: datetime, end: datetime, fields: Sequence[str], top: int
) -> AggResult:
    req = AggRequest(query=query, start=start, end=end, group_by=tuple(fields), group_limit=top)
    return store.aggregate([req])[0]


def render_count_by(
    out: BinaryIO, result: AggResult, fields: Sequence[str], top: int, fmt: str, color: bool
) -> None:
    rows = sorted(result.rows, key=lambda r: (-r.count, _group_label(r.group, fields)))[:top]
    shown = sum(r.count for r in rows)
    rest = max(0, result.total - shown)
    # What the groups do not cover: groups past --top, or docs without the field.
    rest_label = OTHER if result.truncated or len(result.rows) > top else MISSING
    if fmt == "json":
        lines = []
        for r in rows:
            obj = {f: MISSING if r.group.get(f) is None else r.group.get(f) for f in fields}
            lines.append(dumps({**obj, "count": r.count, "share": _share(r.count, result.total)}).decode())
        if rest:
            obj = {f: rest_label for f in fields}
            lines.append(dumps({**obj, "count": rest, "share": _share(rest, result.total)}).decode())
        _write_lines(out, lines)
        return
    table: list[tuple[str, str, str]] = [
        (_group_label(r.group, fields), f"{r.count:,}", _pct(r.count, result.total)) for r in rows
    ]
    if rest:
        table.append((rest_label, f"{rest:,}", _pct(rest, result.total)))
    header = (",".join(fields).upper(), "COUNT", "SHARE")
    lines = _align([header, *table, ("total", f"{result.total:,}", "")], right=(1, 2))
    if color:
        lines[0] = f"\x1b[1m{lines[0]}{_RESET}"
    _write_lines(out, lines)


def _share(n: int, total: int) -> float:
    return round(n / total, 4) if total else 0.0


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "-"


def _align(rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return out


# ---- histogram ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Histogram:
    interval_ms: int
    buckets: list[int]  # bucket starts, epoch ms, every bucket of the window (empty ones too)
    series: list[str]  # series labels ([""] when not split)
    counts: dict[str, dict[int, int]] = field(default_factory=dict)  # series -> bucket -> count
    total: int = 0


def histogram(
    store: Store,
    query: str,
    start: datetime,
    end: datetime,
    interval: timedelta,
    by: str | None,
    top: int,
) -> Histogram:
    step = max(1, int(interval.total_seconds() * 1000))
    req = AggRequest(
        query=query,
        start=start,
        end=end,
        interval=step,
        group_by=(by,) if by else (),
        group_limit=100_000,  # buckets x series; the chart folds series past --top into (other)
    )
    result = store.aggregate([req])[0]
    first = datetime_to_ms(start) // step * step
    last = datetime_to_ms(end)
    buckets = list(range(first, last, step)) or [first]
    counts: dict[str, dict[int, int]] = {}
    for row in result.rows:
        label = _group_label(row.group, (by,)) if by else ""
        bucket = row.bucket if row.bucket is not None else first
        series = counts.setdefault(label, {})
        series[bucket] = series.get(bucket, 0) + row.count
    totals = Counter({label: sum(c.values()) for label, c in counts.items()})
    keep = [label for label, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
    if len(totals) > len(keep):
        other: dict[int, int] = {}
        for label in totals:
            if label not in keep:
                for b, n in counts[label].items():
                    other[b] = other.get(b, 0) + n
        counts = {label: counts[label] for label in keep}
        counts[OTHER] = other
        keep.append(OTHER)
    return Histogram(step, buckets, keep or [""], counts, result.total)


def render_histogram(
    out: BinaryIO, hist: Histogram, by: str | None, fmt: str, color: bool, width: int
) -> None:
    if fmt == "json":
        lines = []
        for b in hist.buckets:
            for label in hist.series:
                n = hist.counts.get(label, {}).get(b, 0)
                obj: dict[str, Any] = {"bucket": format_ts(b)}
                if by:
                    obj[by] = label
                obj["count"] = n
                lines.append(dumps(obj).decode())
        _write_lines(out, lines)
        return
    per_bucket = [sum(hist.counts.get(s, {}).get(b, 0) for s in hist.series) for b in hist.buckets]
    peak = max(per_bucket, default=0)
    count_w = max(len(f"{n:,}") for n in [*per_bucket, 0])
    label_w = 19
    bar_w = max(10, width - label_w - count_w - 3)
    step = format_duration(timedelta(milliseconds=hist.interval_ms))
    lines = [f"{hist.total:,} matching, {len(hist.buckets)} buckets of {step} (UTC)"]
    if by:
        legend = []
        for i, label in enumerate(hist.series):
            n = sum(hist.counts.get(label, {}).values())
            legend.append(f"{_glyph(i, color)} {label} ({n:,})")
        lines.append("  ".join(legend))
    for b, n in zip(hist.buckets, per_bucket, strict=True):
        bar = _bar(hist, b, n, peak, bar_w, color)
        pad = " " * (bar_w - _cells(n, peak, bar_w))  # the segments always add up to the bar
        lines.append(f"{utc_label(b)} {bar}{pad} {n:>{count_w},}")
    _write_lines(out, lines)


def _glyph(i: int, color: bool) -> str:
    if color:
        return f"{_COLORS[i % len(_COLORS)]}█{_RESET}"
    return _GLYPHS[i % len(_GLYPHS)]


def _cells(n: int, peak: int, width: int) -> int:
    if n <= 0 or peak <= 0:
        return 0
    return max(1, math.floor(n * width / peak + 0.5))


def _segments(hist: Histogram, b: int, n: int, peak: int, width: int) -> list[tuple[int, int]]:
    """(series index, cells) per series so the stacked segments add up to the bar's length."""
    total_cells = _cells(n, peak, width)
    segs: list[tuple[int, int]] = []
    used = 0
    acc = 0
    for i, label in enumerate(hist.series):
        acc += hist.counts.get(label, {}).get(b, 0)
        upto = math.floor(acc * total_cells / n + 0.5) if n else 0
        if upto > used:
            segs.append((i, upto - used))
            used = upto
    return segs


def _bar(hist: Histogram, b: int, n: int, peak: int, width: int, color: bool) -> str:
    parts = []
    for i, k in _segments(hist, b, n, peak, width):
        if color:
            parts.append(f"{_COLORS[i % len(_COLORS)]}{'█' * k}{_RESET}")
        else:
            parts.append((_GLYPHS[i % len(_GLYPHS)] if len(hist.series) > 1 else "█") * k)
    return "".join(parts)


# ---- field discovery ---------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass(slots=True)
class FieldStats:
    sampled: int = 0
    types: dict[str, Counter[str]] = field(default_factory=dict)
    seen: Counter[str] = field(default_factory=Counter)


def discover_fields(store: Store, query: str, start: datetime, end: datetime, sample: int) -> FieldStats:
    stats = FieldStats()
    for hit in store.search(query, start, end, order="desc", limit=sample):
        stats.sampled += 1
        for path, value in flatten(hit.source):
            stats.seen[path] += 1
            stats.types.setdefault(path, Counter())[_type_name(value)] += 1
    return stats


def render_fields(out: BinaryIO, stats: FieldStats, fmt: str, color: bool) -> None:
    names = sorted(stats.seen)
    if not names:
        return  # nothing matched: no header either, exit code 1 says it
    if fmt == "json":
        lines = [
            dumps(
                {
                    "field": n,
                    "types": sorted(stats.types[n]),
                    "docs": stats.seen[n],
                    "share": _share(stats.seen[n], stats.sampled),
                }
            ).decode()
            for n in names
        ]
        _write_lines(out, lines)
        return
    rows = [("FIELD", "TYPE", "DOCS", "SHARE")]
    for n in names:
        types = ",".join(t for t, _ in stats.types[n].most_common())
        rows.append((n, types, f"{stats.seen[n]:,}", _pct(stats.seen[n], stats.sampled)))
    lines = _align(rows, right=(2, 3))
    if color:
        lines[0] = f"\x1b[1m{lines[0]}{_RESET}"
    _write_lines(out, lines)


def query_fields(node: Node) -> list[str]:
    """The field names a parsed query reads, in order, once each (free text reads ``message``)."""
    out: dict[str, None] = {}

    def walk(n: Node) -> None:
        if isinstance(n, And | Or):
            for item in n.items:
                walk(item)
        elif isinstance(n, Not):
            walk(n.item)
        elif not isinstance(n, MatchAll):
            out[n.field] = None

    walk(node)
    return list(out)


def _known(name: str, seen: Iterable[str]) -> bool:
    # An object (`http.response`) is known by its leaves; a path into a list of objects by the list.
    return any(s == name or s.startswith(name + ".") or name.startswith(s + ".") for s in seen)


def _exists(store: Store, name: str, start: datetime, end: datetime) -> bool:
    try:
        return store.count(f"_exists_:{name}", start, end) > 0
    except QueryError:  # not a name the query language takes: it cannot be a stored field either
        return False


def unknown_field_warnings(
    store: Store, fields: Sequence[str], start: datetime, end: datetime, sample: int
) -> list[str]:
    """A line for each of ``fields`` that no doc of the window has, with the closest known names.

    The window's newest ``sample`` docs are looked at (as ``--fields`` does), whatever the query:
    a query on a misspelt field matches nothing, which would otherwise look like "all is well".
    Nothing is said when the window holds no doc at all (that answer is empty for another reason).
    """
    stats = discover_fields(store, "", start, end, sample)
    if not stats.sampled:
        return []
    missing = [f for f in fields if f not in _ALWAYS and not _known(f, stats.seen)]
    if stats.sampled >= sample:
        # The sample may miss a rare field: ask the store about those few exactly.
        missing = [f for f in missing if not _exists(store, f, start, end)]
    if not missing:
        return []
    where = f"{stats.sampled:,} docs"
    if stats.sampled >= sample:
        total = store.count("", start, end)
        if total > stats.sampled:
            where = f"the newest {stats.sampled:,} of {total:,} docs (--sample)"
    lines = []
    for name in missing:
        close = difflib.get_close_matches(name, list(stats.seen), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]}?" if close else ""
        lines.append(f"{name}: no such field in {where}{hint}")
    return lines
