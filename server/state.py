"""The alerter's state through the server: ``/_logwarden/v1/alert-state/...`` and ``.../notify-state/...``.

An alerter on another host (``store: {server: ...}``) keeps its alert state and its notification
state here (``alerter.state.server``, ``alerter.notify.state.server`` send the calls). The server
answers from the durable home its own store backend has for them (``Backend.open_alert_state`` /
``open_notify_state``: SQLite tables in the store's file), opened on first use, so every guarantee of
those holds for every alerter pointed at this server; above all, a ``claim`` is one
``BEGIN IMMEDIATE`` transaction, so two alerters send each notification once.

Each route is one method call with JSON in and out (codecs: ``alerter.notify.state.codec``); the
calls run in the thread pool (SQLite may wait on a lock). A body that does not decode is a 400
naming the route and the key.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from alerter.notify.state.codec import (
    claim_to_dict,
    failure_from_dict,
    failure_to_dict,
    group_from_dict,
    group_to_dict,
    message_from_dict,
    message_to_dict,
    sent_to_dict,
    silence_from_dict,
    silence_to_dict,
    slot_from_dict,
)
from alerter.state.base import Instance, RuleMeta
from logstore.backends import get_backend
from logstore.server.wire import PREFIX
from logwarden.config import Config

ALERT = f"{PREFIX}/alert-state"
NOTIFY = f"{PREFIX}/notify-state"


class StateHomes:
    """The alert state and the notification state of the server's store, each opened on first use
    (a server no alerter talks to creates no alerter tables) and closed with the server."""

    def __init__(self, config: Config, store: Any) -> None:
        self._config = config
        self._store = store
        self._lock = threading.Lock()
        self._alert: Any = None
        self._notify: Any = None

    def alert(self) -> Any:
        with self._lock:
            if self._alert is None:
                backend = get_backend(self._config.store.backend)
                self._alert = backend.open_alert_state(self._store, self._config.store.settings)
            return self._alert

    def notify(self) -> Any:
        with self._lock:
            if self._notify is None:
                backend = get_backend(self._config.store.backend)
                self._notify = backend.open_notify_state(self._store, self._config.store.settings)
            return self._notify

    def close(self) -> None:
        with self._lock:
            for state in (self._alert, self._notify):
                if state is not None:
                    state.close()
            self._alert = self._notify = None


# ---- alert state -----------------------------------------------------------------------------------


def _alert_load(homes: StateHomes, body: dict[str, Any]) -> Any:
    instances, metas = homes.alert().load()
    return {"instances": [i.to_json() for i in instances], "rules": [m.to_json() for m in metas]}


def _alert_save(homes: StateHomes, body: dict[str, Any]) -> Any:
    instances = [Instance.from_json(d) for d in body["instances"]]
    metas = [RuleMeta.from_json(d) for d in body["rules"]]
    homes.alert().save(instances, metas)
    return {}


def _alert_delete(homes: StateHomes, body: dict[str, Any]) -> Any:
    homes.alert().delete([(str(rule), str(fp)) for rule, fp in body["keys"]])
    return {}


# ---- notification state ----------------------------------------------------------------------------


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _silence_add(homes: StateHomes, body: dict[str, Any]) -> Any:
    homes.notify().add_silence(silence_from_dict(body["silence"]))
    return {}


def _silence_list(homes: StateHomes, body: dict[str, Any]) -> Any:
    which = body.get("which", "active")
    if which not in ("active", "all"):
        raise ValueError(f"which: expected 'active' or 'all', got {which!r}")
    return {"silences": [silence_to_dict(s) for s in homes.notify().silences(_dt(body["now"]), which)]}


def _silence_expire(homes: StateHomes, body: dict[str, Any]) -> Any:
    return {"expired": homes.notify().expire_silence(str(body["id"]), _dt(body["now"]))}


def _groups_list(homes: StateHomes, body: dict[str, Any]) -> Any:
    return {"groups": [group_to_dict(g) for g in homes.notify().load_groups()]}


def _group_save(homes: StateHomes, body: dict[str, Any]) -> Any:
    homes.notify().save_group(group_from_dict(body["group"]))
    return {}


def _group_delete(homes: StateHomes, body: dict[str, Any]) -> Any:
    homes.notify().delete_group(str(body["key"]))
    return {}


def _last_sent(homes: StateHomes, body: dict[str, Any]) -> Any:
    entry = homes.notify().last_sent(str(body["channel"]), str(body["fingerprint"]))
    return {"entry": None if entry is None else sent_to_dict(entry)}


def _claim(homes: StateHomes, body: dict[str, Any]) -> Any:
    lease = timedelta(seconds=float(body["lease_seconds"]))
    claim = homes.notify().claim(slot_from_dict(body["slot"]), str(body["owner"]), _dt(body["now"]), lease)
    return claim_to_dict(claim)


def _release(homes: StateHomes, body: dict[str, Any]) -> Any:
    homes.notify().release([slot_from_dict(s) for s in body["slots"]], str(body["owner"]))
    return {}


def _mark_sent(homes: StateHomes, body: dict[str, Any]) -> Any:
    slots = [slot_from_dict(s) for s in body["slots"]]
    homes.notify().mark_sent(slots, str(body["owner"]), _dt(body["now"]))
    return {}


def _message_record(homes: StateHomes, body: dict[str, Any]) -> Any:
    homes.notify().record_message(message_from_dict(body["message"]))
    return {}


def _messages_since(homes: StateHomes, body: dict[str, Any]) -> Any:
    times = homes.notify().messages_since(str(body["channel"]), _dt(body["since"]))
    return {"times": [t.isoformat() for t in times]}


def _limit(body: dict[str, Any]) -> int:
    limit = body.get("limit", 100)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= 10_000:
        raise ValueError(f"limit: expected a whole number from 0 to 10000, got {limit!r}")
    return limit


def _messages_list(homes: StateHomes, body: dict[str, Any]) -> Any:
    found = homes.notify().messages(_dt(body["since"]), _limit(body))
    return {"messages": [message_to_dict(m) for m in found]}


def _failure_record(homes: StateHomes, body: dict[str, Any]) -> Any:
    homes.notify().record_failure(failure_from_dict(body["failure"]))
    return {}


def _failures_list(homes: StateHomes, body: dict[str, Any]) -> Any:
    found = homes.notify().failures(_dt(body["since"]), _limit(body))
    return {"failures": [failure_to_dict(f) for f in found]}


def _prune(homes: StateHomes, body: dict[str, Any]) -> Any:
    retention = timedelta(seconds=float(body["retention_seconds"]))
    return {"pruned": homes.notify().prune(_dt(body["now"]), retention)}


Op = Callable[[StateHomes, dict[str, Any]], Any]

# (path, HTTP method, the call): the OpenAPI description (server/openapi.py) lists each one.
OPS: list[tuple[str, str, Op]] = [
    (ALERT, "GET", _alert_load),
    (f"{ALERT}/save", "POST", _alert_save),
    (f"{ALERT}/delete", "POST", _alert_delete),
    (f"{NOTIFY}/silences/add", "POST", _silence_add),
    (f"{NOTIFY}/silences/list", "POST", _silence_list),
    (f"{NOTIFY}/silences/expire", "POST", _silence_expire),
    (f"{NOTIFY}/groups/list", "POST", _groups_list),
    (f"{NOTIFY}/groups/save", "POST", _group_save),
    (f"{NOTIFY}/groups/delete", "POST", _group_delete),
    (f"{NOTIFY}/last-sent", "POST", _last_sent),
    (f"{NOTIFY}/claim", "POST", _claim),
    (f"{NOTIFY}/release", "POST", _release),
    (f"{NOTIFY}/mark-sent", "POST", _mark_sent),
    (f"{NOTIFY}/messages/record", "POST", _message_record),
    (f"{NOTIFY}/messages/since", "POST", _messages_since),
    (f"{NOTIFY}/messages/list", "POST", _messages_list),
    (f"{NOTIFY}/failures/record", "POST", _failure_record),
    (f"{NOTIFY}/failures/list", "POST", _failures_list),
    (f"{NOTIFY}/prune", "POST", _prune),
]


def _endpoint(path: str, op: Op) -> Callable[[Request], Awaitable[Response]]:
    from server.api import answer, read_json

    async def endpoint(request: Request) -> Response:
        async def call(ctx: Any) -> Any:
            body = await read_json(request) if request.method == "POST" else {}
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            return await run_in_threadpool(op, ctx.state, body)

        return await answer(request, path, call)

    return endpoint


def routes() -> list[BaseRoute]:
    return [Route(path, _endpoint(path, op), methods=[method]) for path, method, op in OPS]
