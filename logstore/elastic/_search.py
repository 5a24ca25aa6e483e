"""Search and count: a Lucene query string -> query DSL, hits streamed page by page.

Guarantees:
- ``search`` yields hits sorted by (``@timestamp``, ``event.id``) in the requested order, one page
  of ``page_size`` at a time (bounded memory), with ``search_after`` inside a point in time where
  the server has one (a consistent view across pages; the PIT is closed when the iterator ends or
  is dropped). Without PIT (osmem) it pages on the index pattern. ``after`` resumes strictly after
  a cursor in that order.
- A query error surfaces at the call, before the first page; a refused query (400) is a
  ``QueryError``, any other failure a one-line ``StoreError`` naming the URL.
- Field types (``_field_caps``, only for clauses that cannot run on every type) are cached for
  ``_TYPES_TTL`` seconds; the store clears the cache on every write, since a write may create the
  daily index that changes a field's type.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError

from logstore.elastic._client import WIDE, Cluster, api_reason
from logstore.elastic._dsl import TypeLookup, fields_needing_types, translate, with_window
from logstore.protocol import Order
from logstore.query import Node, parse_query
from logstore.types import ID_FIELD, TIMESTAMP_FIELD, Cursor, Hit, datetime_to_ms

log = logging.getLogger("logstore.elastic")

_TYPES_TTL = 5.0  # seconds a _field_caps answer is reused (writes clear it)
_PIT_KEEP_ALIVE = "2m"
_LONG_MAX = 9_223_372_036_854_775_807


class FieldTypes:
    """The mapped types of fields across the store's indices, from a short-lived ``_field_caps`` cache."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._cache: dict[frozenset[str], tuple[float, dict[str, frozenset[str]]]] = {}

    def clear(self) -> None:
        self._cache.clear()

    def lookup(self, fields: set[str]) -> TypeLookup:
        """Field name -> its types (empty when unmapped). May raise ApiError/TransportError."""
        found = self._types(fields)
        return lambda f: found.get(f, frozenset())

    def _types(self, fields: set[str]) -> dict[str, frozenset[str]]:
        if not fields:
            return {}
        key = frozenset(fields)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < _TYPES_TTL:
            return cached[1]
        reply = self._cluster.request(
            "GET",
            f"/{self._cluster.index_pattern}/_field_caps",
            params={"fields": ",".join(sorted(fields)), **WIDE},
        )
        found: dict[str, frozenset[str]] = {}
        for f, by_type in (reply.get("fields") or {}).items():
            found[f] = frozenset(t for t in by_type if t not in ("unmapped", "object"))
        if len(self._cache) > 256:
            self._cache.clear()
        self._cache[key] = (now, found)
        return found


def _ms(dt: datetime | None) -> int | None:
    return None if dt is None else datetime_to_ms(dt)


class Searcher:
    """``search`` and ``count`` of one store."""

    def __init__(self, cluster: Cluster, types: FieldTypes, page_size: int) -> None:
        self._cluster = cluster
        self._types = types
        self.page_size = page_size
        self._pit_supported: bool | None = None  # None: not asked yet

    def _query(self, node: Node, query: str, start: datetime | None, end: datetime | None) -> dict[str, Any]:
        types = self._types.lookup(fields_needing_types(node))
        return with_window(translate(node, types, query), _ms(start), _ms(end))

    def search(
        self,
        query: str,
        start: datetime | None,
        end: datetime | None,
        order: Order,
        limit: int | None,
        after: Cursor | None,
    ) -> Iterator[Hit]:
        node = parse_query(query)  # a QueryError surfaces before the first page, at the call
        try:
            dsl = self._query(node, query, start, end)
        except (ApiError, TransportError) as e:
            raise self._cluster.search_error(e, query) from None
        return self._pages(query, dsl, order, limit, after)

    def count(self, query: str, start: datetime | None, end: datetime | None) -> int:
        node = parse_query(query)
        try:
            dsl = self._query(node, query, start, end)
            reply = self._cluster.request(
                "POST",
                f"/{self._cluster.index_pattern}/_search",
                {"size": 0, "track_total_hits": True, "query": dsl},
                params=WIDE,
            )
        except (ApiError, TransportError) as e:
            raise self._cluster.search_error(e, query) from None
        total = reply.get("hits", {}).get("total", 0)
        return int(total["value"] if isinstance(total, dict) else total)

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
                reply, pit = self._page(query, body, pit)
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

    def _page(self, query: str, body: dict[str, Any], pit: str | None) -> tuple[Any, str | None]:
        """One page's reply, and the PIT id to use for the next page."""
        try:
            if pit is not None:
                body["pit"] = {"id": pit, "keep_alive": _PIT_KEEP_ALIVE}
                reply = self._cluster.request("POST", "/_search", body)
                return reply, reply.get("pit_id", pit)
            path = f"/{self._cluster.index_pattern}/_search"
            return self._cluster.request("POST", path, body, params=WIDE), None
        except (ApiError, TransportError) as e:
            raise self._cluster.search_error(e, query) from None

    def _open_pit(self, query: str) -> str | None:
        if self._pit_supported is False:
            return None
        cluster = self._cluster
        try:
            # (_pit takes no allow_no_indices; a pattern matching nothing gives an empty PIT.)
            reply = cluster.request(
                "POST",
                f"/{cluster.index_pattern}/_pit",
                params={"keep_alive": _PIT_KEEP_ALIVE, "ignore_unavailable": "true"},
            )
        except ApiError as e:
            reason = api_reason(e)
            if e.status_code in (405, 501) or "no handler found" in reason or "unrecognized" in reason:
                log.debug("elasticsearch at %s has no point-in-time API; pages without one", cluster.url)
                self._pit_supported = False
            else:
                log.debug("elasticsearch at %s: no point in time for this search (%s)", cluster.url, reason)
            return None
        except TransportError as e:
            raise cluster.search_error(e, query) from None
        self._pit_supported = True
        pit = reply.get("id")
        return str(pit) if pit else None

    def _close_pit(self, pit: str) -> None:
        try:
            self._cluster.request("DELETE", "/_pit", {"id": pit})
        except (ApiError, TransportError):
            pass  # it expires on its own after keep_alive
