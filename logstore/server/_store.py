"""ServerStore: the Store protocol answered by a logwarden server over HTTP (docs/server-api.md).

Guarantees:
- ``write`` is one ``POST /_bulk`` of ``create`` actions with the doc's ``_id`` (no ``_index``: the
  server keeps one store), built and classified by the very code the Elasticsearch backend uses
  (``logstore.elastic.bulk_lines`` and ``classify``): a re-send is DUPLICATE, a doc refused before
  sending is REJECTED alone, 429/5xx/connection trouble RETRYABLE, 413 TOO_LARGE, another 4xx
  REJECTED; only 401/403 raise (``StoreAuthError``). Never retries. A reply whose head says
  ``"errors":false`` is not parsed further (``FastWrite``: None).
- ``search``/``search_raw`` stream the server's NDJSON with bounded memory, whatever the number of
  hits; the request is sent (and a bad query raised) before the first ``next()``. A stream that ends
  without the server's final line raises ``StoreError``: never fewer hits than asked for, silently.
  ``search_raw`` hands on the stored doc's bytes as the server sent them (``RawSearch``).
- Thread-safe: one urllib3 pool and no other state, so one store serves every thread.
- Opening asks the server's health with the token: an unreachable server, a refused token or
  something that is no logwarden server fail at open, in one line naming the URL. Nothing is
  created, here or on the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
import urllib3
from urllib3.exceptions import HTTPError

from logstore.elastic import IndexNamer, bulk_lines
from logstore.elastic._bulk import classify, item_reason, request_outcome
from logstore.protocol import Order
from logstore.server import ServerStoreConfig
from logstore.server._client import NDJSON, ServerClient, Unreachable, connection_reason, error_of
from logstore.server.wire import (
    AGG_REQUESTS,
    AGG_RESULTS,
    END_HEAD,
    ERROR_HEAD,
    HIT_HEAD,
    PREFIX,
    search_body,
    split_hit,
    time_json,
)
from logstore.types import (
    AggRequest,
    AggResult,
    Cursor,
    Doc,
    Health,
    Hit,
    Outcome,
    RetentionResult,
    StoreError,
    WriteResult,
    each_result,
)

_CREATE = b'{"create":{"_id":'
# The part of a bulk reply before its items: {"took":5,"errors":false, (any order; as the ES backend).
_BULK_HEAD = re.compile(rb'\{\s*(?:"(?:took|errors|ingest_took)"\s*:\s*(?:-?\d+|true|false)\s*,\s*)+')
_CHUNK = 256 * 1024  # bytes read from a search stream at a time

T = TypeVar("T")


class _NoIndex(IndexNamer):
    """The ``namer`` of ``BodyWrite``: names no index, as the server keeps one store.

    Every action is ``{"create":{"_id":...}}``; with no placeholder fields, the shipper's block
    builder takes its fast path for every line (``shipper/build.py``)."""

    def __init__(self) -> None:
        super().__init__("logs")

    def action_prefix(self, source: dict[str, Any], ts: int) -> bytes:
        return _CREATE


class ServerStore:
    """A logwarden server behind the store contract (and ``FastWrite``, ``RawSearch``, ``BodyWrite``)."""

    name = "server"

    def __init__(self, config: ServerStoreConfig, *, checked: bool = False) -> None:
        self.config = config
        self.namer: IndexNamer = _NoIndex()
        self.client = ServerClient(config)
        self.url = self.client.url
        if not checked:
            self.client.call("GET", f"{PREFIX}/health")  # reachable, a logwarden server, the token taken

    @classmethod
    def writer(cls, config: ServerStoreConfig) -> ServerStore:
        """Another connection to a server this process family checked already: no round trip until
        the first write (the shipper's build processes; ``BodyWrite``)."""
        return cls(config, checked=True)

    # ---- write -----------------------------------------------------------------------------------

    def write(self, docs: Sequence[Doc]) -> list[WriteResult]:
        return each_result(docs, self.write_unless_all_created(docs))

    def write_unless_all_created(self, docs: Sequence[Doc]) -> list[WriteResult] | None:
        """``write``, but None when every doc was created (``FastWrite``)."""
        if not docs:
            return []
        parts, local = bulk_lines(self.namer, docs)
        sent = [d for pos, d in enumerate(docs) if pos not in local] if local else docs
        parts.append(b"")  # the body's final newline
        remote = self.write_body(b"\n".join(parts), lambda: [d.id for d in sent]) if sent else []
        if not local:
            return remote
        if remote is None:
            remote = [WriteResult(d.id, Outcome.CREATED) for d in sent]
        it = iter(remote)
        return [local[pos] if pos in local else next(it) for pos in range(len(docs))]

    def write_body(self, body: bytes, ids: Callable[[], Sequence[str]]) -> list[WriteResult] | None:
        """POST one ``_bulk`` body (``BodyWrite``); None when every doc was created, else a result
        per doc. ``ids`` is called only then."""
        try:
            resp = self.client.send("POST", "/_bulk", body, NDJSON)
        except Unreachable as e:
            return [WriteResult(i, Outcome.RETRYABLE, str(e)) for i in ids()]
        data = resp.data
        status = resp.status
        if status in (401, 403):
            raise self.client.refused(status, "/_bulk", data)
        if status != 200:
            reason = f"HTTP {status}: {item_reason(error_of(data))}"
            outcome = request_outcome(status)
            return [WriteResult(i, outcome, reason) for i in ids()]
        items = data.find(b'"items":', 0, 200)
        if items > 0 and b'"errors":false' in data[:items] and _BULK_HEAD.fullmatch(data[:items]):
            return None  # every doc created: nothing to walk on the hot path
        try:
            reply = orjson.loads(data)
        except orjson.JSONDecodeError:
            reply = None  # every item then lacks its answer: RETRYABLE
        return classify(ids(), reply)

    # ---- read ------------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        order: Order = "asc",
        limit: int | None = None,
        after: Cursor | None = None,
    ) -> Iterator[Hit]:
        resp = self._open_search(search_body(query, start, end, order, limit, after))
        loads = orjson.loads

        def hit(line: bytes) -> Hit:
            d = loads(line)
            return Hit(d["id"], d["ts"], d["source"])

        return self._stream(resp, hit)

    def search_raw(
        self,
        query: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        order: Order = "asc",
        limit: int | None = None,
        after: Cursor | None = None,
    ) -> Iterator[tuple[Cursor, bytes]]:
        """``search``, each hit as its cursor and the stored doc's JSON bytes (``RawSearch``)."""
        resp = self._open_search(search_body(query, start, end, order, limit, after))
        return self._stream(resp, split_hit)

    def _open_search(self, body: dict[str, Any]) -> urllib3.BaseHTTPResponse:
        """The search request, sent now: a refused query raises here, before the first hit."""
        path = f"{PREFIX}/search"
        try:
            resp = self.client.send("POST", path, orjson.dumps(body), stream=True)
        except Unreachable as e:
            raise self.client.fail(str(e)) from None
        if resp.status != 200:
            data = resp.data
            resp.release_conn()
            raise self.client.refused(resp.status, path, data)
        return resp

    def _stream(self, resp: urllib3.BaseHTTPResponse, parse: Callable[[bytes], T]) -> Iterator[T]:
        """The hits of a search answer, each made by ``parse`` from its line, until the final line."""
        rest = b""
        hits = 0
        finished = False
        try:
            for chunk in resp.stream(_CHUNK):
                lines = (rest + chunk if rest else chunk).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    if line.startswith(HIT_HEAD):
                        hits += 1
                        yield parse(line)
                    elif line.startswith(END_HEAD):
                        finished = True
                        return
                    elif line.startswith(ERROR_HEAD):
                        error = error_of(line)
                        raise self.client.fail(f"search failed after {hits} hits: {item_reason(error)}")
            raise self.client.fail(f"the search answer was cut off after {hits} hits")
        except (HTTPError, OSError) as e:
            raise self.client.fail(f"search: {connection_reason(e)} after {hits} hits") from None
        finally:
            if not finished:
                resp.close()  # unread data: this connection cannot serve another request
            resp.release_conn()

    def count(self, query: str, start: datetime | None = None, end: datetime | None = None) -> int:
        body = {"query": query, "start": time_json(start), "end": time_json(end)}
        return int(self.client.call("POST", f"{PREFIX}/count", body)["count"])

    def aggregate(self, requests: Sequence[AggRequest]) -> list[AggResult]:
        if not requests:
            return []
        raw = b'{"requests":' + AGG_REQUESTS.dump_json(list(requests)) + b"}"
        answer = self.client.call("POST", f"{PREFIX}/aggregate", raw=raw)
        results = AGG_RESULTS.validate_python(answer["results"])
        if len(results) != len(requests):
            raise self.client.fail(f"aggregate: {len(results)} results for {len(requests)} requests")
        return results

    # ---- maintenance -----------------------------------------------------------------------------

    def retention(self, now: datetime | None = None) -> RetentionResult:
        """Runs on the server, with the server's retention setting."""
        answer = self.client.call("POST", f"{PREFIX}/retention", {"now": time_json(now)})
        return RetentionResult(answer["deleted_docs"], tuple(answer.get("deleted_indices") or ()))

    def refresh(self) -> None:
        self.client.call("POST", f"{PREFIX}/refresh")

    def health(self) -> Health:
        try:
            answer = self.client.call("GET", f"{PREFIX}/health")
        except StoreError as e:
            return Health(False, str(e))
        return Health(bool(answer["ok"]), f"server at {self.url}: {answer['detail']}")

    def close(self) -> None:
        self.client.close()
