"""The Logs page (Discover), ``/ui/logs``, and the JSON calls its script makes.

- ``/ui/logs``: the query bar, the window, a histogram of the matches stacked by ``by`` (default
  ``log.level``), the newest hits, the field sidebar, and a stats table when ``stats``/``stats_by``
  are set; ``tail=1`` shows the live tail instead of the window's hits. A bad parameter is the page
  again with the error under the query bar (status 400; a query shows logq's caret), never a 500.
- ``/ui/logs/context``: the lines before and after one doc, from the same file and host.
- ``/ui/api/hits``: the next page of hits after a cursor (the "load more" button), with no cap.
- ``/ui/api/tail``: the live tail's next lines (``server.console.tail``).

The count shown is the store's exact total for the query and window (``Store.aggregate``, what
``logq --count`` prints). Top values in the sidebar come from a sample, the newest ``SAMPLE`` hits,
and the page says so; the stats table is exact. Every store call runs in the thread pool.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from logq import aggs
from logq.keys import KeyChoice, flatten, get_path
from logstore import Cursor, Hit, QueryError, Store, StoreError, parse_query
from logstore.types import AggRequest, AggResult, format_ts, ms_to_datetime
from server.app import context, json_response
from server.console import svg
from server.console.tail import Tails
from server.console.view import (
    QUICK_RANGES,
    View,
    ViewError,
    add_filter,
    interval_label,
    logq_command,
    parse_view,
)
from server.console.web import ENV, HEADERS, ConsoleError, page, render, url

PAGE = 100  # hits per page (the first, and each "load more")
SAMPLE = 500  # newest hits the field sidebar counts values in
TOP_VALUES = 5
SERIES = 8  # histogram series; the rest are (other)
STATS_GROUPS = 50
CONTEXT_LINES = 20
HOUR = 3_600_000
_SKIP_FIELDS = frozenset({"@timestamp", "event.id"})  # a filter on these is never what a click means
_KEYS = KeyChoice()


# ---- what the page shows --------------------------------------------------------------------------


@dataclass(slots=True)
class FieldSummary:
    name: str
    docs: int  # sampled docs that have it
    top: list[tuple[Any, int]]  # (value, count) in the sample, most common first


@dataclass(slots=True)
class StatsTable:
    columns: list[str]  # the stats_by fields, then count, then each metric
    rows: list[tuple[list[Any], int, list[Any]]]  # (group values, count, metric values)
    total: int
    truncated: bool


@dataclass(slots=True)
class Results:
    total: int
    histogram: aggs.Histogram
    hits: list[Hit]
    next_after: Cursor | None
    sampled: int
    fields: list[FieldSummary]
    warnings: list[str] = field(default_factory=list)
    stats: StatsTable | None = None


def summarize(hit: Hit) -> dict[str, Any]:
    """What a hit's row shows, and its full JSON for the expanded view."""
    doc = hit.source
    _, level_key, service_key, message_key = _KEYS.pick(doc)
    level = get_path(doc, level_key) if level_key else None
    message = get_path(doc, message_key) if message_key else None
    return {
        "id": hit.id,
        "ts": hit.ts,
        "dom": "d" + hashlib.sha1(hit.id.encode()).hexdigest()[:16],
        "level": "" if level is None else str(level),
        "service": "" if not service_key else str(get_path(doc, service_key) or ""),
        "host": str(get_path(doc, "host.name") or ""),
        "message": orjson.dumps(doc).decode() if message is None else str(message),
        "json": orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode(),
        "context": url("/ui/logs/context", {"id": hit.id, "ts": str(hit.ts)}),
    }


def render_hits(hits: Iterable[Hit]) -> str:
    return ENV.get_template("_hits.html").render(hits=[summarize(h) for h in hits])


def _field_summaries(sample: list[Hit], page: list[Hit]) -> list[FieldSummary]:
    """The fields of the page's hits, with their values counted over the whole sample."""
    names = sorted({p for h in page for p, _ in flatten(h.source)} - _SKIP_FIELDS)
    values: dict[str, Counter[Any]] = {n: Counter() for n in names}
    docs: Counter[str] = Counter()
    for hit in sample:
        for path, value in flatten(hit.source):
            if path in values:
                docs[path] += 1
                if isinstance(value, str | int | float | bool):
                    values[path][value] += 1
    return [FieldSummary(n, docs[n], values[n].most_common(TOP_VALUES)) for n in names]


def _stats(store: Store, view: View) -> StatsTable | None:
    if not view.stats and not view.stats_by:
        return None
    metrics = tuple(s.metric for s in view.stats if s.metric is not None)
    by = tuple(view.stats_by)
    req = AggRequest(view.query, view.start, view.end, metrics=metrics, group_by=by, group_limit=STATS_GROUPS)
    result: AggResult = store.aggregate([req])[0]
    rows = [
        ([r.group.get(f) for f in view.stats_by], r.count, [r.values.get(m.name) for m in metrics])
        for r in sorted(result.rows, key=lambda r: -r.count)
    ]
    if not view.stats_by:
        only = result.rows[0] if result.rows else None
        rows = [([], result.total, [only.values.get(m.name) if only else None for m in metrics])]
    columns = [*view.stats_by, "count", *(m.name for m in metrics)]
    return StatsTable(columns, rows, result.total, result.truncated)


def discover(store: Store, view: View) -> Results:
    """Everything the page shows for ``view``: one aggregate for the chart and the count, one search
    for the first page and the sidebar's sample, the missing-field check, and the stats table."""
    hist = aggs.histogram(store, view.query, view.start, view.end, view.interval, view.by or None, SERIES)
    sample = list(store.search(view.query, view.start, view.end, order="desc", limit=max(SAMPLE, PAGE + 1)))
    page_hits = sample[:PAGE]
    more = len(sample) > PAGE
    named = aggs.query_fields(parse_query(view.query)) + view.fields()
    warnings = [
        w.replace(" (--sample)", "")
        for w in aggs.unknown_field_warnings(store, list(dict.fromkeys(named)), view.start, view.end, SAMPLE)
    ]
    return Results(
        total=hist.total,
        histogram=hist,
        hits=page_hits,
        next_after=page_hits[-1].cursor if more else None,
        sampled=len(sample),
        fields=_field_summaries(sample, page_hits),
        warnings=warnings,
        stats=_stats(store, view),
    )


# ---- handlers --------------------------------------------------------------------------------------


def _view(request: Request) -> View:
    return parse_view(dict(request.query_params), context(request).config.queries)


def _chart(view: View, hist: aggs.Histogram) -> Any:
    h = svg.Histogram(hist.buckets, hist.interval_ms, hist.series, hist.counts)

    def href(start: int, end: int) -> str:
        return url("/ui/logs", view.params, **{"from": format_ts(start), "to": format_ts(end)})

    return svg.histogram(h, href)


def _page_values(request: Request, view: View | None, error: ViewError | None) -> dict[str, Any]:
    params = dict(request.query_params)
    return {
        "view": view,
        "params": params,
        "q": params.get("q", ""),
        "from_": params.get("from", "") or "now-1h",
        "to": params.get("to", "") or "now",
        "error": error,
        "quick": QUICK_RANGES,
        "results": None,
        "chart": None,
        "legend": [],
        "command": logq_command(view) if view is not None else "",
        "interval": interval_label(view) if view is not None else "",
        "add_filter": add_filter,
        "sample_size": SAMPLE,
    }


@page
async def logs_page(request: Request) -> Response:
    try:
        view = _view(request)
    except ViewError as e:
        return render(request, "logs.html", 400, **_page_values(request, None, e))
    values = _page_values(request, view, None)
    if view.tail:
        return render(request, "logs.html", **values)
    try:
        results = await run_in_threadpool(discover, context(request).reader, view)
    except QueryError as e:  # found only when the store translates it (a bad regex)
        lines = e.render().splitlines()
        error = ViewError("q", lines[0], "\n".join(line[2:] for line in lines[1:]))
        return render(request, "logs.html", 400, **{**values, "error": error})
    except StoreError as e:
        raise ConsoleError(503, f"the store cannot be read: {e}") from None
    palette = svg.colors(results.histogram.series)
    legend = [
        (label or "all", palette[label], sum(results.histogram.counts.get(label, {}).values()))
        for label in results.histogram.series
    ]
    more = _more_url(view, results.next_after)
    return render(
        request,
        "logs.html",
        **{**values, "results": results, "chart": _chart(view, results.histogram), "legend": legend},
        hits_html=render_hits(results.hits),
        more=more,
        stats_chart=_stats_chart(results.stats),
    )


def _more_url(view: View, after: Cursor | None) -> str | None:
    if after is None:
        return None
    return url("/ui/api/hits", view.absolute(), after_ts=str(after.ts), after_id=after.id)


def _stats_chart(table: StatsTable | None) -> Any:
    if table is None or not table.rows:
        return None
    # The first metric's value per group (count when the table has no metric), the top 20 groups.
    chart_rows = []
    for group, count, values in table.rows[:20]:
        label = ", ".join("(missing)" if v is None else str(v) for v in group) or "all"
        chart_rows.append((label, values[0] if values else count))
    return svg.bars(chart_rows)


def _cursor(request: Request) -> Cursor | None:
    ts, cid = request.query_params.get("after_ts"), request.query_params.get("after_id")
    if ts is None or cid is None:
        return None
    try:
        return Cursor(int(ts), cid)
    except ValueError:
        raise ConsoleError(400, f"after_ts: expected epoch milliseconds, got {ts!r}") from None


def _next_page(store: Store, view: View, after: Cursor | None) -> tuple[list[Hit], Cursor | None]:
    hits = list(store.search(view.query, view.start, view.end, order="desc", limit=PAGE + 1, after=after))
    return hits[:PAGE], (hits[PAGE - 1].cursor if len(hits) > PAGE else None)


@page
async def api_hits(request: Request) -> Response:
    """The page of hits after ``after_ts``/``after_id`` (newest first), as HTML rows, and the next URL."""
    try:
        view = _view(request)
    except ViewError as e:
        raise ConsoleError(400, str(e), e.detail) from None
    try:
        hits, after = await run_in_threadpool(_next_page, context(request).reader, view, _cursor(request))
    except StoreError as e:
        raise ConsoleError(503, f"the store cannot be read: {e}") from None
    body = {"html": render_hits(hits), "count": len(hits), "next": _more_url(view, after)}
    return json_response(body, headers=HEADERS)


def _tails(request: Request) -> Tails:
    state = request.app.state
    tails: Tails | None = getattr(state, "console_tails", None)
    if tails is None:
        tails = Tails()
        state.console_tails = tails
    return tails


def _tail_poll(
    tails: Tails, store: Store, view: View, tail_id: str, after: Cursor | None
) -> tuple[str, list[Hit]]:
    if not tail_id:
        return tails.start(store, view.query, view.start)
    hits = tails.poll(tail_id)
    if hits is not None:
        return tail_id, hits
    if after is None:  # gone before it showed anything: start again
        return tails.start(store, view.query, view.start)
    tail_id = tails.resume(store, view.query, after)
    return tail_id, tails.poll(tail_id) or []


@page
async def api_tail(request: Request) -> Response:
    """The live tail's new lines, oldest first, as HTML rows; ``tail`` is the id to send next time."""
    try:
        view = _view(request)
    except ViewError as e:
        raise ConsoleError(400, str(e), e.detail) from None
    tail_id = request.query_params.get("tail_id", "")
    after = _cursor(request)
    try:
        tail_id, hits = await run_in_threadpool(
            _tail_poll, _tails(request), context(request).reader, view, tail_id, after
        )
    except StoreError as e:
        raise ConsoleError(503, f"the store cannot be read: {e}") from None
    last = hits[-1].cursor if hits else after
    body = {
        "tail": tail_id,
        "html": render_hits(hits),
        "count": len(hits),
        "cursor": None if last is None else {"ts": last.ts, "id": last.id},
    }
    return json_response(body, headers=HEADERS)


def _context(store: Store, doc_id: str, ts: int, n: int) -> dict[str, Any]:
    """The doc and ``n`` lines each side of it, from its file and host (what a doc lacks is said)."""
    at = ms_to_datetime(ts)
    found = list(store.search(f'event.id:"{_escape(doc_id)}"', at, ms_to_datetime(ts + 1), limit=1))
    if not found:
        raise ConsoleError(404, f"no doc {doc_id} at {format_ts(ts)} (gone by retention, or a wrong link)")
    hit = found[0]
    clauses, missing = [], []
    for name in ("log.file.path", "host.name"):
        value = get_path(hit.source, name)
        if isinstance(value, str) and value:
            clauses.append(f'{name}:"{_escape(value)}"')
        else:
            missing.append(name)
    if not clauses:
        raise ConsoleError(404, "this doc has neither log.file.path nor host.name: no file to show it in")
    query = " AND ".join(clauses)
    before = list(store.search(query, order="desc", limit=n, after=hit.cursor))
    after = list(store.search(query, order="asc", limit=n, after=hit.cursor))
    before.reverse()
    return {"hit": hit, "before": before, "after": after, "query": query, "missing": missing}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


@page
async def context_page(request: Request) -> Response:
    params = request.query_params
    doc_id, ts = params.get("id", ""), params.get("ts", "")
    if not doc_id or not ts.isdigit():
        raise ConsoleError(400, "id and ts: a context link names a doc id and its epoch-ms time")
    asked = params.get("n", "")
    n = min(max(int(asked) if asked.isdigit() else CONTEXT_LINES, 1), 500)
    try:
        found = await run_in_threadpool(_context, context(request).reader, doc_id, int(ts), n)
    except StoreError as e:
        raise ConsoleError(503, f"the store cannot be read: {e}") from None
    rows = [*found["before"], found["hit"], *found["after"]]
    at = int(ts)
    return render(
        request,
        "context.html",
        found=found,
        hits_html=ENV.get_template("_hits.html").render(hits=[summarize(h) for h in rows], focus=doc_id),
        n=n,
        more=url("/ui/logs/context", dict(params), n=str(min(n * 2, 500))),
        logs=url("/ui/logs", {"q": found["query"], "from": format_ts(at - HOUR), "to": format_ts(at + HOUR)}),
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/logs", logs_page),
        Route("/logs/context", context_page),
        Route("/api/hits", api_hits),
        Route("/api/tail", api_tail),
    ]
