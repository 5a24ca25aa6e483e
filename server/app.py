"""The server's ASGI app: ``create_app(config)`` -> a Starlette app.

Routes come from their modules (``server.bulk``: Elasticsearch-compatible ingest; ``server.compat``:
the other calls Elasticsearch clients make; ``server.api``: the Store protocol over HTTP). The app
owns one ``ServerContext``: the store it writes to, the writer thread in front of it, and the client
tokens. Guarantees:

- Every route needs a token when tokens are configured, except the probes ``/healthz`` (liveness)
  and ``/readyz`` (readiness), and the web console under ``/ui/`` (``server.console``), which asks
  a browser for its own login and session cookie instead; a missing or wrong token is a 401 in
  Elasticsearch's shape (counted, and logged at most once a minute, never the token).
- ``GET /`` from a browser (``Accept: text/html``, no credentials) is redirected to the console;
  every other ``GET /`` answers like an Elasticsearch cluster.
- Every answer carries ``X-Elastic-Product: Elasticsearch`` (official clients refuse a server
  without it) and, outside ``/ui/``, is JSON: unknown paths and methods are 404s in
  Elasticsearch's error shape, and a bug is a 500 in that shape, never an HTML page.
- ``/metrics`` serves the Prometheus text of ``server.metrics`` (and the process's own).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from logstore.backends import open_store
from logstore.observe import emit
from logstore.protocol import Store
from logwarden.config import Config
from server import events, metrics
from server.auth import Tokens
from server.state import StateHomes
from server.writer import Writer

log = logging.getLogger("server")
GC_EVERY_S = 30.0


@dataclass
class ServerContext:
    config: Config
    store: Store  # the store the server writes to and reads from (thread-safe)
    writer: Writer
    # The Store API's reads (server.api): a connection of their own, so a search never waits for
    # the writer's transaction. The store itself when it was handed to create_app.
    reader: Store
    state: StateHomes  # the alerter's state, for alerters elsewhere (server.state)
    queue_full: events.Throttle = field(default_factory=events.Throttle)  # the 429s' log line

    def close(self) -> None:
        self.writer.close()
        self.state.close()
        if self.reader is not self.store:
            self.reader.close()
        self.store.close()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def error_response(status: int, kind: str, reason: str, headers: dict[str, str] | None = None) -> Response:
    """An error in Elasticsearch's shape, which every ES client and shipper can read and log."""
    return json_response(
        {
            "error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
            "status": status,
        },
        status,
        headers,
    )


def context(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


class TokenAuth:
    """Pure ASGI middleware: a request without a valid token gets a 401 in Elasticsearch's shape."""

    # Probes need no token: a load balancer or Docker's HEALTHCHECK has none.
    OPEN = frozenset({"/healthz", "/readyz"})
    # The console checks its own session cookie (server.console.session): a browser has no header.
    CONSOLE = "/ui"

    def __init__(self, app: ASGIApp, tokens: Tokens) -> None:
        self.app = app
        self.tokens = tokens
        self.throttle = events.Throttle()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        if path == "/" and header is None and scope["method"] == "GET" and _wants_html(scope):
            # A person typed the server's address: show the console (clients never ask for HTML).
            await RedirectResponse("/ui/", status_code=303)(scope, receive, send)
            return
        console = path == self.CONSOLE or path.startswith(self.CONSOLE + "/")
        if not self.tokens.required or path in self.OPEN or console:
            await self.app(scope, receive, send)
            return
        client = self.tokens.client(header)
        if client is None:
            failure = "missing" if header is None else "bad"
            metrics.AUTH_FAILURES.labels(failure).inc()
            n = self.throttle.hit()
            if n is not None:
                peer = scope.get("client")
                emit(events.AuthFailed(f"{peer[0]}:{peer[1]}" if peer else "?", failure, n))
            reason = (
                "missing authentication credentials"
                if header is None
                else "unable to authenticate: bad token"
            )
            response = error_response(
                401,
                "security_exception",
                reason,
                {"WWW-Authenticate": 'Basic realm="logwarden", ApiKey, Bearer'},
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["client"] = client
        await self.app(scope, receive, send)


def _wants_html(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"accept":
            return b"text/html" in value
    return False


class Observe:
    """Pure ASGI middleware, outermost: adds ``X-Elastic-Product`` to every answer and counts it
    by endpoint (the route's handler, a bounded set) and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_with_header(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-elastic-product", b"Elasticsearch")]
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            endpoint = scope.get("endpoint")
            name = getattr(endpoint, "__name__", "none") if endpoint is not None else "none"
            metrics.REQUESTS.labels(name, str(status)).inc()


async def healthz(request: Request) -> Response:
    """Liveness: the event loop answers. A restart is the cure for this one failing, nothing else."""
    return json_response({"ok": True})


async def readyz(request: Request) -> Response:
    """Readiness: the store can be used (503 with the reason when not)."""
    health = context(request).store.health()
    return json_response({"ok": health.ok, "detail": health.detail}, 200 if health.ok else 503)


async def prometheus(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def server_error(request: Request, exc: Exception) -> Response:
    """A bug: logged with its traceback, answered in Elasticsearch's shape (clients retry a 500)."""
    log.error("request failed", exc_info=exc, extra={"path": request.url.path})
    return error_response(500, "internal_server_error", f"the server failed: {type(exc).__name__}")


def routes() -> list[BaseRoute]:
    """Every route. ``compat.routes()`` stays last: its ``/{index}`` matches any one-segment path."""
    from server import api, bulk, compat, console

    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", prometheus),
        *bulk.routes(),
        *api.routes(),
        *console.routes(),
        *compat.routes(),
    ]


async def _collect_garbage() -> None:
    """Where ``logwarden serve`` turned the automatic GC off (server.cli), cycles are collected here."""
    while True:
        await asyncio.sleep(GC_EVERY_S)
        if not gc.isenabled():
            gc.collect()


def create_app(config: Config, store: Store | None = None) -> Starlette:
    """The app over ``config``'s store (opened at start-up unless given, and closed at shutdown)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        collector = asyncio.create_task(_collect_garbage())
        opened = store if store is not None else open_store(config.store)
        reader = store if store is not None else open_store(config.store, create=False)
        writer = Writer(opened, config.server.limits.queue)
        ctx = ServerContext(config, opened, writer, reader, StateHomes(config, opened))
        app.state.ctx = ctx
        server = config.server
        tls, tokens = server.tls is not None, len(server.auth.tokens)
        emit(events.ServerStarted(server.listen, tls, tokens, opened.name))
        try:
            yield
        finally:
            collector.cancel()
            ctx.close()
            emit(events.ServerStopped())

    from server.compat import not_found

    handlers = {404: not_found, 405: not_found, Exception: server_error}
    app = Starlette(routes=routes(), lifespan=lifespan, exception_handlers=handlers)
    app.add_middleware(TokenAuth, tokens=Tokens(config.server.auth.tokens))
    app.add_middleware(Observe)  # added last: outermost, so it sees (and marks) the 401s too
    return app
