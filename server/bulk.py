"""Elasticsearch-compatible ingest: the ``_bulk`` subset shippers speak, and ``GET /``.

``POST /_bulk`` and ``POST /{index}/_bulk``: NDJSON action/source pairs. ``create`` and ``index``
store the source under ``_id`` (a generated id when none is given); a second doc with a stored
``_id`` is a 409 for that item (the store is append-only, as today). Each item's result is in
Elasticsearch's shape, and ``errors`` is true when any item failed.
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from logstore.types import Doc, Outcome, WriteResult
from logwarden import __version__
from server.app import context, error_response, json_response
from server.writer import Overloaded

ES_VERSION = "8.15.0"  # what GET / claims: official 8.x clients check the major version and product


async def root(request: Request) -> Response:
    return json_response(
        {
            "name": "logwarden",
            "cluster_name": "logwarden",
            "cluster_uuid": "logwarden",
            "version": {
                "number": ES_VERSION,
                "build_flavor": "default",
                "build_type": "logwarden",
                "lucene_version": "9.11.1",
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0",
            },
            "tagline": f"You Know, for Search (logwarden {__version__})",
        },
        headers={"X-Elastic-Product": "Elasticsearch"},
    )


def _new_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(15)).decode()


def _ts_ms(value: Any) -> int | None:
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return int(dt.timestamp() * 1000)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return None


def _item(
    op: str, index: str, doc_id: str, status: int, result: str | None, error: dict[str, str] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"_index": index, "_id": doc_id, "status": status}
    if result is not None:
        body["result"] = result
    if error is not None:
        body["error"] = error
    return {op: body}


async def bulk(request: Request) -> Response:
    ctx = context(request)
    default_index = request.path_params.get("index", "")
    body = await request.body()
    lines = body.split(b"\n")
    ops: list[tuple[str, str, str]] = []  # (op, index, id) per item
    docs: list[Doc] = []
    items: list[dict[str, Any] | None] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        action = orjson.loads(line)
        ((op, meta),) = action.items()
        source = orjson.loads(lines[i])
        i += 1
        index = meta.get("_index", default_index)
        doc_id = meta.get("_id") or _new_id()
        ts = _ts_ms(source.get("@timestamp"))
        if ts is None:
            ts = int(datetime.now(UTC).timestamp() * 1000)
            source["@timestamp"] = datetime.fromtimestamp(ts / 1000, UTC).isoformat().replace("+00:00", "Z")
        docs.append(Doc(doc_id, ts, source))
        ops.append((op, index, doc_id))
        items.append(None)
    try:
        future = ctx.writer.submit(docs)
    except Overloaded:
        return error_response(
            429, "es_rejected_execution_exception", "the server's write queue is full; retry later"
        )
    import asyncio

    results: list[WriteResult] = await asyncio.wrap_future(future)
    out = []
    errors = False
    for (op, index, doc_id), result in zip(ops, results, strict=True):
        if result.outcome is Outcome.CREATED:
            out.append(_item(op, index, doc_id, 201, "created", None))
        elif result.outcome is Outcome.DUPLICATE:
            errors = True
            out.append(
                _item(
                    op,
                    index,
                    doc_id,
                    409,
                    None,
                    {
                        "type": "version_conflict_engine_exception",
                        "reason": f"[{doc_id}]: version conflict, document already exists",
                    },
                )
            )
        else:
            errors = True
            out.append(
                _item(
                    op,
                    index,
                    doc_id,
                    400,
                    None,
                    {"type": "document_parsing_exception", "reason": result.reason},
                )
            )
    return json_response(
        {"took": 0, "errors": errors, "items": out}, headers={"X-Elastic-Product": "Elasticsearch"}
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/_bulk", bulk, methods=["POST", "PUT"]),
        Route("/{index}/_bulk", bulk, methods=["POST", "PUT"]),
    ]
