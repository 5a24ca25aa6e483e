"""The server's ASGI app: ``create_app(config)`` -> a Starlette app.

Routes come from their modules (``server.bulk``: Elasticsearch-compatible ingest; ``server.api``:
the Store protocol over HTTP). The app owns one ``ServerContext``: the store it writes to, the
writer thread in front of it, and the client tokens. Every route needs a token when tokens are
configured, except the probes ``/healthz`` (liveness) and ``/readyz`` (readiness).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from logstore.backends import open_store
from logstore.protocol import Store
from logwarden.config import Config
from server.auth import Tokens
from server.state import StateHomes
from server.writer import Writer


@dataclass
class ServerContext:
    config: Config
    store: Store  # the store the server writes to and reads from (thread-safe)
    writer: Writer
    # The Store API's reads (server.api): a connection of their own, so a search never waits for
    # the writer's transaction. The store itself when it was handed to create_app.
    reader: Store
    state: StateHomes  # the alerter's state, for alerters elsewhere (server.state)

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

    def __init__(self, app: ASGIApp, tokens: Tokens) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tokens.required or scope["path"] in self.OPEN:
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        client = self.tokens.client(header)
        if client is None:
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


async def healthz(request: Request) -> Response:
    """Liveness: the event loop answers. A restart is the cure for this one failing, nothing else."""
    return json_response({"ok": True})


async def readyz(request: Request) -> Response:
    """Readiness: the store can be used (503 with the reason when not)."""
    health = context(request).store.health()
    return json_response({"ok": health.ok, "detail": health.detail}, 200 if health.ok else 503)


def routes() -> list[BaseRoute]:
    from server import api, bulk

    return [Route("/healthz", healthz), Route("/readyz", readyz), *bulk.routes(), *api.routes()]


def create_app(config: Config, store: Store | None = None) -> Starlette:
    """The app over ``config``'s store (opened at start-up unless given, and closed at shutdown)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened = store if store is not None else open_store(config.store)
        reader = store if store is not None else open_store(config.store, create=False)
        writer = Writer(opened, config.server.limits.queue)
        ctx = ServerContext(config, opened, writer, reader, StateHomes(config, opened))
        app.state.ctx = ctx
        try:
            yield
        finally:
            ctx.close()

    app = Starlette(routes=routes(), lifespan=lifespan)
    app.add_middleware(TokenAuth, tokens=Tokens(config.server.auth.tokens))
    return app
