"""Notification state kept by a logwarden server (``store: {server: ...}``), through its state API.

The server answers every call from its own durable home for it (SQLite tables in its store file,
``alerter.notify.state.sqlite``), so the guarantees of ``NotifyState`` hold across every alerter
pointed at one server: a ``claim`` is one ``BEGIN IMMEDIATE`` transaction on the server, so for one
slot exactly one owner gets MINE, whichever host it runs on. Requests go through the store's own
connection pool (``ServerStore.client``); a failed request raises ``StoreError`` and changes
nothing the caller is told about (the pipeline retries).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from alerter.notify.state.codec import (
    claim_from_dict,
    failure_from_dict,
    failure_to_dict,
    group_from_dict,
    group_to_dict,
    message_from_dict,
    message_to_dict,
    sent_from_dict,
    silence_from_dict,
    silence_to_dict,
    slot_to_dict,
)
from alerter.notify.state.types import (
    Claim,
    FailureRecord,
    Group,
    MessageRecord,
    SentEntry,
    Silence,
    SilenceFilter,
    Slot,
)
from logstore.server.wire import PREFIX

_PATH = f"{PREFIX}/notify-state"


class ServerNotifyState:
    def __init__(self, client: Any) -> None:
        self._client = client  # a logstore.server.ServerClient, owned by the store

    def _call(self, op: str, body: dict[str, Any] | None = None, raw: bytes | None = None) -> Any:
        return self._client.call("POST", f"{_PATH}/{op}", body, raw=raw)

    # -- silences ---------------------------------------------------------------------------------

    def add_silence(self, silence: Silence) -> None:
        self._call("silences/add", {"silence": silence_to_dict(silence)})

    def silences(self, now: datetime, which: SilenceFilter = "active") -> list[Silence]:
        answer = self._call("silences/list", {"now": now.isoformat(), "which": which})
        return [silence_from_dict(d) for d in answer["silences"]]

    def expire_silence(self, silence_id: str, now: datetime) -> bool:
        return bool(self._call("silences/expire", {"id": silence_id, "now": now.isoformat()})["expired"])

    # -- pending groups ---------------------------------------------------------------------------

    def load_groups(self) -> list[Group]:
        return [group_from_dict(d) for d in self._call("groups/list")["groups"]]

    def save_group(self, group: Group) -> None:
        # default=str: samples are log docs and may hold anything JSON-ish (as every backend does).
        self._call("groups/save", raw=b'{"group":' + orjson.dumps(group_to_dict(group), default=str) + b"}")

    def delete_group(self, key: str) -> None:
        self._call("groups/delete", {"key": key})

    # -- notification log and claims --------------------------------------------------------------

    def last_sent(self, channel: str, fingerprint: str) -> SentEntry | None:
        entry = self._call("last-sent", {"channel": channel, "fingerprint": fingerprint})["entry"]
        return None if entry is None else sent_from_dict(entry)

    def claim(self, slot: Slot, owner: str, now: datetime, lease: timedelta) -> Claim:
        body = {
            "slot": slot_to_dict(slot),
            "owner": owner,
            "now": now.isoformat(),
            "lease_seconds": lease.total_seconds(),
        }
        return claim_from_dict(self._call("claim", body))

    def release(self, slots: Sequence[Slot], owner: str) -> None:
        self._call("release", {"slots": [slot_to_dict(s) for s in slots], "owner": owner})

    def mark_sent(self, slots: Sequence[Slot], owner: str, now: datetime) -> None:
        body = {"slots": [slot_to_dict(s) for s in slots], "owner": owner, "now": now.isoformat()}
        self._call("mark-sent", body)

    def record_message(self, message: MessageRecord) -> None:
        self._call("messages/record", raw=orjson.dumps({"message": message_to_dict(message)}, default=str))

    def messages_since(self, channel: str, since: datetime) -> list[datetime]:
        answer = self._call("messages/since", {"channel": channel, "since": since.isoformat()})
        return [datetime.fromisoformat(t) for t in answer["times"]]

    def messages(self, since: datetime, limit: int) -> list[MessageRecord]:
        answer = self._call("messages/list", {"since": since.isoformat(), "limit": limit})
        return [message_from_dict(d) for d in answer["messages"]]

    def record_failure(self, failure: FailureRecord) -> None:
        self._call("failures/record", {"failure": failure_to_dict(failure)})

    def failures(self, since: datetime, limit: int) -> list[FailureRecord]:
        answer = self._call("failures/list", {"since": since.isoformat(), "limit": limit})
        return [failure_from_dict(d) for d in answer["failures"]]

    def prune(self, now: datetime, retention: timedelta) -> int:
        body = {"now": now.isoformat(), "retention_seconds": retention.total_seconds()}
        return int(self._call("prune", body)["pruned"])

    def close(self) -> None:
        pass  # the connection pool belongs to the store
