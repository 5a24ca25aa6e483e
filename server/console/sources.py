"""The Sources page, ``/ui/sources``: which hosts and files sent logs, and what the server refused.

What it shows, and where each number comes from (nothing is invented):

- Per (``host.name``, ``log.file.path``) seen in the window (``window``: 1h, 24h or 7d; default
  24h): the last doc's ``@timestamp`` (an aggregate's max), docs in the window and in the last
  hour. Docs with neither field (a client other than the shipper, writing through ``_bulk``) are
  counted on one line of their own, never dropped silently.
- Lag: the shipper measures it on its host (``shipper status``, the ``shipper_lag_bytes`` gauge)
  and sends it nowhere, so the page says "not reported" and where to look.
- Dead letters: each shipper keeps the docs the store rejected, with the reason, in its own
  registry on its host (``shipper dlq list``; ``shipper dlq replay`` sends them again). The server
  cannot see those, so there is no replay button here; it shows what it knows: the ``_bulk`` items
  it rejected, refused or throttled since it started (its Prometheus counters).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from logq.timerange import current_time
from logstore import Store, StoreError
from logstore.types import AggRequest, Metric, datetime_to_ms, format_ts
from server.app import context
from server.console.view import quote_value
from server.console.web import ConsoleError, page, render, url

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
DEFAULT_WINDOW = "24h"
GROUPS = 1000  # (host, file) pairs shown; more says so
QUIET_MS = 3_600_000  # a source whose last doc is older than this is marked quiet
FIELDS = ("host.name", "log.file.path")


@dataclass(slots=True)
class Source:
    host: str | None
    file: str | None
    last_ms: int | None
    docs: int
    last_hour: int
    logs: str  # the Logs page for this source's docs


@dataclass(slots=True)
class Sources:
    rows: list[Source]
    total: int  # docs in the window
    unattributed: int  # docs with neither host.name nor log.file.path
    truncated: bool


def _logs_link(host: str | None, file: str | None, start: datetime, end: datetime) -> str:
    """The Logs page for exactly this source's docs in the window (a missing field: docs without it)."""
    clauses = [
        f"{name}:{quote_value(value)}" if value is not None else f"-_exists_:{name}"
        for name, value in zip(FIELDS, (host, file), strict=True)
    ]
    window = {"from": format_ts(datetime_to_ms(start)), "to": format_ts(datetime_to_ms(end))}
    return url("/ui/logs", {"q": " AND ".join(clauses), **window})


def gather(store: Store, now: datetime, window: timedelta) -> Sources:
    """One round trip of aggregates: the window by (host, file) with the last doc's time, the last
    hour by the same, and the window by each field alone (for docs that have only one of them)."""
    start, hour = now - window, now - timedelta(hours=1)
    last = Metric("last", "max", field="@timestamp")
    results = store.aggregate(
        [
            AggRequest("", start, now, metrics=(last,), group_by=FIELDS, group_limit=GROUPS),
            AggRequest("", hour, now, group_by=FIELDS, group_limit=GROUPS),
            AggRequest("", start, now, group_by=("host.name",), group_limit=GROUPS),
            AggRequest("", start, now, group_by=("log.file.path",), group_limit=GROUPS),
        ]
    )
    window_res, hour_res, by_host, by_file = results
    recent = {(r.group.get(FIELDS[0]), r.group.get(FIELDS[1])): r.count for r in hour_res.rows}
    rows = []
    for r in window_res.rows:
        host, file = r.group.get(FIELDS[0]), r.group.get(FIELDS[1])
        if host is None and file is None:
            continue  # a backend may group the docs lacking both (SQLite's columns do): counted below
        value = r.values.get("last")
        last_ms = int(value) if isinstance(value, int | float) else None
        link = _logs_link(host, file, start, now)
        rows.append(Source(host, file, last_ms, r.count, recent.get((host, file), 0), link))
    rows.sort(key=lambda s: (str(s.host), str(s.file)))
    # A doc with one of the two fields is in a row of that field's own aggregate only: count those
    # as "host only"/"file only" rows, so every doc of the window is on the page once.
    rows += _partial(by_host.rows, window_res.rows, 0, start, now)
    rows += _partial(by_file.rows, window_res.rows, 1, start, now)
    attributed = sum(s.docs for s in rows)
    return Sources(rows, window_res.total, max(0, window_res.total - attributed), window_res.truncated)


def _partial(single: list[Any], pairs: list[Any], index: int, start: datetime, end: datetime) -> list[Source]:
    """Sources with only one of the two fields: that field's total minus its pairs' counts."""
    name = FIELDS[index]
    paired: dict[Any, int] = {}
    for r in pairs:
        key = r.group.get(name)
        paired[key] = paired.get(key, 0) + r.count
    out = []
    for r in single:
        value = r.group.get(name)
        if value is None:
            continue
        rest = r.count - paired.get(value, 0)
        if rest > 0:
            host, file = (value, None) if index == 0 else (None, value)
            out.append(Source(host, file, None, rest, 0, _logs_link(host, file, start, end)))
    return out


def server_counts() -> dict[str, float]:
    """What this server counted since it started (its own Prometheus counters; 0 when never moved)."""

    def sample(name: str, labels: dict[str, str] | None = None) -> float:
        return REGISTRY.get_sample_value(name, labels or {}) or 0.0

    return {
        "created": sample("server_bulk_docs_total", {"result": "created"}),
        "duplicate": sample("server_bulk_docs_total", {"result": "duplicate"}),
        "rejected": sample("server_bulk_docs_total", {"result": "rejected"}),
        "overloaded": sample("server_bulk_overloaded_total"),
        "too_large": sample("server_requests_refused_total", {"limit": "max_body"})
        + sample("server_requests_refused_total", {"limit": "max_docs"}),
        "timed_out": sample("server_requests_refused_total", {"limit": "request_timeout"}),
        "store_errors": sample("server_store_errors_total"),
    }


@page
async def sources_page(request: Request) -> Response:
    choice = request.query_params.get("window", DEFAULT_WINDOW)
    if choice not in WINDOWS:
        raise ConsoleError(400, f"window: expected one of {', '.join(WINDOWS)}, got {choice!r}")
    now = current_time(None)
    try:
        found = await run_in_threadpool(gather, context(request).reader, now, WINDOWS[choice])
    except StoreError as e:
        raise ConsoleError(503, f"the store cannot be read: {e}") from None
    return render(
        request,
        "sources.html",
        found=found,
        window=choice,
        windows=list(WINDOWS),
        now_ms=datetime_to_ms(now),
        quiet_ms=QUIET_MS,
        counts=server_counts(),
    )


def routes() -> list[BaseRoute]:
    return [Route("/sources", sources_page)]
