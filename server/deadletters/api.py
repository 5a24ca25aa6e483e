"""The server's dead letters over HTTP, under the Store API's prefix (docs/server-api.md):

- ``GET /_logwarden/v1/dead-letters?limit=N&before=ID``: newest first, ``limit`` (1 to 1000,
  default 100) of them, those with an id below ``before`` when given; with ``kept`` (how many are
  kept), ``dropped`` (how many the bounds dropped) and ``durable`` (whether they survive a restart).
- ``POST /_logwarden/v1/dead-letters/replay`` ``{"ids": [...]}``: ``server.deadletters.replay``;
  answers ``{"stored", "refused", "missing"}``. A full write queue is a 429, a failing store a 503.

Both need the client token like every Store API route (``server.app.TokenAuth``).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import BaseRoute

from logstore.server.wire import PREFIX
from server.app import ServerContext, error_response
from server.writer import Overloaded

PATH = f"{PREFIX}/dead-letters"
MAX_PAGE = 1000


def _whole(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise ValueError(f"{name}: expected a whole number from {low} to {high}, got {value!r}")
    return int(value)


async def listing(request: Request, ctx: ServerContext) -> Any:
    limit = _whole(request, "limit", 100, 1, MAX_PAGE) or 100
    before = _whole(request, "before", None, 1, 2**62)
    home = ctx.dead_letters
    letters = await run_in_threadpool(home.page, limit, before)
    totals = await run_in_threadpool(home.totals)
    return {
        "dead_letters": [x.to_json() for x in letters],
        "kept": totals.kept,
        "dropped": totals.dropped,
        "durable": home.durable,
    }


def ids_of(value: Any) -> list[int]:
    """The ids a replay asks for; ValueError naming what is wrong."""
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise ValueError("ids: expected a list of whole numbers")
    if len(value) > MAX_PAGE:
        raise ValueError(f"ids: at most {MAX_PAGE} in one replay, got {len(value)}")
    return value


async def replay_route(request: Request, ctx: ServerContext) -> Any:
    from server.api import read_json
    from server.bulk import client_of
    from server.deadletters.replay import replay

    body = await read_json(request)
    if not isinstance(body, dict) or "ids" not in body:
        raise ValueError('expected a JSON object {"ids": [...]}')
    try:
        done = await replay(ctx, ids_of(body["ids"]), client_of(request))
    except Overloaded:
        reason = "the server's write queue is full (server.limits.queue): retry later"
        return error_response(429, "es_rejected_execution_exception", reason)
    return {"stored": done.stored, "refused": done.refused, "missing": done.missing}


def routes() -> list[BaseRoute]:
    from server.api import _route

    return [_route(PATH, "GET", listing), _route(f"{PATH}/replay", "POST", replay_route)]
