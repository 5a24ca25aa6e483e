"""Alert state kept by a logwarden server (``store: {server: ...}``), through its state API.

The server answers from its own durable home for it (SQLite tables in its store file,
``alerter.state.sqlite``), so what that module guarantees holds here: ``save`` is one transaction
(all instances and metas of a tick, or none), durable when the call returns. Requests go through the
store's own connection pool (``ServerStore.client``); a failed request raises ``StoreError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from alerter.state.base import Instance, RuleMeta
from logstore.server.wire import PREFIX

_PATH = f"{PREFIX}/alert-state"


class ServerStateStore:
    def __init__(self, client: Any) -> None:
        self._client = client  # a logstore.server.ServerClient, owned by the store

    def load(self) -> tuple[list[Instance], list[RuleMeta]]:
        answer = self._client.call("GET", _PATH)
        return (
            [Instance.from_json(d) for d in answer["instances"]],
            [RuleMeta.from_json(d) for d in answer["rules"]],
        )

    def save(self, instances: Sequence[Instance], metas: Sequence[RuleMeta]) -> None:
        if not instances and not metas:
            return
        body = {"instances": [i.to_json() for i in instances], "rules": [m.to_json() for m in metas]}
        self._client.call("POST", f"{_PATH}/save", raw=orjson.dumps(body))

    def delete(self, keys: Sequence[tuple[str, str]]) -> None:
        if keys:
            self._client.call("POST", f"{_PATH}/delete", {"keys": [list(k) for k in keys]})

    def close(self) -> None:
        pass  # the connection pool belongs to the store
