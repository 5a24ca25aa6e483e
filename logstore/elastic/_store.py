"""ElasticStore: the Elasticsearch backend of the store contract (see logstore.protocol).

Guarantees and choices:
- ``write`` sends one ``_bulk`` of ``create`` actions with the doc's ``_id`` (a re-send answers 409 =
  DUPLICATE, so writes are idempotent) and classifies every item; it never retries and never raises
  for per-doc or transient trouble: a whole-request 429/5xx/connection error/timeout makes every doc
  RETRYABLE (the pipeline owns retries). The client itself is built with retries off.
- The NDJSON body is assembled from ``Doc.raw`` bytes; a doc is re-serialized only when its source
  needs dotted keys expanded or ``event.id`` set. A ``Doc.final`` doc (the shipper's) is sent as it
  is, unchecked. A bulk reply with ``"errors": false`` is not parsed beyond that flag, and
  ``write_unless_all_created`` (the shipper's hot path) then answers None instead of a result per doc.
- ``search`` streams pages sorted by (``@timestamp``, ``event.id``) with ``search_after`` inside a
  point in time where the server has one; without PIT (osmem) it pages on the index pattern.
- ``aggregate`` sends all requests in one ``_msearch`` (requests sharing query, window and grouping
  merged into one search); only composite pagination needs more. With ``max_concurrent_searches``
  above 1 the searches are spread over that many concurrent ``_msearch`` requests instead.
- The cluster is checked at open (one line naming URL and reason on failure); the index template is
  (re)installed idempotently; missing server features (composable templates, ILM) cost one warning.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import orjson
from elastic_transport import ConnectionTimeout, TlsError, TransportError
from elasticsearch import ApiError, Elasticsearch, UnsupportedProductError
from elasticsearch.serializer import NdjsonSerializer

from logstore.coalesce import coalesce
from logstore.config import ElasticsearchConfig, format_duration
from logstore.elastic import _aggs
from logstore.elastic._bulk import bulk_lines
from logstore.elastic._dsl import fields_needing_types, translate, with_window
from logstore.elastic._mapping import composable_template, delete_policy, legacy_template
from logstore.elastic._naming import IndexNamer
from logstore.protocol import Order
from logstore.query import Node, QueryError, parse_query
from logstore.types import (
    ID_FIELD,
    TIMESTAMP_FIELD,
    AggRequest,
    AggResult,
    Cursor,
    Doc,
    Health,
    Hit,
    Outcome,
    RetentionResult,
    StoreAuthError,
    StoreError,
    WriteResult,
    datetime_to_ms,
)

log = logging.getLogger("logstore.elastic")

_JSON = {"accept": "application/json", "content-type": "application/json"}
_NDJSON = {"accept": "application/json", "content-type": "application/x-ndjson"}
_WIDE = {"ignore_unavailable": "true", "allow_no_indices": "true"}
_TYPES_TTL = 5.0  # seconds a _field_caps answer is reused (writes clear it)
_PIT_KEEP_ALIVE = "2m"
_LONG_MAX = 9_223_372_036_854_775_807
# Process-wide, so a store opened per run (``alerter run --once``, each benchmark pass) starts warm;
# keyed by cluster URL and index pattern. Only steers planning: every answer is checked (see _aggs).
_KNOWN_GROUPS = _aggs.KnownGroups()


def _short(reason: object, limit: int = 300) -> str:
    text = " ".join(str(reason).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _api_reason(err: ApiError) -> str:
    body = err.body
    if isinstance(body, dict):
        e = body.get("error")
        if isinstance(e, dict):
            return _item_reason(e)
        if e:
            return _short(e)
    return _short(err.message)


def _item_reason(error: Any) -> str:
    if not isinstance(error, dict):
        return _short(error)
    text = f"{error.get('type', 'error')}: {error.get('reason', '')}".rstrip(": ")
    caused = error.get("caused_by")
    if isinstance(caused, dict) and caused.get("reason"):
        text += f" ({caused.get('type', '')}: {caused['reason']})"
    return _short(text)


def _connection_reason(err: Exception) -> str:
    # str() of a transport error is often just "Connection error"; the detail is in .message/cause.
    text = " | ".join(str(x) for x in (getattr(err, "message", ""), err, err.__cause__) if x)
    if isinstance(err, TlsError) or "SSL" in text or "CERTIFICATE" in text.upper():
        m = re.search(r"\[SSL[^\]]*\][^(|'\"]*", text)
        return "TLS error: " + _short((m.group(0) if m else text).strip(), 200)
    if isinstance(err, ConnectionTimeout) or "timed out" in text.lower():
        return "connection timed out"
    m = re.search(r"\[Errno -?\d+\] ([^()|'\"]+)", text)
    if m:
        return m.group(1).strip().lower()
    low = text.lower()
    if "refused" in low:
        return "connection refused"
    if "reset" in low or "aborted" in low or "remotedisconnected" in low:
        return "connection reset"
    return _short(text, 200)


class _RawNdjson(NdjsonSerializer):
    """Passes a ready NDJSON body through untouched (the stock one copies it line by line)."""

    def dumps(self, data: Any) -> bytes:
        if isinstance(data, bytes) and data.endswith(b"\n"):
            return data
        return super().dumps(data)


def _serializers() -> dict[str, Any]:
    out: dict[str, Any] = {"application/x-ndjson": _RawNdjson()}
    try:
        from elasticsearch.serializer import OrjsonSerializer

        class _Json(OrjsonSerializer):
            """orjson (bulk replies parse ~4x faster), and a ``_bulk`` reply without errors is not
            parsed at all: ``{"errors": false}`` is all ``write`` reads of it (parsing the items,
            one object per doc, cost ~1 us a doc)."""

            def loads(self, data: bytes) -> Any:
                items = data.find(b'"items":', 0, 200) if data[:1] == b"{" else -1
                if items > 0:
                    head = data[:items]
                    # Only took, errors and ingest_took (numbers, booleans) precede the items.
                    if b'"errors":false' in head and _BULK_HEAD.fullmatch(head):
                        return {"errors": False}
                return super().loads(data)

        out["application/json"] = _Json()
    except ImportError:  # pragma: no cover - orjson is a dependency
        pass
    return out


# The part of a bulk reply before its items: {"took":5,"errors":false,"ingest_took":0, (any order).
_BULK_HEAD = re.compile(rb'\{\s*(?:"(?:took|errors|ingest_took)"\s*:\s*(?:-?\d+|true|false)\s*,\s*)+')


class ElasticStore:
    """Elasticsearch (or an Elasticsearch-compatible server) behind the store contract."""

    name = "elasticsearch"

    def __init__(self, config: ElasticsearchConfig, *, page_size: int = 1000, checked: bool = False) -> None:
        self.config = config
        self.page_size = max(1, page_size)
        self.namer = IndexNamer(config.index)
        self.index_pattern = self.namer.search_pattern
        self.url = ", ".join(config.hosts)
        self._pit_supported: bool | None = None
        self._types_cache: dict[frozenset[str], tuple[float, dict[str, frozenset[str]]]] = {}
        self._legacy_template = False
        self._ilm = False
        self.client = self._build_client(config)
        if not checked:
            self._check_cluster()
            self._install()

    @classmethod
    def writer(cls, config: ElasticsearchConfig) -> ElasticStore:
        """Another connection to a store this process family has opened already (the cluster is
        checked and the template installed): no round trip until the first write. For the
        shipper's build processes, which must not share the parent's connections."""
        return cls(config, checked=True)

    # ---- open ------------------------------------------------------------------------------------

    @staticmethod
    def _build_client(config: ElasticsearchConfig) -> Elasticsearch:
        kwargs: dict[str, Any] = {
            "request_timeout": config.request_timeout.total_seconds(),
            # The pipeline owns retries: the client must fail fast and let us classify.
            "max_retries": 0,
            "retry_on_status": (),
            "retry_on_timeout": False,
            "serializers": _serializers(),
        }
        if config.api_key is not None:
            kwargs["api_key"] = config.api_key.get_secret_value()
        if config.username is not None:
            password = config.password.get_secret_value() if config.password is not None else ""
            kwargs["basic_auth"] = (config.username, password)
        if any(h.lower().startswith("https") for h in config.hosts):
            kwargs["verify_certs"] = config.verify_certs
            if config.ca_certs is not None:
                kwargs["ca_certs"] = str(config.ca_certs)
            if not config.verify_certs:
                kwargs["ssl_show_warn"] = False
        try:
            return Elasticsearch(list(config.hosts), **kwargs)
        except (ValueError, TypeError, OSError) as e:
            raise StoreError(
                f"elasticsearch at {', '.join(config.hosts)}: bad client settings: {e}"
            ) from None

    def _fail(self, reason: str, auth: bool = False) -> StoreError:
        cls = StoreAuthError if auth else StoreError
        return cls(f"elasticsearch at {self.url}: {reason}")

    def _check_cluster(self) -> None:
        try:
            self.client.info()
        except UnsupportedProductError:
            raise self._fail("the server does not identify as Elasticsearch") from None
        except ApiError as e:
            if e.status_code == 401:
                raise self._fail(
                    "authentication failed (401): check api_key or username/password", auth=True
                ) from None
            if e.status_code == 403:
                raise self._fail(f"not authorized (403): {_api_reason(e)}", auth=True) from None
            raise self._fail(f"HTTP {e.status_code}: {_api_reason(e)}") from None
        except TransportError as e:
            raise self._fail(_connection_reason(e)) from None

    def _request(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        headers = _JSON if body is not None else {"accept": "application/json"}
        return self.client.perform_request(method, path, params=params, headers=headers, body=body).body

    def _install(self) -> None:
        policy = self._install_policy() if self.config.retention is not None else None
        if self._put_template(policy) or policy is None:
            return
        log.warning(
            "elasticsearch at %s: the index template refused the lifecycle setting; retention will "
            "delete whole daily indices instead",
            self.url,
        )
        self._ilm = False
        self._put_template(None)

    def _put_template(self, policy: str | None) -> bool:
        """Install the template; False only when it failed because of the lifecycle setting."""
        name = self.config.template_name
        try:
            if not self._legacy_template:
                try:
                    self._request(
                        "PUT", f"/_index_template/{name}", composable_template(self.index_pattern, policy)
                    )
                    return True
                except ApiError as e:
                    reason = _api_reason(e)
                    if e.status_code not in (404, 405) and "no handler found" not in reason:
                        return self._template_failed(e, policy)
                log.warning(
                    "elasticsearch at %s has no composable index templates (_index_template); "
                    "installing a legacy _template instead",
                    self.url,
                )
                self._legacy_template = True
            try:
                self._request("PUT", f"/_template/{name}", legacy_template(self.index_pattern, policy))
            except ApiError as e:
                return self._template_failed(e, policy)
        except TransportError as e:
            raise self._fail(_connection_reason(e)) from None
        return True

    def _template_failed(self, e: ApiError, policy: str | None) -> bool:
        if policy is not None and "lifecycle" in _api_reason(e):
            return False
        self._warn_template(e)
        return True

    def _warn_template(self, e: ApiError) -> None:
        log.warning(
            "elasticsearch at %s: cannot install index template %r (%s); indices get dynamic mappings",
            self.url,
            self.config.template_name,
            _api_reason(e),
        )

    def _install_policy(self) -> str | None:
        assert self.config.retention is not None
        name = self.config.template_name
        try:
            self._request("GET", "/_ilm/status")
            self._request("PUT", f"/_ilm/policy/{name}", delete_policy(self.config.retention))
        except ApiError as e:
            log.warning(
                "elasticsearch at %s has no index lifecycle management (%s); retention will delete "
                "whole daily indices older than %s instead",
                self.url,
                _api_reason(e),
                format_duration(self.config.retention),
            )
            return None
        except TransportError as e:
            raise self._fail(_connection_reason(e)) from None
        self._ilm = True
        return name

    # ---- write -----------------------------------------------------------------------------------

    def write(self, docs: Sequence[Doc]) -> list[WriteResult]:
        results = self.write_unless_all_created(docs)
        if results is None:
            return [WriteResult(d.id, Outcome.CREATED) for d in docs]
        return results

    def write_unless_all_created(self, docs: Sequence[Doc]) -> list[WriteResult] | None:
        """``write``, but None when every doc was created: no per-doc results to build on the hot
        path (~0.5 us a doc). Not part of the Store protocol; the shipper's pipeline looks it up."""
        if not docs:
            return []
        self._types_cache.clear()
        parts, local = bulk_lines(self.namer, docs)
        sent = [d for pos, d in enumerate(docs) if pos not in local] if local else docs
        parts.append(b"")  # the body's final newline, without copying the joined body again
        remote = self._send_bulk(lambda: [d.id for d in sent], b"\n".join(parts)) if sent else []
        if not local:
            return remote
        if remote is None:
            remote = [WriteResult(d.id, Outcome.CREATED) for d in sent]
        it = iter(remote)
        return [local[pos] if pos in local else next(it) for pos in range(len(docs))]

    def write_body(self, body: bytes, ids: Callable[[], Sequence[str]]) -> list[WriteResult] | None:
        """Send a ``_bulk`` body built elsewhere by ``bulk_lines`` (the shipper's build processes).
        ``ids()`` gives the doc ids of its create actions, in order; it is called only when some doc
        was not created. None when every doc was created, else a result per doc. Not part of the
        Store protocol."""
        self._types_cache.clear()
        return self._send_bulk(ids, body)

    def _send_bulk(self, ids: Callable[[], Sequence[str]], body: bytes) -> list[WriteResult] | None:
        """POST one ``_bulk``; None when every item was created. ``ids`` is only called otherwise."""
        try:
            resp = self.client.perform_request("POST", "/_bulk", headers=_NDJSON, body=body)
        except ApiError as e:
            status = e.status_code
            reason = f"HTTP {status}: {_api_reason(e)}"
            if status in (401, 403):
                raise self._fail(reason, auth=True) from None
            outcome = Outcome.RETRYABLE if status == 429 or status >= 500 else Outcome.REJECTED
            return [WriteResult(i, outcome, reason) for i in ids()]
        except TransportError as e:
            reason = _connection_reason(e)
            return [WriteResult(i, Outcome.RETRYABLE, reason) for i in ids()]
        reply = resp.body
        if isinstance(reply, dict) and reply.get("errors") is False:
            return None  # no item failed (a 409 also sets errors): nothing to walk on the hot path
        return self._classify(ids(), reply)

    @staticmethod
    def _classify(ids: Sequence[str], reply: Any) -> list[WriteResult]:
        items = reply.get("items") if isinstance(reply, dict) else None
        if isinstance(reply, dict) and reply.get("errors") is False:
            return [WriteResult(i, Outcome.CREATED) for i in ids]
        items = items or []
        out: list[WriteResult] = []
        for n, doc_id in enumerate(ids):
            if n >= len(items):
                out.append(WriteResult(doc_id, Outcome.RETRYABLE, "no reply for this item"))
                continue
            item: dict[str, Any] = next(iter(items[n].values()), {}) if items[n] else {}
            status = int(item.get("status", 0))
            if 200 <= status < 300:
                out.append(WriteResult(doc_id, Outcome.CREATED))
            elif status == 409:
                out.append(WriteResult(doc_id, Outcome.DUPLICATE))
            elif status == 429 or status >= 500 or status == 0:
                out.append(WriteResult(doc_id, Outcome.RETRYABLE, _item_reason(item.get("error"))))
            else:
                out.append(WriteResult(doc_id, Outcome.REJECTED, _item_reason(item.get("error"))))
        return out

    # ---- field types (only for clauses that cannot run on every type) ---------------------------

    def _types(self, fields: set[str]) -> dict[str, frozenset[str]]:
        if not fields:
            return {}
        key = frozenset(fields)
        now = time.monotonic()
        cached = self._types_cache.get(key)
        if cached is not None and now - cached[0] < _TYPES_TTL:
            return cached[1]
        reply = self._request(
            "GET",
            f"/{self.index_pattern}/_field_caps",
            params={"fields": ",".join(sorted(fields)), **_WIDE},
        )
        found: dict[str, frozenset[str]] = {}
        for f, by_type in (reply.get("fields") or {}).items():
            found[f] = frozenset(t for t in by_type if t not in ("unmapped", "object"))
        if len(self._types_cache) > 256:
            self._types_cache.clear()
        self._types_cache[key] = (now, found)
        return found

    def _lookup(self, fields: set[str]) -> Any:
        found = self._types(fields)
        return lambda f: found.get(f, frozenset())

    def _query(self, node: Node, query: str, start: datetime | None, end: datetime | None) -> dict[str, Any]:
        types = self._lookup(fields_needing_types(node))
        start_ms = datetime_to_ms(start) if start is not None else None
        end_ms = datetime_to_ms(end) if end is not None else None
        return with_window(translate(node, types, query), start_ms, end_ms)

    def _search_error(self, e: Exception, query: str) -> Exception:
        if isinstance(e, ApiError):
            if e.status_code == 400:
                return QueryError(f"the server refused the query: {_api_reason(e)}", query, 0)
            return self._fail(f"search failed: HTTP {e.status_code}: {_api_reason(e)}")
        return self._fail(_connection_reason(e))

    # ---- search ----------------------------------------------------------------------------------

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
        """Hits matching the Lucene ``query`` with start <= @timestamp < end, streamed page by page."""
        node = parse_query(query)  # a QueryError surfaces before the first page, at the call
        try:
            dsl = self._query(node, query, start, end)
        except (ApiError, TransportError) as e:
            raise self._search_error(e, query) from None
        return self._pages(query, dsl, order, limit, after)

    def _pages(
        self, query: str, dsl: dict[str, Any], order: Order, limit: int | None, after: Cursor | None
    ) -> Iterator[Hit]:
        sort: list[dict[str, Any]] = [
            {TIMESTAMP_FIELD: {"order": order, "unmapped_type": "date"}},
            {ID_FIELD: {"order": order, "unmapped_type": "keyword"}},
        ]
        pit = self._open_pit(query)
        search_after: list[Any] | None = None
        if after is not None:
            search_after = [after.ts, after.id]
            if pit is not None:
                # The PIT sort carries _shard_doc too; any value past the cursor doc excludes it.
                search_after.append(_LONG_MAX if order == "asc" else -1)
        if pit is not None:
            sort = [*sort, {"_shard_doc": order}]
        remaining = limit
        try:
            while remaining is None or remaining > 0:
                size = self.page_size if remaining is None else min(self.page_size, remaining)
                body: dict[str, Any] = {"query": dsl, "sort": sort, "size": size, "track_total_hits": False}
                if search_after is not None:
                    body["search_after"] = search_after
                try:
                    if pit is not None:
                        body["pit"] = {"id": pit, "keep_alive": _PIT_KEEP_ALIVE}
                        reply = self._request("POST", "/_search", body)
                        pit = reply.get("pit_id", pit)
                    else:
                        reply = self._request("POST", f"/{self.index_pattern}/_search", body, params=_WIDE)
                except (ApiError, TransportError) as e:
                    raise self._search_error(e, query) from None
                hits = reply.get("hits", {}).get("hits", [])
                for h in hits:
                    sort_values = h.get("sort") or []
                    ts = int(sort_values[0]) if sort_values else 0
                    yield Hit(id=h["_id"], ts=ts, source=h.get("_source") or {})
                if remaining is not None:
                    remaining -= len(hits)
                if len(hits) < size:
                    return
                search_after = hits[-1].get("sort")
        finally:
            if pit is not None:
                self._close_pit(pit)

    def _open_pit(self, query: str) -> str | None:
        if self._pit_supported is False:
            return None
        try:
            # (_pit takes no allow_no_indices; a pattern matching nothing gives an empty PIT.)
            reply = self._request(
                "POST",
                f"/{self.index_pattern}/_pit",
                params={"keep_alive": _PIT_KEEP_ALIVE, "ignore_unavailable": "true"},
            )
        except ApiError as e:
            reason = _api_reason(e)
            if e.status_code in (405, 501) or "no handler found" in reason or "unrecognized" in reason:
                log.debug("elasticsearch at %s has no point-in-time API; paging with search_after", self.url)
                self._pit_supported = False
            else:
                log.debug("elasticsearch at %s: no point in time for this search (%s)", self.url, reason)
            return None
        except TransportError as e:
            raise self._search_error(e, query) from None
        self._pit_supported = True
        pit = reply.get("id")
        return str(pit) if pit else None

    def _close_pit(self, pit: str) -> None:
        try:
            self._request("DELETE", "/_pit", {"id": pit})
        except (ApiError, TransportError):
            pass  # it expires on its own after keep_alive

    def count(self, query: str, start: datetime | None = None, end: datetime | None = None) -> int:
        node = parse_query(query)
        try:
            dsl = self._query(node, query, start, end)
            reply = self._request(
                "POST",
                f"/{self.index_pattern}/_search",
                {"size": 0, "track_total_hits": True, "query": dsl},
                params=_WIDE,
            )
        except (ApiError, TransportError) as e:
            raise self._search_error(e, query) from None
        total = reply.get("hits", {}).get("total", 0)
        return int(total["value"] if isinstance(total, dict) else total)

    # ---- aggregate -------------------------------------------------------------------------------

    def aggregate(self, requests: Sequence[AggRequest]) -> list[AggResult]:
        if not requests:
            return []
        for req in requests:  # user errors first, before any I/O
            parse_query(req.query)
            for m in req.metrics:
                if m.query:
                    parse_query(m.query)
        fields: set[str] = set()
        for req in requests:
            fields |= fields_needing_types(parse_query(req.query)) | _aggs.metric_fields(req)
            if _KNOWN_GROUPS.get(self._known_key(req.group_by)) is not None:
                fields.add(req.group_by[0])  # only a keyword groups by remembered values (_aggs)
            for m in req.metrics:
                if m.query:
                    fields |= fields_needing_types(parse_query(m.query))
        try:
            return self._aggregate(requests, fields)
        except QueryError:
            if not fields:
                raise
            # Field types may have changed since they were cached (another process wrote a new
            # daily index): look them up afresh once before calling the query bad.
            self._types_cache.clear()
            return self._aggregate(requests, fields)

    def _aggregate(self, requests: Sequence[AggRequest], fields: set[str]) -> list[AggResult]:
        try:
            types = self._lookup(fields)
        except (ApiError, TransportError) as e:
            raise self._search_error(e, requests[0].query) from None
        # Requests sharing query, window and grouping become one search (see _aggs: osmem runs
        # _msearch items one after the other, each costing docs x aggregations).
        merged, split = coalesce(requests)
        lanes = self.config.max_concurrent_searches

        def by_group(req: AggRequest) -> bool:
            # Several lanes and remembered groups: split by group, not by metric (see _aggs).
            return _aggs.group_splittable(req, types, _KNOWN_GROUPS.get(self._known_key(req.group_by)))

        parts, join = _aggs.fan_out(merged, lanes, by_group) if lanes > 1 else (merged, list)
        plans = [
            _aggs.plan(req, self.index_pattern, types, _KNOWN_GROUPS.get(self._known_key(req.group_by)))
            for req in parts
        ]
        searches: list[_aggs.AggPlan] = []
        for p in plans:
            split_parts: list[_aggs.AggPlan] = []
            if lanes > 1 and by_group(p.req):
                key = self._known_key(p.req.group_by)
                weights = _KNOWN_GROUPS.weights(key, p.req.query)
                missing = _KNOWN_GROUPS.missing(key, p.req.query)
                split_parts = _aggs.split_by_group(p, lanes, weights, missing)
            searches += split_parts or [p]  # a split plan's parts go out instead of it
        pending: list[tuple[_aggs.AggPlan, dict[str, Any]]] = [(p, p.first_body()) for p in searches]
        first = True
        while pending:
            responses = self._msearch(pending, lanes)
            nxt: list[tuple[_aggs.AggPlan, dict[str, Any]]] = []
            for (p, _body), r in zip(pending, responses, strict=True):
                if "error" in r:
                    err = r["error"]
                    reason = _item_reason(err) if isinstance(err, dict) else _short(err)
                    if int(r.get("status", 500)) == 400:
                        raise QueryError(f"the server refused the query: {reason}", p.req.query, 0)
                    raise self._fail(f"aggregation failed: {reason}")
                more = _aggs.absorb(p, r, first)
                if more is not None:
                    nxt.append((p, more))
            for p in plans if first else ():
                more = _aggs.join_parts(p)  # a split plan's parts have all answered now
                if more is not None:
                    nxt.append((p, more))
            pending = nxt
            first = False
        for p in plans:
            # Learn from every complete single-field grouping; the keyword check comes at plan time.
            if len(p.req.group_by) == 1 and not p.req.interval and not p.overflow:
                counts: dict[Any, int] = {}
                for row in p.rows:
                    value = row.group.get(p.req.group_by[0])
                    counts[value] = counts.get(value, 0) + row.count
                _KNOWN_GROUPS.learn(
                    self._known_key(p.req.group_by),
                    {g[0] for g in p.groups},
                    counts,
                    missing=p.total > sum(counts.values()),
                    scope=p.req.query,
                )
        return split(join([_aggs.result(p) for p in plans]))

    def _msearch(self, items: Sequence[tuple[_aggs.AggPlan, dict[str, Any]]], lanes: int) -> list[Any]:
        """One reply per (plan, body), in order: one ``_msearch``, or up to ``lanes`` at once.

        Why several: osmem-server answers the searches of one ``_msearch`` one after the other on
        one core; spread over concurrent requests they run on as many cores as are free. Every
        request is waited for; the first failure is raised.
        """
        groups = _aggs.schedule([p.cost for p, _ in items], lanes)
        if len(groups) == 1:
            return self._msearch_once(items)
        out: list[Any] = [None] * len(items)
        with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="logstore-msearch") as pool:
            futures = [pool.submit(self._msearch_once, [items[i] for i in g]) for g in groups]
            replies = [f.exception() or f.result() for f in futures]
        for g, reply in zip(groups, replies, strict=True):
            if isinstance(reply, BaseException):
                raise reply
            for i, r in zip(g, reply, strict=True):
                out[i] = r
        return out

    def _msearch_once(self, items: Sequence[tuple[_aggs.AggPlan, dict[str, Any]]]) -> list[Any]:
        lines: list[bytes] = []
        for p, body in items:
            lines.append(orjson.dumps(p.header))
            lines.append(orjson.dumps(body))
        try:
            reply = self.client.perform_request(
                "POST", "/_msearch", headers=_NDJSON, body=b"\n".join(lines) + b"\n"
            ).body
        except (ApiError, TransportError) as e:
            raise self._search_error(e, items[0][0].req.query) from None
        responses = list(reply.get("responses", []))
        if len(responses) != len(items):
            raise self._fail(f"_msearch answered {len(responses)} searches for {len(items)}")
        return responses

    def _known_key(self, group_by: tuple[str, ...]) -> tuple[str, ...]:
        return (self.url, self.index_pattern, *group_by)

    # ---- maintenance -----------------------------------------------------------------------------

    def retention(self, now: datetime | None = None) -> RetentionResult:
        """Delete whole daily indices older than the retention (ILM does it where the server has it)."""
        keep = self.config.retention
        if keep is None or self._ilm:
            return RetentionResult(deleted_docs=None)
        now = now or datetime.now(tz=UTC)
        cutoff = now - keep
        try:
            reply = self._request(
                # (_cat takes no ignore_unavailable; a wildcard matching nothing is simply empty.)
                "GET",
                f"/_cat/indices/{self.index_pattern}",
                params={"format": "json", "h": "index"},
            )
        except ApiError as e:
            if e.status_code == 404:
                return RetentionResult(deleted_docs=None)
            raise self._fail(f"listing indices failed: {_api_reason(e)}") from None
        except TransportError as e:
            raise self._fail(_connection_reason(e)) from None
        old: list[str] = []
        for row in reply or []:
            name = row.get("index", "") if isinstance(row, dict) else ""
            day = self.namer.day_of(name)
            # A daily index holds [day, day + 1d): it goes once all of that is past the cutoff.
            if day is not None and day.timestamp() + 86400 <= cutoff.timestamp():
                old.append(name)
        deleted: list[str] = []
        for i in range(0, len(old), 50):
            chunk = old[i : i + 50]
            try:
                self._request("DELETE", "/" + ",".join(chunk), params={"ignore_unavailable": "true"})
                deleted.extend(chunk)
            except (ApiError, TransportError) as e:
                log.warning("elasticsearch at %s: deleting old indices failed: %s", self.url, _short(e))
        return RetentionResult(deleted_docs=None, deleted_indices=tuple(sorted(deleted)))

    def refresh(self) -> None:
        try:
            self._request("POST", f"/{self.index_pattern}/_refresh", params=_WIDE)
        except (ApiError, TransportError) as e:
            raise self._fail(f"refresh failed: {_short(e)}") from None

    def health(self) -> Health:
        try:
            self.client.info()
        except ApiError as e:
            return Health(False, f"elasticsearch at {self.url}: HTTP {e.status_code}: {_api_reason(e)}")
        except TransportError as e:
            return Health(False, f"elasticsearch at {self.url}: {_connection_reason(e)}")
        path = "_template" if self._legacy_template else "_index_template"
        try:
            self._request("GET", f"/{path}/{self.config.template_name}")
        except ApiError as e:
            return Health(
                False,
                f"elasticsearch at {self.url}: index template {self.config.template_name!r} "
                f"missing (HTTP {e.status_code})",
            )
        except TransportError as e:
            return Health(False, f"elasticsearch at {self.url}: {_connection_reason(e)}")
        return Health(
            True, f"elasticsearch at {self.url}: reachable, template {self.config.template_name!r} present"
        )

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass
