"""Elasticsearch-compatible ingest: the ``_bulk`` subset shippers speak.

``POST|PUT /_bulk`` and ``/{index}/_bulk``: NDJSON action and source lines, gzip welcome. Each item
is answered in Elasticsearch's shape (``_index``, ``_id``, ``status``, ``result`` or
``error{type, reason}``), ``errors`` is true when any item failed, ``took`` is in ms. Where
Elasticsearch and an append-only store differ, this is what the server does (each tested in
tests/server/test_bulk.py):

- ``create`` stores the source under ``_id`` (a generated id when none is given); an ``_id`` stored
  already is a 409 ``version_conflict_engine_exception`` item, as Elasticsearch answers.
- ``index`` of a new ``_id`` is a ``create``. ``index`` of an ``_id`` stored already keeps the stored
  doc and answers 200 ``result: noop``: Elasticsearch would overwrite it, but the store is
  append-only, and the client that sends an id again is a shipper re-sending after a crash or a
  timeout, which takes a success and moves on (a 409 is logged as a failure, or dropped, by some).
- ``update``, ``delete`` or any other action: a 400 item naming the action; the others are stored.
- ``_index`` (the action's, else the URL's) becomes the doc's ``event.dataset`` when it has none.
  The other action keys Elasticsearch knows (``_type``, ``pipeline``, ``routing``...) are ignored.
- ``@timestamp``: ISO 8601 / RFC 3339 with any offset (none: UTC), or epoch milliseconds (a number,
  or a string of digits); stored as RFC 3339 UTC with milliseconds. Missing or unparsable
  (Elasticsearch would store the doc without a time; the store needs one to find it): the time it
  was received, and the tag ``logwarden_no_timestamp``; an unparsable value is kept in
  ``logwarden.unparsed_timestamp``.
- Malformed NDJSON (a line that is not JSON, an action that is not a one-key object, an action
  without its source line, a source that is not an object): a 400 item whose reason starts with
  ``line N:`` (counting from 1 in the body, after gzip), and every other item is still stored.
  An empty body is a 400; nothing a client sends makes a 500.
- ``filter_path`` (``errors,items.*.error``...) is honoured for its include patterns (``*`` and
  ``**`` as Elasticsearch reads them); exclusions (``-x``) are ignored.
- Limits (``server.limits``): body size after gzip (413), docs per request (413, so shippers split
  the batch), time to send the body (408). A full write queue: 429. A store that fails: 503, and
  nothing of the request is acknowledged.
- Acknowledged means durable: an item is ``created`` only after its SQLite commit (the fsync policy
  is in ``server.writer``).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from logstore.observe import emit
from logstore.types import Doc, Outcome, StoreError, WriteResult, format_ts
from server import events, metrics
from server.app import ServerContext, context, error_response
from server.body import BodyError, read_body
from server.deadletters import Letter
from server.filter_path import filter_response
from server.writer import Overloaded

log = logging.getLogger("server.bulk")
NO_TIMESTAMP_TAG = "logwarden_no_timestamp"
DEFAULT_INDEX = "logwarden"  # the _index answered for an item that names none
MAX_ID_BYTES = 512  # Elasticsearch's limit on _id
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_MIN_MS, _MAX_MS = -62135596800000, 253402300799999  # years 1 to 9999
_ACTIONS = frozenset({"create", "index", "update", "delete"})
# The docs counter's children, looked up once rather than per request.
_CREATED, _DUPLICATE, _REJECTED = (metrics.DOCS.labels(r) for r in ("created", "duplicate", "rejected"))


class TooManyDocs(Exception):
    pass


# Timestamps repeat within a batch (the logs of one second share all but their milliseconds), so
# what a value parses to is remembered: canonical strings by their second, other values whole.
# Bounded: a full cache is cleared.
_SECONDS: dict[str, int] = {}
_PARSED: dict[Any, tuple[int, str] | None] = {}
_CACHE_MAX = 4096


def timestamp_ms(value: Any) -> tuple[int, str | None] | None:
    """(epoch ms, the stored form, None when ``value`` is it already) of a ``@timestamp``; None: unusable."""
    kind = type(value)
    if kind is str and len(value) == 24 and value[23] == "Z" and value[19] == "." and value[10] == "T":
        seconds = _SECONDS.get(value[:19])
        millis = value[20:23]
        if seconds is not None and millis.isascii() and millis.isdigit():
            return seconds * 1000 + int(millis), None
    elif kind is str or kind is int or kind is float:
        if value in _PARSED:
            return _PARSED[value]
    else:
        return None
    ms = _parse_time(value)
    canonical = ms is not None and kind is str and len(value) == 24 and value[23] == "Z" and value[10] == "T"
    if len(_SECONDS) >= _CACHE_MAX or len(_PARSED) >= _CACHE_MAX:
        _SECONDS.clear()
        _PARSED.clear()
    if canonical and ms is not None:
        _SECONDS[value[:19]] = ms // 1000
        return ms, None
    result = None if ms is None else (ms, format_ts(ms))
    _PARSED[value] = result
    return result


def _parse_time(value: str | int | float) -> int | None:
    """Epoch ms of an ISO 8601 string (no offset: UTC), of epoch millis (a number or digits); None."""
    try:
        if type(value) is not str:
            ms = int(value)  # ValueError for nan, OverflowError for inf
        elif value.isdigit():
            ms = int(value)
        else:
            dt = datetime.fromisoformat(value)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            ms = (dt - _EPOCH) // _MS
    except (ValueError, OverflowError):
        return None
    return ms if _MIN_MS <= ms <= _MAX_MS else None


def _tag(source: dict[str, Any], tag: str) -> None:
    tags = source.get("tags")
    source["tags"] = [*tags, tag] if type(tags) is list else [tags, tag] if type(tags) is str else [tag]


def _set_time(source: dict[str, Any], now: tuple[int, str]) -> int:
    """The doc's time (epoch ms), ``@timestamp`` set to its stored form; without a usable one, ``now``
    (epoch ms, its stored form), and the doc tagged."""
    value = source.get("@timestamp")
    parsed = timestamp_ms(value)
    if parsed is None:
        if value is not None:
            extra = source.get("logwarden")
            if type(extra) is dict:
                extra["unparsed_timestamp"] = value
            else:
                source["logwarden"] = {"unparsed_timestamp": value}
        _tag(source, NO_TIMESTAMP_TAG)
        source["@timestamp"] = now[1]
        return now[0]
    ms, stored = parsed
    if stored is not None:
        source["@timestamp"] = stored
    return ms


def _set_dataset(source: dict[str, Any], index: str) -> None:
    event = source.get("event")
    if type(event) is dict:
        if "dataset" not in event:
            event["dataset"] = index
    elif event is None and "event.dataset" not in source:
        source["event"] = {"dataset": index}


@dataclass
class Parsed:
    """A body's items: the docs to store, and per item either a doc's position or its error item."""

    docs: list[Doc] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)  # per doc: create or index
    indices: list[str] = field(default_factory=list)  # per doc: the _index to answer
    items: list[int | dict[str, Any]] = field(default_factory=list)  # doc position, or a ready item
    failed: int = 0
    # Per failed item: its answer's body and its raw lines (action, and source when it had one),
    # kept for the server's dead letters (server.deadletters). Built only when a line is bad.
    refused: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)

    def fail(self, op: str, index: str, doc_id: Any, kind: str, reason: str, lines: list[bytes]) -> None:
        error = {"type": kind, "reason": reason}
        item = {"_index": index or DEFAULT_INDEX, "_id": doc_id, "status": 400, "error": error}
        self.items.append({op: item})
        self.refused.append((item, b"\n".join(lines)))
        self.failed += 1


_CREATE_ID = b'{"create":{"_id":"'
_PLAIN_ID = b"-_.:+/="  # besides ASCII letters and digits: an id of these needs no JSON unescaping


def _action(line: bytes) -> tuple[str, dict[str, Any]] | str:
    """(action, its metadata) of an action line, or why it is not one."""
    # The line logwarden's shipper (and most others) sends, read without a JSON parse: a create with
    # an id of plain characters (hex, base64, uuid). Anything else (an escape, another key, white
    # space) takes the parser below, which gives the same answer for these lines.
    if line.startswith(_CREATE_ID) and line.endswith(b'"}}'):
        raw_id = line[18:-3]
        if raw_id.translate(None, _PLAIN_ID).isalnum():  # ASCII letters, digits and these only
            return "create", {"_id": raw_id.decode()}
    try:
        action = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        return f"not JSON ({e})"
    if type(action) is not dict or len(action) != 1:
        return "an action line must be an object with one key: the action (create or index)"
    ((op, meta),) = action.items()
    if type(meta) is not dict:
        return f"the metadata of action [{op}] must be an object"
    return op, meta


def _is_action(value: Any) -> bool:
    """Whether a parsed line is an action line: to tell an action missing its source from a doc."""
    if type(value) is not dict or len(value) != 1:
        return False
    ((op, meta),) = value.items()
    return op in _ACTIONS and type(meta) is dict


def _looks_like_action(line: bytes) -> bool:
    try:
        return _is_action(orjson.loads(line))
    except orjson.JSONDecodeError:
        return False


def _source(lines: list[bytes], i: int) -> tuple[dict[str, Any] | None, str, bool]:
    """The source at ``lines[i]`` (0-based: line i + 1): (source, "", True), or (None, why, whether
    the line belongs to the failed item and is to be skipped with it)."""
    if i >= len(lines) or not lines[i] or lines[i].isspace():
        return None, f"line {i}: action has no source line", False
    try:
        source = orjson.loads(lines[i])
    except orjson.JSONDecodeError as e:
        return None, f"line {i + 1}: not JSON ({e})", True
    if type(source) is not dict:
        return None, f"line {i + 1}: the source is not a JSON object", True
    if len(source) == 1 and _is_action(source):
        return None, f"line {i}: action has no source line (line {i + 1} is an action)", False
    return source, "", True


def _doc_id(meta: dict[str, Any], new_id: Callable[[], str]) -> str:
    """The item's _id, or ValueError saying why it cannot be one."""
    doc_id = meta.get("_id")
    if doc_id is None:
        return new_id()
    if type(doc_id) is int:
        doc_id = str(doc_id)
    if type(doc_id) is not str or not doc_id:
        raise ValueError("_id must be a non-empty string")
    if len(doc_id) > MAX_ID_BYTES // 4 and len(doc_id.encode()) > MAX_ID_BYTES:
        raise ValueError(f"_id is longer than {MAX_ID_BYTES} bytes")
    return doc_id


def _ids() -> Callable[[], str]:
    """Generated ids for one request: a random 96-bit prefix and a counter."""
    prefix = base64.urlsafe_b64encode(os.urandom(12)).decode()
    n = 0

    def new_id() -> str:
        nonlocal n
        n += 1
        return f"{prefix}{n}"

    return new_id


def parse(body: bytes, url_index: str, max_docs: int, now_ms: int) -> Parsed:
    """The items of an NDJSON body; ``TooManyDocs`` past ``max_docs`` actions. Never raises for a bad line."""
    out = Parsed()
    now = (now_ms, format_ts(now_ms))
    lines = body.split(b"\n")
    n = len(lines)
    new_id = _ids()
    i = 0  # the next line's index; after ``i += 1``, the 1-based number of the line just taken
    while i < n:
        i = _usual(lines, i, out, url_index, max_docs, now)
        if i >= n:
            break
        line = lines[i]
        i += 1
        if not line or line.isspace():
            continue
        if len(out.items) >= max_docs:
            raise TooManyDocs
        start = i - 1  # the item's first line (0-based); its lines are lines[start:i] once taken
        found = _action(line)
        if isinstance(found, str):
            if i < n and not _looks_like_action(lines[i]):
                i += 1  # most likely its source line: skipped with it
            reason = f"line {start + 1}: {found}"
            out.fail("index", url_index, None, "illegal_argument_exception", reason, lines[start:i])
            continue
        op, meta = found
        index = meta.get("_index") or url_index
        if op != "create" and op != "index":
            if op != "delete" and i < n and not _looks_like_action(lines[i]):
                i += 1  # delete has no source line; every other action has one
            reason = _unsupported(start + 1, op)
            out.fail(op, index, meta.get("_id"), "illegal_argument_exception", reason, lines[start:i])
            continue
        source, why, consumed = _source(lines, i)
        if consumed:
            i += 1
        if source is None:
            out.fail(op, index, meta.get("_id"), "document_parsing_exception", why, lines[start:i])
            continue
        try:
            doc_id = _doc_id(meta, new_id)
            if type(index) is not str:
                raise ValueError("_index must be a string")
        except ValueError as e:
            reason = f"line {start + 1}: {e}"
            out.fail(op, "", meta.get("_id"), "illegal_argument_exception", reason, lines[start:i])
            continue
        stamp = source.get("@timestamp")
        doc = _doc(doc_id, _set_time(source, now), source, index, stamp)
        out.items.append(len(out.docs))
        out.docs.append(doc)
        out.ops.append(op)
        out.indices.append(index or DEFAULT_INDEX)
    return out


def _usual(
    lines: list[bytes], i: int, out: Parsed, url_index: str, max_docs: int, now: tuple[int, str]
) -> int:
    """Take the items from ``lines[i]`` on while they are the usual pair, a ``create`` with a plain
    ``_id`` and a JSON object; the index of the first line that is not (``parse`` takes that item).

    Every shipper's hot path, and most of the server's CPU: one loop with the checks inlined, not a
    call per check. It answers exactly what ``parse``'s general code answers for these lines (a test
    compares the two on every kind of line); anything else, even a bad source line, stops it, and the
    general code, which parses the pair again, decides.
    """
    n = len(lines)
    docs, items, ops, indices = out.docs, out.items, out.ops, out.indices
    answered = url_index or DEFAULT_INDEX
    loads, seconds = orjson.loads, _SECONDS
    while i + 1 < n:
        line = lines[i]
        if not (line.startswith(_CREATE_ID) and line.endswith(b'"}}')) or len(items) >= max_docs:
            break
        raw_id = line[18:-3]
        if len(raw_id) > MAX_ID_BYTES:
            break
        if not (raw_id.isalnum() or raw_id.translate(None, _PLAIN_ID).isalnum()):  # as _action reads it
            break
        try:
            source = loads(lines[i + 1])
        except orjson.JSONDecodeError:
            break
        if type(source) is not dict or (len(source) == 1 and _is_action(source)):
            break
        doc_id = raw_id.decode()
        stamp = source.get("@timestamp")
        # timestamp_ms's first case, inlined: the stored form, a second seen before.
        if (
            type(stamp) is str
            and len(stamp) == 24
            and stamp[23] == "Z"
            and stamp[19] == "."
            and stamp[10] == "T"
            and (second := seconds.get(stamp[:19])) is not None
            and (millis := stamp[20:23]).isascii()
            and millis.isdigit()
        ):
            ts = second * 1000 + int(millis)
        else:
            ts = _set_time(source, now)
        doc = _doc(doc_id, ts, source, url_index, stamp)
        items.append(len(docs))
        docs.append(doc)
        ops.append("create")
        indices.append(answered)
        i += 2
    return i


def _doc(doc_id: str, ts: int, source: dict[str, Any], index: str, stamp: Any) -> Doc:
    """An item's doc: ``index`` set as its dataset when there is one, else final if it can be."""
    if index:
        _set_dataset(source, index)
        return Doc(doc_id, ts, source)
    return _final(doc_id, ts, source, stamp)


def _final(doc_id: str, ts: int, source: dict[str, Any], stamp: Any) -> Doc:
    """The doc, serialized here (``Doc.final``) when it is already in the shape the store keeps.

    It is when the server changed nothing (the ``@timestamp`` was in the stored form, no ``_index``
    to add), its ``event.id`` is the ``_id`` and no top-level key is dotted: logwarden's own shipper
    sends such docs. The store then writes these bytes as they are, instead of checking the doc and
    serializing it again. They are what was parsed, serialized (never the client's own line: a
    repeated key parses to one value and must not reach the store as two).
    """
    event = source.get("event")
    if (
        source.get("@timestamp") is not stamp
        or type(event) is not dict
        or event.get("id") != doc_id
        or not _undotted(source)
    ):
        return Doc(doc_id, ts, source)
    try:
        raw = orjson.dumps(source)
    except orjson.JSONEncodeError:  # too deep, or a number orjson will not write: the store decides
        return Doc(doc_id, ts, source)
    return Doc(doc_id, ts, source, raw, True)


# Whether a key tuple has no dotted key, by tuple: the docs of one producer share their keys.
# Bounded: a full cache is cleared.
_UNDOTTED: dict[tuple[str, ...], bool] = {}


def _undotted(source: dict[str, Any]) -> bool:
    """Whether no top-level key of ``source`` has a dot in it."""
    keys = tuple(source)
    known = _UNDOTTED.get(keys)
    if known is None:
        if len(_UNDOTTED) >= _CACHE_MAX:
            _UNDOTTED.clear()
        known = _UNDOTTED[keys] = "." not in "".join(keys)
    return known


def _unsupported(line: int, op: str) -> str:
    if op in _ACTIONS:
        return f"line {line}: action [{op}] is not supported: logwarden stores append-only (create and index)"
    return f"line {line}: unknown action [{op}], expected create or index"


def _result_item(op: str, index: str, doc_id: str, result: WriteResult) -> dict[str, Any]:
    outcome = result.outcome
    if outcome is Outcome.CREATED:
        return {op: {"_index": index, "_id": doc_id, "_version": 1, "result": "created", "status": 201}}
    if outcome is Outcome.DUPLICATE and op == "index":
        return {op: {"_index": index, "_id": doc_id, "_version": 1, "result": "noop", "status": 200}}
    if outcome is Outcome.DUPLICATE:
        status, kind = 409, "version_conflict_engine_exception"
        reason = f"[{doc_id}]: version conflict, document already exists"
    elif outcome is Outcome.RETRYABLE:
        status, kind, reason = 429, "es_rejected_execution_exception", result.reason
    elif outcome is Outcome.TOO_LARGE:
        status, kind, reason = 413, "content_too_long_exception", result.reason
    else:
        status, kind, reason = 400, "document_parsing_exception", result.reason
    return {op: {"_index": index, "_id": doc_id, "status": status, "error": {"type": kind, "reason": reason}}}


def render(parsed: Parsed, results: list[WriteResult] | None) -> tuple[list[dict[str, Any]], bool]:
    """The response's items, in request order, and whether any failed; counts the docs by result."""
    docs, ops, indices = parsed.docs, parsed.ops, parsed.indices
    if results is None:  # every doc created
        done, created = _render_created(parsed)
        duplicate = 0
    else:
        done = [_result_item(*x) for x in zip(ops, indices, (d.id for d in docs), results, strict=True)]
        created = sum(r.outcome is Outcome.CREATED for r in results)
        duplicate = sum(r.outcome is Outcome.DUPLICATE for r in results)
    rejected = parsed.failed + len(done) - created - duplicate
    _CREATED.inc(created)
    _DUPLICATE.inc(duplicate)
    _REJECTED.inc(rejected)
    # A 200 noop (an index of a stored id) is a success; every other duplicate is a 409.
    noop = (
        0
        if results is None
        else sum(r.outcome is Outcome.DUPLICATE and op == "index" for r, op in zip(results, ops, strict=True))
    )
    errors = rejected + duplicate - noop > 0
    if not parsed.failed:
        return done, errors
    return [done[x] if isinstance(x, int) else x for x in parsed.items], errors


def all_created(parsed: Parsed, took: int) -> bytes:
    """The answer to a request whose docs were all created, as ``orjson.dumps`` of ``render``'s
    items would write it, byte for byte, without a dict per item (tested against it).

    The ids are written once by orjson, as one JSON array, and the array is cut at its ``","``: in a
    JSON string every ``"`` is escaped (``\\"``), so ``","`` only ever stands between two strings.
    """
    docs, ops, indices = parsed.docs, parsed.ops, parsed.indices
    n = len(docs)
    _CREATED.inc(n)
    head = b'{"took":%d,"errors":false,"items":[' % took
    if not n:
        return head + b"]}"
    op, index = ops[0], indices[0]
    if ops.count(op) != n or indices.count(index) != n:  # mixed actions or indices: item by item
        items, _ = _render_created(parsed)
        return orjson.dumps({"took": took, "errors": False, "items": items})
    start = b'{"%s":{"_index":%s,"_id":"' % (op.encode(), orjson.dumps(index))
    end = b'","_version":1,"result":"created","status":201}}'
    ids = orjson.dumps([d.id for d in docs])[2:-2].split(b'","')
    return head + start + (end + b"," + start).join(ids) + end + b"]}"


def _render_created(parsed: Parsed) -> tuple[list[dict[str, Any]], int]:
    items = [
        {op: {"_index": ix, "_id": d.id, "_version": 1, "result": "created", "status": 201}}
        for op, ix, d in zip(parsed.ops, parsed.indices, parsed.docs, strict=True)
    ]
    return items, len(items)


# What the store answers for a doc that the same bytes will never get past: a dead letter. (A 413
# item, TOO_LARGE, is a request too big: the client sends it split, so it is not one.)
_FOR_GOOD = frozenset({Outcome.REJECTED})


def dead_letters(parsed: Parsed, results: list[WriteResult] | None, client: str) -> list[Letter]:
    """The items of a request refused for good, with their lines (server.deadletters)."""
    out = [
        Letter(client, item["_index"], _str_or_none(item["_id"]), item["error"]["reason"], lines)
        for item, lines in parsed.refused
    ]
    for k, result in enumerate(results or ()):
        if result.outcome in _FOR_GOOD:
            doc, op, index = parsed.docs[k], parsed.ops[k], parsed.indices[k]
            # No _index when the item named none: a replay then sets no event.dataset either.
            meta = {"_id": doc.id} if index == DEFAULT_INDEX else {"_index": index, "_id": doc.id}
            lines = orjson.dumps({op: meta}) + b"\n" + orjson.dumps(doc.source)
            out.append(Letter(client, index, doc.id, result.reason or result.outcome.value, lines))
    return out


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def client_of(request: Request) -> str:
    """Who sent a request: its token's name (server.app.TokenAuth), else the peer's address."""
    name = request.scope.get("state", {}).get("client")
    if isinstance(name, str):
        return name
    return request.client.host if request.client else "?"


async def _keep(ctx: ServerContext, letters: list[Letter], now_ms: int) -> None:
    """Record dead letters; a failure to is logged and counted, and never changes the answer."""
    try:
        await run_in_threadpool(ctx.dead_letters.add, letters, now_ms)
    except Exception:
        metrics.DEAD_LETTERS_LOST.inc(len(letters))
        log.exception("dead letters could not be kept", extra={"count": len(letters)})


def _refused(request: Request, e: BodyError) -> Response:
    if e.limit is not None:
        emit(events.RequestRefused(e.limit, _peer(request), e.reason))
    # The rest of the body may be unread: the connection cannot carry another request.
    return error_response(e.status, e.kind, e.reason, {"Connection": "close"})


def _peer(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "?"


def _overloaded(ctx: ServerContext) -> Response:
    metrics.OVERLOADED.inc()
    queue = ctx.writer.depth
    n = ctx.queue_full.hit()
    if n is not None:
        emit(events.WriteQueueFull(queue, n))
    return error_response(
        429,
        "es_rejected_execution_exception",
        f"the server's write queue is full ({queue} requests, server.limits.queue): retry later",
    )


async def bulk(request: Request) -> Response:
    started = time.perf_counter()
    ctx = context(request)
    limits = ctx.config.server.limits
    try:
        body, sent = await read_body(request, limits.max_body, limits.request_timeout.total_seconds())
    except BodyError as e:
        return _refused(request, e)
    metrics.RECEIVED_BYTES.inc(sent)
    metrics.BODY_BYTES.inc(len(body))
    if not body or body.isspace():
        reason = "request body is required: NDJSON action and source lines"
        return error_response(400, "parse_exception", reason)
    now_ms = time.time_ns() // 1_000_000
    try:
        parsed = parse(body, request.path_params.get("index", ""), limits.max_docs, now_ms)
    except TooManyDocs:
        reason = (
            f"more than {limits.max_docs} docs in one request (server.limits.max_docs): send smaller batches"
        )
        emit(events.RequestRefused("max_docs", _peer(request), reason))
        return error_response(413, "content_too_long_exception", reason)
    del body  # the docs hold what is needed; a large body need not live through the commit
    results = None
    if parsed.docs:
        try:
            future = ctx.writer.submit(parsed.docs)
        except Overloaded:
            return _overloaded(ctx)
        try:
            results = await asyncio.wrap_future(future)
        except StoreError as e:
            emit(events.StoreFailed(str(e), len(parsed.docs)))
            return error_response(503, "unavailable_shards_exception", f"the store could not be written: {e}")
    filter_path = request.query_params.get("filter_path")
    if results is None and not parsed.failed and not filter_path:
        # The hot path: every doc created, the whole answer, written as bytes.
        answer = all_created(parsed, int((time.perf_counter() - started) * 1000))
        metrics.BULK.observe(time.perf_counter() - started)
        return Response(answer, media_type="application/json")
    items, errors = render(parsed, results)
    if parsed.failed or (results is not None and any(r.outcome in _FOR_GOOD for r in results)):
        await _keep(ctx, dead_letters(parsed, results, client_of(request)), now_ms)
    took = int((time.perf_counter() - started) * 1000)
    out: dict[str, Any] = {"took": took, "errors": errors, "items": items}
    if filter_path:
        out = filter_response(out, filter_path)
    metrics.BULK.observe(time.perf_counter() - started)
    return Response(orjson.dumps(out), media_type="application/json")


def routes() -> list[BaseRoute]:
    return [
        Route("/_bulk", bulk, methods=["POST", "PUT"]),
        Route("/{index}/_bulk", bulk, methods=["POST", "PUT"]),
    ]
