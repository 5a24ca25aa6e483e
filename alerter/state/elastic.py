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
_MAX = 10000


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
        self._es.indices.refresh(index=self._index)
        resp = self._es.search(index=self._index, query={"term": {_KIND: kind}}, size=_MAX)
        hits = resp["hits"]["hits"]
        if len(hits) >= _MAX:
            raise StoreError(
                f"{self._index}: more than {_MAX} alerter {kind} docs; lower alerter.state.retention"
            )
        return [orjson.loads(h["_source"]["alerter_json"]) for h in hits]

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
