"""Alerter state as documents in ``store.elasticsearch.state_index``, through the store's client.

One document per instance (``_id`` = ``alerter-instance:<rule>:<fingerprint>``) and per rule
(``alerter-rule:<rule>``). The body is kept as one JSON string (``alerter_json``, not indexed), so
our state never fights the notification log's mappings that share the index. ``save`` is a bulk
request with refresh=wait_for: durable and visible to a restarted process when it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from alerter.state.base import Instance, RuleMeta
from logstore.types import StoreError

_KIND = "alerter_doc_type"
_MAX = 10000  # hits of one search (the server's default max_result_window)
_RULES_PER_MSEARCH = 50
_RULE_PAGE = 1000


class ElasticStateStore:
    def __init__(self, client: Any, index: str) -> None:
        self._es = client
        self._index = index
        try:
            if not self._es.indices.exists(index=index):
                self._es.indices.create(
                    index=index,
                    mappings={
                        "properties": {
                            _KIND: {"type": "keyword"},
                            "alerter_rule": {"type": "keyword"},
                            "alerter_json": {"type": "keyword", "index": False, "doc_values": False},
                        }
                    },
                )
        except Exception as e:
            if "resource_already_exists" not in str(e):
                raise StoreError(f"{index}: cannot create the alerter state index: {e}") from None

    def _all(self, kind: str) -> list[dict[str, Any]]:
        """Every doc of ``kind``, however many: one search per rule (listed by a composite
        aggregation), several per ``_msearch``. A single search returns at most ``_MAX`` hits, so only
        one rule with more instances than that is refused, with its name."""
        self._es.indices.refresh(index=self._index)
        out: list[dict[str, Any]] = []
        rules = self._rules(kind)
        for k in range(0, len(rules), _RULES_PER_MSEARCH):
            chunk = rules[k : k + _RULES_PER_MSEARCH]
            searches: list[dict[str, Any]] = []
            for rule in chunk:
                searches.append({"index": self._index})
                searches.append(
                    {
                        "query": {
                            "bool": {"filter": [{"term": {_KIND: kind}}, {"term": {"alerter_rule": rule}}]}
                        },
                        "size": _MAX,
                        "track_total_hits": True,
                    }
                )
            resp = self._es.msearch(searches=searches)
            for rule, answer in zip(chunk, resp["responses"], strict=True):
                if "error" in answer:
                    raise StoreError(f"{self._index}: loading alerter {kind} docs failed: {answer['error']}")
                hits = answer["hits"]["hits"]
                if len(hits) >= _MAX:
                    raise StoreError(
                        f"{self._index}: rule {rule!r} has more than {_MAX} alerter {kind} docs;"
                        " lower alerter.state.retention or the rule's group limit"
                    )
                out.extend(orjson.loads(h["_source"]["alerter_json"]) for h in hits)
        return out

    def _rules(self, kind: str) -> list[str]:
        """The rules that have docs of ``kind``: a composite aggregation, paged to the end."""
        rules: list[str] = []
        after: dict[str, Any] | None = None
        while True:
            composite: dict[str, Any] = {
                "size": _RULE_PAGE,
                "sources": [{"rule": {"terms": {"field": "alerter_rule"}}}],
            }
            if after is not None:
                composite["after"] = after
            resp = self._es.search(
                index=self._index,
                query={"term": {_KIND: kind}},
                size=0,
                aggs={"rules": {"composite": composite}},
            )
            agg = resp["aggregations"]["rules"]
            buckets = agg.get("buckets", [])
            rules.extend(str(b["key"]["rule"]) for b in buckets)
            after = agg.get("after_key")
            if len(buckets) < _RULE_PAGE or after is None:
                return rules

    def load(self) -> tuple[list[Instance], list[RuleMeta]]:
        return (
            [Instance.from_json(d) for d in self._all("instance")],
            [RuleMeta.from_json(d) for d in self._all("rule")],
        )

    def _bulk(self, ops: list[dict[str, Any]]) -> None:
        if not ops:
            return
        resp = self._es.bulk(operations=ops, refresh="wait_for")
        if resp.get("errors"):
            bad = [
                item
                for item in resp["items"]
                for action in item.values()
                if action.get("status", 200) >= 300 and action.get("status") != 404
            ]
            if bad:
                raise StoreError(f"{self._index}: saving alerter state failed: {str(bad[0])[:300]}")

    def save(self, instances: Sequence[Instance], metas: Sequence[RuleMeta]) -> None:
        ops: list[dict[str, Any]] = []
        for i in instances:
            ops.append(
                {"index": {"_index": self._index, "_id": f"alerter-instance:{i.rule}:{i.fingerprint}"}}
            )
            ops.append(
                {
                    _KIND: "instance",
                    "alerter_rule": i.rule,
                    "alerter_json": orjson.dumps(i.to_json()).decode(),
                }
            )
        for m in metas:
            ops.append({"index": {"_index": self._index, "_id": f"alerter-rule:{m.rule}"}})
            ops.append(
                {_KIND: "rule", "alerter_rule": m.rule, "alerter_json": orjson.dumps(m.to_json()).decode()}
            )
        self._bulk(ops)

    def delete(self, keys: Sequence[tuple[str, str]]) -> None:
        self._bulk(
            [{"delete": {"_index": self._index, "_id": f"alerter-instance:{r}:{fp}"}} for r, fp in keys]
        )

    def close(self) -> None:
        pass  # the client belongs to the store
