"""Aggregation round trips: every request of one ``aggregate`` call in one ``_msearch``.

Guarantees:
- Requests sharing query, window and grouping are merged into one search first
  (``logstore.coalesce``); each caller still gets one ``AggResult`` per request, in order.
- All searches of a round go out in ONE ``_msearch`` (a real cluster runs its searches in
  parallel); only composite pagination and the check of remembered groups need further rounds.
- Query errors (``QueryError``) come before any I/O; a search the server refuses with 400 is a
  ``QueryError`` too, any other failure a one-line ``StoreError`` naming the URL.
- Field types are looked up (cached) only for fields whose type changes the DSL; on a
  ``QueryError`` with cached types they are looked up afresh once, since another process may have
  written a new daily index meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from elastic_transport import TransportError
from elasticsearch import ApiError

from logstore.coalesce import coalesce
from logstore.elastic import _aggs
from logstore.elastic._client import NDJSON, Cluster, item_reason, short
from logstore.elastic._dsl import fields_needing_types
from logstore.elastic._search import FieldTypes
from logstore.query import QueryError, parse_query
from logstore.types import AggRequest, AggResult

# Process-wide, so a store opened per run (``alerter run --once``, each benchmark pass) starts warm;
# keyed by cluster URL and index pattern. Only steers planning: every answer is checked (see _aggs).
_KNOWN_GROUPS = _aggs.KnownGroups()


class Aggregator:
    """``aggregate`` of one store."""

    def __init__(self, cluster: Cluster, types: FieldTypes) -> None:
        self._cluster = cluster
        self._types = types

    def aggregate(self, requests: Sequence[AggRequest]) -> list[AggResult]:
        if not requests:
            return []
        fields: set[str] = set()
        for req in requests:  # user errors first, before any I/O
            fields |= fields_needing_types(parse_query(req.query)) | _aggs.metric_fields(req)
            for m in req.metrics:
                if m.query:
                    fields |= fields_needing_types(parse_query(m.query))
        for req in requests:
            if _KNOWN_GROUPS.get(self._known_key(req.group_by)) is not None:
                fields.add(req.group_by[0])  # only a keyword groups by remembered values (_aggs)
        try:
            return self._aggregate(requests, fields)
        except QueryError:
            if not fields:
                raise
            # Field types may have changed since they were cached (another process wrote a new
            # daily index): look them up afresh once before calling the query bad.
            self._types.clear()
            return self._aggregate(requests, fields)

    def _aggregate(self, requests: Sequence[AggRequest], fields: set[str]) -> list[AggResult]:
        try:
            types = self._types.lookup(fields)
        except (ApiError, TransportError) as e:
            raise self._cluster.search_error(e, requests[0].query) from None
        # Requests sharing query, window and grouping become one search (see _aggs: a search costs
        # docs x aggregations, so one scan for all of them is cheapest).
        merged, split = coalesce(requests)
        index = self._cluster.index_pattern
        known = _KNOWN_GROUPS.get
        plans = [_aggs.plan(req, index, types, known(self._known_key(req.group_by))) for req in merged]
        pending: list[tuple[_aggs.AggPlan, dict[str, Any]]] = [(p, p.first_body()) for p in plans]
        first = True
        while pending:
            responses = self._msearch(pending)
            nxt: list[tuple[_aggs.AggPlan, dict[str, Any]]] = []
            for (p, _body), r in zip(pending, responses, strict=True):
                if "error" in r:
                    raise self._item_error(p, r)
                more = _aggs.absorb(p, r, first)
                if more is not None:
                    nxt.append((p, more))
            pending = nxt
            first = False
        for p in plans:
            # Learn from every complete single-field grouping; the keyword check comes at plan time.
            if len(p.req.group_by) == 1 and not p.req.interval and not p.overflow:
                _KNOWN_GROUPS.learn(self._known_key(p.req.group_by), {g[0] for g in p.groups})
        return split([_aggs.result(p) for p in plans])

    def _item_error(self, p: _aggs.AggPlan, r: dict[str, Any]) -> Exception:
        err = r["error"]
        reason = item_reason(err) if isinstance(err, dict) else short(err)
        if int(r.get("status", 500)) == 400:
            return QueryError(f"the server refused the query: {reason}", p.req.query, 0)
        return self._cluster.fail(f"aggregation failed: {reason}")

    def _msearch(self, items: Sequence[tuple[_aggs.AggPlan, dict[str, Any]]]) -> list[Any]:
        """One reply per (plan, body), in order, from one ``_msearch``."""
        lines: list[bytes] = []
        for p, body in items:
            lines.append(orjson.dumps(p.header))
            lines.append(orjson.dumps(body))
        try:
            reply = self._cluster.client.perform_request(
                "POST", "/_msearch", headers=NDJSON, body=b"\n".join(lines) + b"\n"
            ).body
        except (ApiError, TransportError) as e:
            raise self._cluster.search_error(e, items[0][0].req.query) from None
        responses = list(reply.get("responses", []))
        if len(responses) != len(items):
            raise self._cluster.fail(f"_msearch answered {len(responses)} searches for {len(items)}")
        return responses

    def _known_key(self, group_by: tuple[str, ...]) -> tuple[str, ...]:
        return (self._cluster.url, self._cluster.index_pattern, *group_by)
