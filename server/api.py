"""The Store protocol over HTTP, under ``/_logwarden/v1/`` (docs/server-api.md; OpenAPI at
``/_logwarden/v1/openapi.json``). The ``server`` store backend (``logstore.server``) is its client.

Guarantees:
- ``search`` streams NDJSON with bounded memory, any number of hits: the store's own paging reads
  them (a page at a time), the stored doc's bytes go out unparsed (``RawSearch``), in chunks of
  about ``CHUNK`` bytes (sooner when hits come slowly), and uvicorn stops pulling while the client
  is slow; a client that goes away stops the search. The last line says how it ended:
  ``{"end":{"hits":N}}`` or ``{"error":{...}}`` (``logstore.server.wire``).
- Every other answer is one JSON document. Errors have Elasticsearch's shape (``{"error": {"type",
  "reason", ...}, "status"}``) and one-line reasons: 400 ``bad_request`` naming the route and the
  field, 400 ``query_error`` with the query and its column (the client raises the same
  ``QueryError``, so logq prints the same caret), 503 ``store_error`` when the store cannot be used.
- Reads (search, count, aggregate) go to a reader store of their own, never queued behind the
  writer's transaction; refresh, retention and health to the store the server writes. Every store
  call runs in the thread pool: the event loop never waits on the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from logstore.protocol import RawSearch, Store
from logstore.query import QueryError
from logstore.server.wire import AGG_RESULTS, PREFIX, end_line, error_line
from logstore.types import AggRequest, Cursor, StoreError
from server.app import ServerContext, context, json_response

log = logging.getLogger("server.api")

NDJSON = "application/x-ndjson"
CHUNK = 64 * 1024  # bytes of NDJSON per write to the socket
FLUSH_AFTER = 0.25  # seconds: hits found slowly still reach the client promptly


M = TypeVar("M", bound="_Body")


class BadRequest(ValueError):
    """The request's body does not say what the route needs. ``str()``: which field, and why."""


# ---- request bodies --------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Cursor(_Body):
    ts: int
    id: str


class _Count(_Body):
    query: str = ""
    start: datetime | None = None
    end: datetime | None = None


class _Search(_Count):
    order: Literal["asc", "desc"] = "asc"
    limit: int | None = Field(default=None, ge=0)
    after: _Cursor | None = None


class _Aggregate(_Body):
    requests: list[AggRequest]


class _Retention(_Body):
    now: datetime | None = None


async def read_json(request: Request) -> Any:
    """The request's JSON body ({} when empty); BadRequest when it is not JSON."""
    data = await request.body()
    if not data.strip():
        return {}
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"the body is not JSON: {e}") from None


async def _parse(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate(await read_json(request))
    except ValidationError as e:
        raise BadRequest(_fields(e)) from None


def _fields(err: ValidationError) -> str:
    """Every error of ``err`` on one line: ``start: input should be a valid datetime; ...``."""
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "body"
        message = "unknown key" if e["type"] == "extra_forbidden" else str(e["msg"])
        parts.append(f"{where}: {message[:1].lower()}{message[1:]}")
    return "; ".join(parts)


# ---- errors ----------------------------------------------------------------------------------------


def api_error(status: int, kind: str, reason: str, **extra: Any) -> Response:
    error = {"type": kind, "reason": reason, **extra}
    return json_response({"error": {"root_cause": [error], **error}, "status": status}, status)


async def answer(request: Request, path: str, call: Callable[[ServerContext], Awaitable[Any]]) -> Response:
    """``call``'s value as the JSON answer (a Response as it is), or the error it raised as one."""
    try:
        value = await call(context(request))
    except QueryError as e:
        return api_error(400, "query_error", e.reason, query=e.query, column=e.column, message=str(e))
    except (BadRequest, KeyError, TypeError, ValueError) as e:
        what = f"missing key {e}" if isinstance(e, KeyError) else str(e)
        return api_error(400, "bad_request", f"{path}: {what}")
    except StoreError as e:
        return api_error(503, "store_error", str(e))
    except Exception as e:  # a bug, or the state's database failing: one line to the client, the trace here
        log.exception("request failed", extra={"path": path})
        return api_error(500, "internal_error", f"{path}: {type(e).__name__}: {e}")
    return value if isinstance(value, Response) else json_response(value)


def _route(path: str, method: str, call: Callable[[Request, ServerContext], Awaitable[Any]]) -> Route:
    async def endpoint(request: Request) -> Response:
        return await answer(request, path, lambda ctx: call(request, ctx))

    return Route(path, endpoint, methods=[method])


# ---- the Store protocol ----------------------------------------------------------------------------


def _hits(store: Store, q: _Search) -> Iterator[tuple[Cursor, bytes]]:
    """The search's hits as (cursor, doc bytes); a bad query raises here, before the answer starts."""
    after = None if q.after is None else Cursor(q.after.ts, q.after.id)
    if isinstance(store, RawSearch):
        return store.search_raw(q.query, q.start, q.end, order=q.order, limit=q.limit, after=after)
    hits = store.search(q.query, q.start, q.end, order=q.order, limit=q.limit, after=after)
    return ((h.cursor, orjson.dumps(h.source)) for h in hits)


def ndjson(hits: Iterator[tuple[Cursor, bytes]]) -> Iterator[bytes]:
    """The NDJSON answer of a search, in chunks; its last line says how the search ended."""
    dumps, clock = orjson.dumps, time.monotonic
    buf: list[bytes] = []
    size = n = 0
    flushed = clock()
    try:
        for cursor, raw in hits:
            # logstore.server.wire.hit_line, inlined: this runs once per hit.
            line = b'{"ts":%d,"id":%b,"source":%b}\n' % (cursor.ts, dumps(cursor.id), raw)
            buf.append(line)
            size += len(line)
            n += 1
            if size >= CHUNK or clock() - flushed >= FLUSH_AFTER:
                yield b"".join(buf)
                buf.clear()
                size = 0
                flushed = clock()
    except StoreError as e:
        buf.append(error_line("store_error", str(e)))
    except Exception as e:  # the status line went out already: the last line must say it failed
        log.exception("search failed mid-stream")
        buf.append(error_line("internal_error", f"{type(e).__name__}: {e}"))
    else:
        buf.append(end_line(n))
    yield b"".join(buf)


async def search(request: Request, ctx: ServerContext) -> Response:
    q = await _parse(request, _Search)
    hits = await run_in_threadpool(_hits, ctx.reader, q)
    return StreamingResponse(ndjson(hits), media_type=NDJSON)


async def count(request: Request, ctx: ServerContext) -> Any:
    q = await _parse(request, _Count)
    return {"count": await run_in_threadpool(ctx.reader.count, q.query, q.start, q.end)}


async def aggregate(request: Request, ctx: ServerContext) -> Any:
    q = await _parse(request, _Aggregate)
    results = await run_in_threadpool(ctx.reader.aggregate, q.requests)
    body = b'{"results":' + AGG_RESULTS.dump_json(results) + b"}"
    return Response(body, media_type="application/json")


async def retention(request: Request, ctx: ServerContext) -> Any:
    q = await _parse(request, _Retention)
    result = await run_in_threadpool(ctx.store.retention, q.now)
    return {"deleted_docs": result.deleted_docs, "deleted_indices": list(result.deleted_indices)}


async def refresh(request: Request, ctx: ServerContext) -> Any:
    await run_in_threadpool(ctx.store.refresh)
    return {"refreshed": True}


async def health(request: Request, ctx: ServerContext) -> Any:
    # Always 200: the answer is the health (GET /healthz is the probe that turns it into a status).
    result = await run_in_threadpool(ctx.store.health)
    return {"ok": result.ok, "detail": result.detail}


async def openapi(request: Request, ctx: ServerContext) -> Any:
    from server.openapi import DOCUMENT

    return DOCUMENT


STORE_ROUTES: list[tuple[str, str, Callable[[Request, ServerContext], Awaitable[Any]]]] = [
    (f"{PREFIX}/search", "POST", search),
    (f"{PREFIX}/count", "POST", count),
    (f"{PREFIX}/aggregate", "POST", aggregate),
    (f"{PREFIX}/retention", "POST", retention),
    (f"{PREFIX}/refresh", "POST", refresh),
    (f"{PREFIX}/health", "GET", health),
    (f"{PREFIX}/openapi.json", "GET", openapi),
]


def routes() -> list[BaseRoute]:
    from server import state
    from server.deadletters import api as dead_letters

    store = [_route(path, method, call) for path, method, call in STORE_ROUTES]
    return store + state.routes() + dead_letters.routes()
