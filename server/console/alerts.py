"""The console's Alerts pages: the rules and their state, one rule's page, silences, the notification log.

- ``GET /ui/alerts``: every rule of the server config's ``alerter.rules`` with its state, value
  against the threshold, last and next evaluation; ``state``, ``severity`` and ``label`` filter it.
- ``GET /ui/alerts/{rule}``: the rule's value over the last 24 h against its threshold, its
  transitions, the sample lines and top values of the latest evaluation (or of the window the URL's
  ``from``/``to`` name: a notification's link), and a link to those lines in Logs.
- ``GET /ui/silences``: silences, and the form to add one (``rule`` and ``match`` in the URL
  pre-fill it, so a firing alert links to its own silence); ``POST /ui/silences`` adds one,
  ``POST /ui/silences/{id}/expire`` ends one.
- ``GET /ui/notifications``: what was sent to which channel and when, failed deliveries with the
  reason, and what is being retried now.

Guarantees: every view is in the URL (a link reproduces it); a bad filter or form field is one line
naming it (400), never a traceback; the two POSTs change state only with the frame's CSRF check
passed (``session.check_csrf``: the session too when the server has tokens; refused outright on a
tokenless server open to a network), else a 403 page saying why. Store and state calls run in the
thread pool.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from alerter.conditions import Window
from alerter.notify.matchers import Matcher, MatcherError, parse_matcher
from alerter.notify.state import Silence
from logstore import QueryError, parse_query
from logstore.config import format_duration, parse_duration
from logstore.types import StoreError
from server.app import context
from server.console import alert_views as views
from server.console import session
from server.console.web import ConsoleError, form, page, render

LOG_LIMIT = 200  # rows of the notification log on one page
T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC)


def _param(request: Request, name: str) -> str:
    return request.query_params.get(name, "").strip()


async def alerts_page(request: Request) -> Response:
    ctx = context(request)
    state, severity, label = _param(request, "state"), _param(request, "severity"), _param(request, "label")

    def gather() -> dict[str, Any]:
        now = _now()
        loaded = views.load(ctx.config)
        instances, metas = ctx.state.alert().load() if loaded.rules else ([], [])
        every = views.rule_rows(loaded, instances, metas, now)
        try:
            rows = views.filter_rows(every, state, severity, label)
        except views.FilterError as e:
            raise ConsoleError(400, str(e)) from None
        return {
            "loaded": loaded,
            "rows": rows,
            "total": len(every),
            "counts": views.state_counts(every),
            "severities": sorted({r.rule.severity for r in every}, key=views.severity_rank),
            "labels": views.label_choices(loaded),
            "now": views.ts_text(now),
        }

    data = await run_in_threadpool(_store_call, gather)
    filters = {"state": state, "severity": severity, "label": label}
    return render(request, "alerts.html", filters=filters, states=views.STATES, **data)


def _store_call(fn: Callable[[], T]) -> T:
    """``fn()``, with a store or state that cannot be read as a 503 page naming why."""
    try:
        return fn()
    except StoreError as e:
        raise ConsoleError(503, f"the store cannot be read: {e}") from None


async def rule_page(request: Request) -> Response:
    ctx = context(request)
    name = request.path_params["rule"]
    fingerprint = _param(request, "fingerprint")
    window_query = _window_from_url(request)

    def gather() -> dict[str, Any]:
        now = _now()
        loaded = views.load(ctx.config)
        found = loaded.find(name)
        if found is None:
            where = ", ".join(ctx.config.alerter.rules)
            raise ConsoleError(404, f"no rule named {name!r} in alerter.rules ({where})")
        rule = found.rule
        instances, metas = ctx.state.alert().load()
        mine = [i for i in instances if i.rule == name]
        meta = next((m for m in metas if m.rule == name), None)
        inst = views.pick_instance(mine, fingerprint)
        window, query = (
            window_query if window_query is not None else (views.latest_window(rule, meta, now), "")
        )
        return {
            "source": found,
            "rule": rule,
            "schedule": views.schedule_text(rule),
            "meta": meta,
            "rows": views.rule_rows(views.Loaded([found], [], None), mine, [meta] if meta else [], now),
            "history": views.history(ctx.reader, rule, ctx.config, now),
            "transitions": views.transitions(ctx.reader, name, now),
            "evidence": views.evidence(ctx.reader, rule, inst, window, query),
            "now": views.ts_text(now),
        }

    data = await run_in_threadpool(_store_call, gather)
    return render(request, "rule.html", **data)


def _window_from_url(request: Request) -> tuple[Window, str] | None:
    """``from``, ``to`` and ``query`` of a notification's link: the evidence's window and query;
    None when the URL names no window. A bad time or query is a 400 naming the parameter (the
    query with logq's caret), never a page that silently shows no lines."""
    start, end = _param(request, "from"), _param(request, "to")
    if not start and not end:
        return None
    try:
        window = Window(_iso(start), _iso(end))
    except ValueError:
        raise ConsoleError(
            400, f"from/to: expected ISO times like 2026-03-01T12:00:00Z, got {start!r} and {end!r}"
        ) from None
    if window.start.tzinfo is None or window.end.tzinfo is None or window.end <= window.start:
        raise ConsoleError(400, "from/to: expected two times with a zone (Z), from before to")
    query = _param(request, "query")
    try:
        parse_query(query)
    except QueryError as e:
        raise ConsoleError(400, f"query: {e}", e.render().split("\n", 1)[1]) from None
    return window, query


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---- silences --------------------------------------------------------------------------------------


def _form_defaults(request: Request) -> dict[str, str]:
    """The add form as the URL pre-fills it (a firing alert's link names its rule and group)."""
    current = session.current_session(request)
    return {
        "rule": _param(request, "rule"),
        "matchers": "\n".join(v for v in request.query_params.getlist("match") if v.strip()),
        "duration": _param(request, "duration") or "2h",
        "comment": _param(request, "comment"),
        "author": current.client if current is not None else _param(request, "author"),
    }


async def silences_page(request: Request) -> Response:
    return await _silences(request, _form_defaults(request))


async def _silences(request: Request, fields: dict[str, str], status: int = 200, error: str = "") -> Response:
    ctx = context(request)

    def gather() -> dict[str, Any]:
        now = _now()
        names = [rs.rule.name for rs in views.load(ctx.config).rules]
        return {
            "rows": views.silence_rows(ctx.state.notify(), now),
            "now": views.ts_text(now),
            "rule_names": names,
        }

    data = await run_in_threadpool(_store_call, gather)
    notice = ""
    if _param(request, "created"):
        notice = f"silence {_param(request, 'created')} added"
    elif _param(request, "expired"):
        notice = f"silence {_param(request, 'expired')} expired"
    return render(request, "silences.html", status, form=fields, error=error, notice=notice, **data)


class FormError(ValueError):
    """A field of the add form that cannot be used; ``str()`` names the field."""


def _matchers(text: str) -> tuple[Matcher, ...]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append(parse_matcher(line))
            except MatcherError as e:
                raise FormError(
                    f"matchers, line {n}: {e} (e.g. host.name=web1 or host.name=~web[12])"
                ) from None
    return tuple(out)


def build_silence(form: dict[str, str], loaded: views.Loaded, now: datetime) -> Silence:
    """The silence the form asks for; FormError naming the first field that is wrong."""
    rule = form["rule"]
    if not rule:
        raise FormError("rule: name the rule to silence (a glob like nginx-* or * for every rule)")
    if (
        not any(c in rule for c in "*?[")
        and loaded.rules
        and loaded.find(rule.removeprefix("alerter:")) is None
    ):
        raise FormError(f"rule: no rule named {rule!r} in alerter.rules: the silence would mute nothing")
    matchers = _matchers(form["matchers"])
    try:
        duration = parse_duration(form["duration"])
    except ValueError as e:
        raise FormError(f"duration: {e}") from None
    if duration.total_seconds() <= 0:
        raise FormError("duration: must be longer than zero, e.g. 2h")
    if not form["comment"]:
        raise FormError("comment: say why (the on-call reads it when the alert stays quiet)")
    if not form["author"]:
        raise FormError("author: say who is silencing it")
    return Silence(
        uuid.uuid4().hex[:12], rule, matchers, now, now + duration, form["comment"], form["author"], now
    )


async def add_silence(request: Request) -> Response:
    data = await form(request)
    refused = session.check_csrf(request, data)
    if refused is not None:
        raise ConsoleError(403, f"the silence was not added: {refused}")
    ctx = context(request)
    current = session.current_session(request)
    fields = {
        k: str(data.get(k) or "").strip() for k in ("rule", "matchers", "duration", "comment", "author")
    }
    if current is not None:
        fields["author"] = current.client  # who is logged in, not what the form claims
    try:
        silence = await run_in_threadpool(lambda: build_silence(fields, views.load(ctx.config), _now()))
    except FormError as e:
        return await _silences(request, fields, 400, str(e))
    await run_in_threadpool(_store_call, lambda: ctx.state.notify().add_silence(silence))
    return RedirectResponse(f"/ui/silences?created={quote(silence.id)}", status_code=303)


async def expire_silence(request: Request) -> Response:
    data = await form(request)
    refused = session.check_csrf(request, data)
    if refused is not None:
        raise ConsoleError(403, f"the silence was not expired: {refused}")
    ctx = context(request)
    silence_id = request.path_params["silence"]
    done = await run_in_threadpool(_store_call, lambda: ctx.state.notify().expire_silence(silence_id, _now()))
    if not done:
        raise ConsoleError(404, f"no active silence with id {silence_id!r}: it ended already, or never was")
    return RedirectResponse(f"/ui/silences?expired={quote(silence_id)}", status_code=303)


# ---- the notification log --------------------------------------------------------------------------


async def notifications_page(request: Request) -> Response:
    ctx = context(request)
    channel, outcome = _param(request, "channel"), _param(request, "outcome")
    if outcome and outcome not in ("sent", "failed"):
        raise ConsoleError(400, f"outcome: expected sent or failed, got {outcome!r}")

    def gather() -> dict[str, Any]:
        now = _now()
        state = ctx.state.notify()
        since = now - ctx.config.notify.log_retention
        rows = views.notification_log(state, since, LOG_LIMIT)
        return {"rows": rows, "retrying": views.retrying(state.load_groups()), "now": views.ts_text(now)}

    data = await run_in_threadpool(_store_call, gather)
    rows = [
        r
        for r in data.pop("rows")
        if (not channel or r.channel == channel)
        and (not outcome or (r.outcome == "failed") == (outcome == "failed"))
    ]
    channels = [c.name for c in ctx.config.notify.channels]
    filters = {"channel": channel, "outcome": outcome}
    retention = format_duration(ctx.config.notify.log_retention)
    return render(
        request,
        "notifications.html",
        rows=rows,
        channels=channels,
        filters=filters,
        retention=retention,
        limit=LOG_LIMIT,
        **data,
    )


def routes() -> list[BaseRoute]:
    """The Alerts pages, relative to ``/ui``."""
    return [
        Route("/alerts", page(alerts_page), methods=["GET"]),
        Route("/alerts/{rule}", page(rule_page), methods=["GET"]),
        Route("/silences", page(silences_page), methods=["GET"]),
        Route("/silences", page(add_silence), methods=["POST"]),
        Route("/silences/{silence}/expire", page(expire_silence), methods=["POST"]),
        Route("/notifications", page(notifications_page), methods=["GET"]),
    ]
