"""The console's login, its session cookie, and the CSRF token every state-changing form carries.

Guarantees:

- Without ``server.auth.tokens`` (a loopback server, or one that says ``insecure: true``) every
  page is open, as the rest of the server is. With tokens, every console page but the login form
  and the static assets needs a session: a GET is redirected to ``/ui/login?next=...``, a JSON call
  under ``/ui/api/`` gets a 401.
- The login form takes a token the server accepts (``server.auth.Tokens``, the same check as the
  ``Authorization`` header) and sets ``lw_session``: HttpOnly, SameSite=Strict, Path=/ui, Secure
  over TLS. The cookie holds the client's name, an expiry and a random nonce, signed with
  HMAC-SHA256 under a key of this process (random at start: a restart logs everyone out); never the
  token itself.
- A POST that changes state passes ``check_csrf``: the form's ``csrf`` field must equal
  ``csrf_token(request)`` (an HMAC of the session's nonce, so a cross-site page cannot know it) and
  an ``Origin`` header, when the browser sends one, must be this server. With tokens, the session
  is needed too. A tokenless server on a network address (``insecure: true``) refuses every POST:
  anyone who can reach it could otherwise change it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from server.app import context
from server.auth import Tokens
from server.config import host_port, is_loopback

COOKIE = "lw_session"
SESSION_SECONDS = 12 * 3600  # a working day; then the token is pasted again
LOGIN = "/ui/login"


@dataclass(frozen=True, slots=True)
class Session:
    client: str  # the token's name in server.auth.tokens
    nonce: str
    expires: int  # epoch seconds


def _key(request: Request) -> bytes:
    # One key per app (per process): made on first use, kept on the app's state.
    state = request.app.state
    key: bytes | None = getattr(state, "console_key", None)
    if key is None:
        key = secrets.token_bytes(32)
        state.console_key = key
    return key


def _sign(key: bytes, payload: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, payload, hashlib.sha256).digest()).decode().rstrip("=")


def _tokens(request: Request) -> Tokens:
    return Tokens(context(request).config.server.auth.tokens)


def auth_required(request: Request) -> bool:
    """True when the server has client tokens: the console then needs a login."""
    return bool(context(request).config.server.auth.tokens)


def writable(request: Request) -> bool:
    """Whether state may change through the console: not on a tokenless server open to a network."""
    if auth_required(request):
        return True
    host, _ = host_port(context(request).config.server.listen)
    return is_loopback(host)


def encode_session(key: bytes, session: Session) -> str:
    payload = orjson.dumps({"c": session.client, "n": session.nonce, "e": session.expires})
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{body}.{_sign(key, payload)}"


def decode_session(key: bytes, value: str, now: float) -> Session | None:
    """The session a cookie value proves, or None (bad signature, malformed, or expired)."""
    body, _, signature = value.partition(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        return None
    if not hmac.compare_digest(_sign(key, payload), signature):
        return None
    try:
        data = orjson.loads(payload)
        session = Session(str(data["c"]), str(data["n"]), int(data["e"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return session if session.expires > now else None


def current_session(request: Request) -> Session | None:
    value = request.cookies.get(COOKIE)
    return None if not value else decode_session(_key(request), value, time.time())


def require_session(request: Request) -> Response | None:
    """None when the request may see console pages; else the answer to give (login redirect, 401)."""
    if not auth_required(request) or current_session(request) is not None:
        return None
    if request.url.path.startswith("/ui/api/"):
        from server.app import json_response

        return json_response({"error": "log in to the console first", "login": LOGIN}, 401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{LOGIN}?next={quote(target, safe='')}", status_code=303)


def csrf_token(request: Request) -> str:
    """The value a form's hidden ``csrf`` field carries for this session (or for the anonymous
    console of a tokenless server, whose pages a cross-site page cannot read either)."""
    session = current_session(request)
    nonce = session.nonce if session is not None else "anonymous"
    return _sign(_key(request), f"csrf:{nonce}".encode())


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # browsers send Origin on every cross-site POST; without one it is no browser's
    # "null" (a sandboxed frame, a privacy redirect) has no host, so it never matches.
    return urlsplit(origin).netloc == request.headers.get("host", "")


def check_csrf(request: Request, form: Mapping[str, Any]) -> str | None:
    """None when a state-changing POST may go on; else the one-line reason it may not (answer 403)."""
    if not writable(request):
        return (
            "this server has no tokens and listens on a network address (server.insecure: true): "
            "the console is read-only; add server.auth.tokens to change anything from it"
        )
    if auth_required(request) and current_session(request) is None:
        return "log in to the console first (your session is missing or expired)"
    if not _same_origin(request):
        return "the form was sent from another site (Origin does not match this server)"
    sent = form.get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_token(request)):
        return "the form's CSRF token is missing or stale: reload the page and try again"
    return None


def _safe_next(value: str | None) -> str:
    # Only a path of the console: a login link must not send the user to another site.
    if value and value.startswith("/ui/") and not value.startswith("//"):
        return value
    return "/ui/"


async def login_form(request: Request) -> Response:
    from server.console.web import render

    nxt = _safe_next(request.query_params.get("next"))
    if not auth_required(request):
        return RedirectResponse(nxt, status_code=303)
    return render(request, "login.html", next=nxt, error=None, login_csrf=_login_csrf(request))


def _login_csrf(request: Request) -> str:
    return _sign(_key(request), b"login")


async def login(request: Request) -> Response:
    """Check the pasted token like the Authorization header is checked; set the session cookie."""
    from server.console.web import form as read_form
    from server.console.web import render

    form = await read_form(request)
    nxt = _safe_next(str(form.get("next") or ""))
    if not auth_required(request):
        return RedirectResponse(nxt, status_code=303)
    sent = str(form.get("csrf") or "")
    if not _same_origin(request) or not hmac.compare_digest(sent, _login_csrf(request)):
        return render(
            request,
            "login.html",
            403,
            next=nxt,
            error="the login form came from elsewhere: try again",
            login_csrf=_login_csrf(request),
        )
    client = _tokens(request).client(f"Bearer {str(form.get('token') or '').strip()}")
    if client is None:
        return render(
            request,
            "login.html",
            401,
            next=nxt,
            error="that token is not one of server.auth.tokens",
            login_csrf=_login_csrf(request),
        )
    session = Session(client, secrets.token_urlsafe(16), int(time.time()) + SESSION_SECONDS)
    response = RedirectResponse(nxt, status_code=303)
    response.set_cookie(
        COOKIE,
        encode_session(_key(request), session),
        max_age=SESSION_SECONDS,
        path="/ui",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


async def logout(request: Request) -> Response:
    """End the session (a POST with the CSRF token, so another site cannot log the user out)."""
    from server.console.web import error_page, form

    refused = check_csrf(request, await form(request))
    if refused is not None:
        return error_page(request, 403, refused)
    response = RedirectResponse(LOGIN if auth_required(request) else "/ui/", status_code=303)
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


def routes() -> list[BaseRoute]:
    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
