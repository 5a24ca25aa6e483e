"""What every console page shares: the Jinja2 templates, ``render``, the ``page`` guard and error pages.

Guarantees:

- Every page is rendered by ``render`` from ``templates/`` with autoescaping and ``StrictUndefined``
  (a template naming a value the handler did not pass is a bug that shows, not an empty cell).
  Each answer carries a Content-Security-Policy (scripts and styles from this server only, no
  framing: a silence button cannot be clickjacked) and ``Referrer-Policy: same-origin``.
- A handler wrapped in ``page`` runs only with a session when the server has tokens
  (``session.require_session``). A ``ConsoleError`` it raises is that status with the message on
  the console's error page (or as JSON under ``/ui/api/``); anything else is logged with its
  traceback and answered 500 with one line, never a Python traceback in the browser.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from server.app import json_response
from server.console import session

log = logging.getLogger("server.console")

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

Endpoint = Callable[[Request], Awaitable[Response]]


class ConsoleError(Exception):
    """A request the console cannot answer as asked: ``status`` and one line for the user."""

    def __init__(self, status: int, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail  # shown pre-formatted under the message (a query with its caret)


def _static_version() -> str:
    # Part of every asset URL: a new release's CSS/JS is fetched, never an old cached one.
    digest = hashlib.sha256()
    for item in sorted(resources.files("server.console").joinpath("static").iterdir(), key=lambda p: p.name):
        if item.is_file():
            digest.update(item.read_bytes())
    return digest.hexdigest()[:10]


STATIC_VERSION = _static_version()


def format_ms(ms: int | float | None) -> str:
    """Epoch ms as ``2026-11-22 06:39:00.123`` (UTC, as every time in the console)."""
    if ms is None:
        return ""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{int(ms) % 1000:03d}"


def number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1e15 else f"{value:.3g}"
    return str(value)


def url(path: str, params: Mapping[str, Any] | None = None, **changes: Any) -> str:
    """``path`` with ``params`` updated by ``changes`` (a None value drops the key) as the query."""
    merged = {k: v for k, v in {**(params or {}), **changes}.items() if v not in (None, "")}
    return f"{path}?{urlencode(merged)}" if merged else path


ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("server.console", "templates"),
    autoescape=jinja2.select_autoescape(["html", "svg"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters["ms"] = format_ms
ENV.filters["num"] = number
ENV.globals["url"] = url


def static(path: str) -> str:
    return f"/ui/static/{path}?v={STATIC_VERSION}"


ENV.globals["static"] = static


def nav(request: Request) -> list[dict[str, Any]]:
    from server.console import PAGES

    here = request.url.path
    return [
        {"path": path, "label": label, "active": here == path or here.startswith(path + "/")}
        for path, label in PAGES
    ]


def render(request: Request, template: str, status: int = 200, /, **values: Any) -> HTMLResponse:
    """``template`` rendered with ``values`` and the frame's own (nav, session, csrf, static)."""
    current = session.current_session(request)
    frame = {
        "request": request,
        "nav": nav(request),
        "auth": session.auth_required(request),
        "user": current.client if current is not None else None,
        "csrf": session.csrf_token(request),
        "writable": session.writable(request),
    }
    html = ENV.get_template(template).render({**frame, **values})
    return HTMLResponse(html, status_code=status, headers=HEADERS)


MAX_FORM = 64 * 1024  # bytes of one form body: a silence or a login, never an upload


async def form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` POST body as {name: value} (the last value of a
    repeated name). Parsed here rather than by Starlette, whose parser needs python-multipart for
    the forms a browser sends. A body over ``MAX_FORM`` is a ConsoleError 413."""
    body = await request.body()
    if len(body) > MAX_FORM:
        raise ConsoleError(413, f"the form is {len(body):,} bytes; the console takes at most {MAX_FORM:,}")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and kind != "application/x-www-form-urlencoded":
        got = kind or "no type"
        raise ConsoleError(415, f"expected a form (application/x-www-form-urlencoded), got {got}")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def error_page(request: Request, status: int, message: str, detail: str | None = None) -> Response:
    if request.url.path.startswith("/ui/api/"):
        return json_response({"error": message, "detail": detail}, status, HEADERS)
    return render(request, "error.html", status, status=status, message=message, detail=detail)


def page(endpoint: Endpoint) -> Endpoint:
    """Guard a console handler: the session check, then its errors as the console's error page."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        refused = session.require_session(request)
        if refused is not None:
            return refused
        try:
            return await endpoint(request)
        except ConsoleError as e:
            return error_page(request, e.status, e.message, e.detail)
        except Exception as e:  # a bug: the trace in the server's log, one line in the browser
            log.exception("console page failed", extra={"path": request.url.path})
            return error_page(request, 500, f"the console failed: {type(e).__name__}: {e}")

    return guarded


async def not_found(request: Request) -> Response:
    refused = session.require_session(request)
    if refused is not None:
        return refused
    return error_page(request, 404, f"no console page at {request.url.path}")
