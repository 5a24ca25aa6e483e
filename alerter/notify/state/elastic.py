"""Notification state as documents in the Elasticsearch state index (``store.elasticsearch.state_index``).

Every doc keeps its fields under ``notify`` (with ``notify.kind`` = silence | group | slot | message |
failure) and
an id prefixed ``notify-``, so it shares the index with the engine's documents without collisions.
Times are epoch milliseconds (``long``: a float field would round them to minutes).

HA: a notification slot is claimed with a create-only write (``op_type=create``; 409 means another
alerter has it). An unsent claim older than the lease is taken over with a compare-and-set write
(``if_seq_no``/``if_primary_term``), so exactly one taker wins. Writes use ``refresh=true`` so the
peer's next search sees them; the volume is a handful of docs per notification.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from elasticsearch import ConflictError, NotFoundError

from alerter.notify.matchers import dump_matchers, load_matchers
from alerter.notify.state.codec import group_from_json, group_to_json
from alerter.notify.state.types import (
    Claim,
    ClaimOutcome,
    FailureRecord,
    Group,
    MessageRecord,
    SentEntry,
    Silence,
    SilenceFilter,
    Slot,
    from_ts,
    ts,
)

_PROPERTIES: dict[str, Any] = {
    "notify": {
        "properties": {
            "kind": {"type": "keyword"},
            "id": {"type": "keyword"},
            "channel": {"type": "keyword"},
            "fingerprint": {"type": "keyword"},
            "state": {"type": "keyword"},
            "owner": {"type": "keyword"},
            "rule": {"type": "keyword"},
            "started_at": {"type": "long"},
            "repeat": {"type": "integer"},
            "claimed_at": {"type": "long"},
            "sent_at": {"type": "long"},
            "starts_at": {"type": "long"},
            "ends_at": {"type": "long"},
            "created_at": {"type": "long"},
            "next_flush": {"type": "long"},
            "alerts": {"type": "integer"},
            "digest": {"type": "boolean"},
            "failed_at": {"type": "long"},
            "attempt": {"type": "integer"},
            "reason": {"type": "keyword", "index": False},
            "title": {"type": "keyword", "index": False},
            "comment": {"type": "keyword", "index": False},
            "author": {"type": "keyword"},
            "matchers": {"type": "keyword", "index": False},
            "body": {"type": "keyword", "index": False, "doc_values": False},
        }
    }
}
_PAGE = 1000


def _ms(dt: datetime) -> int:
    return round(ts(dt) * 1000)


def _dt(ms: int) -> datetime:
    return from_ts(ms / 1000)


class ElasticNotifyState:
    def __init__(self, client: Any, index: str) -> None:
        self._es = client
        self._index = index
        self._ensure_index()

    def _ensure_index(self) -> None:
        if not self._es.indices.exists(index=self._index):
            try:
                self._es.indices.create(index=self._index, mappings={"properties": _PROPERTIES})
                return
            except Exception as e:  # a peer created it between exists and create
                if "already_exists" not in str(e) and "resource_already_exists" not in str(e):
                    raise
        self._es.indices.put_mapping(index=self._index, properties=_PROPERTIES)

    def _put(self, doc_id: str, body: dict[str, Any], **kw: Any) -> Any:
        return self._es.index(index=self._index, id=doc_id, document={"notify": body}, refresh="true", **kw)

    def _search(self, filters: list[dict[str, Any]], sort: list[Any] | None = None, size: int = _PAGE) -> Any:
        return self._es.search(
            index=self._index,
            query={"bool": {"filter": filters}},
            sort=sort or [],
            size=size,
        )["hits"]["hits"]

    def _kind(self, kind: str) -> dict[str, Any]:
        return {"term": {"notify.kind": kind}}

    # -- silences ---------------------------------------------------------------------------------

    def add_silence(self, silence: Silence) -> None:
        self._put(
            f"notify-silence-{silence.id}",
            {
                "kind": "silence",
                "id": silence.id,
                "rule": silence.rule,
                "matchers": dump_matchers(silence.match),
                "starts_at": _ms(silence.starts_at),
                "ends_at": _ms(silence.ends_at),
                "comment": silence.comment,
                "author": silence.author,
                "created_at": _ms(silence.created_at),
            },
        )

    def silences(self, now: datetime, which: SilenceFilter = "active") -> list[Silence]:
        filters = [self._kind("silence")]
        if which == "active":
            filters += [
                {"range": {"notify.starts_at": {"lte": _ms(now)}}},
                {"range": {"notify.ends_at": {"gt": _ms(now)}}},
            ]
        out = []
        for hit in self._search(filters, sort=[{"notify.created_at": "asc"}]):
            n = hit["_source"]["notify"]
            out.append(
                Silence(
                    n["id"],
                    n["rule"],
                    load_matchers(n["matchers"]),
                    _dt(n["starts_at"]),
                    _dt(n["ends_at"]),
                    n["comment"],
                    n["author"],
                    _dt(n["created_at"]),
                )
            )
        return out

    def expire_silence(self, silence_id: str, now: datetime) -> bool:
        try:
            got = self._es.get(index=self._index, id=f"notify-silence-{silence_id}")
        except NotFoundError:
            return False
        body = got["_source"]["notify"]
        if body["ends_at"] <= _ms(now):
            return False
        body["ends_at"] = _ms(now)
        self._put(f"notify-silence-{silence_id}", body)
        return True

    # -- pending groups ---------------------------------------------------------------------------

    def load_groups(self) -> list[Group]:
        hits = self._search([self._kind("group")], sort=[{"notify.next_flush": "asc"}], size=10000)
        return [group_from_json(h["_source"]["notify"]["body"]) for h in hits]

    def save_group(self, group: Group) -> None:
        self._put(
            f"notify-group-{group.key}",
            {
                "kind": "group",
                "channel": group.channel,
                "next_flush": _ms(group.next_flush),
                "body": group_to_json(group),
            },
        )

    def delete_group(self, key: str) -> None:
        try:
            self._es.delete(index=self._index, id=f"notify-group-{key}", refresh="true")
        except NotFoundError:
            pass

    # -- notification log and claims --------------------------------------------------------------

    def last_sent(self, channel: str, fingerprint: str) -> SentEntry | None:
        hits = self._search(
            [
                self._kind("slot"),
                {"term": {"notify.channel": channel}},
                {"term": {"notify.fingerprint": fingerprint}},
            ],
            # Unsent slots count too: a live claim, or one whose owner died during or after its
            # send (presumed delivered). Failed sends release their claims (see ``release``).
            sort=[{"notify.claimed_at": "desc"}],
            size=1,
        )
        if not hits:
            return None
        n = hits[0]["_source"]["notify"]
        at = n.get("sent_at")
        return SentEntry(
            n["state"], _dt(n["started_at"]), int(n["repeat"]), _dt(at if at is not None else n["claimed_at"])
        )

    def _slot_body(self, slot: Slot, owner: str, now: datetime) -> dict[str, Any]:
        return {
            "kind": "slot",
            "channel": slot.channel,
            "fingerprint": slot.fingerprint,
            "state": slot.state,
            "started_at": _ms(slot.started_at),
            "repeat": slot.repeat,
            "owner": owner,
            "claimed_at": _ms(now),
        }

    def claim(self, slot: Slot, owner: str, now: datetime, lease: timedelta) -> Claim:
        doc_id = f"notify-slot-{slot.id}"
        body = self._slot_body(slot, owner, now)
        try:
            self._put(doc_id, body, op_type="create")
            return Claim(ClaimOutcome.MINE)
        except ConflictError:
            pass
        got = self._es.get(index=self._index, id=doc_id)
        held = got["_source"]["notify"]
        if held.get("sent_at") is not None:
            return Claim(ClaimOutcome.SENT)
        until = _dt(held["claimed_at"]) + lease
        if held["owner"] != owner and until > now:
            return Claim(ClaimOutcome.TAKEN, until)
        abandoned = held["owner"] != owner
        if abandoned:
            # Its owner died holding it, after or during the send (a failed send releases its
            # claim): presume it was delivered, as of the claim, rather than send it twice.
            body = {**held, "sent_at": held["claimed_at"]}
        # Ours (renewing the lease on a retry) or abandoned: compare-and-set so one taker wins.
        try:
            self._put(doc_id, body, if_seq_no=got["_seq_no"], if_primary_term=got["_primary_term"])
            return Claim(ClaimOutcome.SENT if abandoned else ClaimOutcome.MINE)
        except ConflictError:
            again = self._es.get(index=self._index, id=doc_id)["_source"]["notify"]
            if again.get("sent_at") is not None:
                return Claim(ClaimOutcome.SENT)
            return Claim(ClaimOutcome.TAKEN, _dt(again["claimed_at"]) + lease)

    def release(self, slots: Sequence[Slot], owner: str) -> None:
        for slot in slots:
            doc_id = f"notify-slot-{slot.id}"
            try:
                got = self._es.get(index=self._index, id=doc_id)
            except NotFoundError:
                continue
            held = got["_source"]["notify"]
            if held["owner"] != owner or held.get("sent_at") is not None:
                continue
            try:
                self._es.delete(
                    index=self._index,
                    id=doc_id,
                    if_seq_no=got["_seq_no"],
                    if_primary_term=got["_primary_term"],
                    refresh="true",
                )
            except (ConflictError, NotFoundError):
                pass  # taken over or already gone: not ours to release any more

    def mark_sent(self, slots: Sequence[Slot], owner: str, now: datetime) -> None:
        for slot in slots:
            body = self._slot_body(slot, owner, now)
            body["sent_at"] = _ms(now)
            self._put(f"notify-slot-{slot.id}", body)

    def record_message(self, message: MessageRecord) -> None:
        self._put(
            f"notify-msg-{message.id}",
            {
                "kind": "message",
                "id": message.id,
                "channel": message.channel,
                "title": message.title,
                "alerts": message.alerts,
                "digest": message.digest,
                "sent_at": _ms(message.sent_at),
            },
        )

    def messages_since(self, channel: str, since: datetime) -> list[datetime]:
        hits = self._search(
            [
                self._kind("message"),
                {"term": {"notify.channel": channel}},
                {"range": {"notify.sent_at": {"gte": _ms(since)}}},
            ],
            sort=[{"notify.sent_at": "asc"}],
            size=10000,
        )
        return [_dt(h["_source"]["notify"]["sent_at"]) for h in hits]

    def messages(self, since: datetime, limit: int) -> list[MessageRecord]:
        hits = self._search(
            [self._kind("message"), {"range": {"notify.sent_at": {"gte": _ms(since)}}}],
            sort=[{"notify.sent_at": "desc"}, {"notify.id": "desc"}],
            size=min(limit, 10000),
        )
        out = []
        for h in hits:
            n = h["_source"]["notify"]
            out.append(
                MessageRecord(
                    n["id"], n["channel"], n["title"], int(n["alerts"]), _dt(n["sent_at"]), n["digest"]
                )
            )
        return out

    def record_failure(self, failure: FailureRecord) -> None:
        self._put(
            f"notify-failure-{failure.id}",
            {
                "kind": "failure",
                "id": failure.id,
                "channel": failure.channel,
                "title": failure.title,
                "alerts": failure.alerts,
                "failed_at": _ms(failure.failed_at),
                "reason": failure.reason,
                "attempt": failure.attempt,
            },
        )

    def failures(self, since: datetime, limit: int) -> list[FailureRecord]:
        hits = self._search(
            [self._kind("failure"), {"range": {"notify.failed_at": {"gte": _ms(since)}}}],
            sort=[{"notify.failed_at": "desc"}, {"notify.id": "desc"}],
            size=min(limit, 10000),
        )
        out = []
        for h in hits:
            n = h["_source"]["notify"]
            out.append(
                FailureRecord(
                    n["id"],
                    n["channel"],
                    n["title"],
                    int(n["alerts"]),
                    _dt(n["failed_at"]),
                    n["reason"],
                    int(n["attempt"]),
                )
            )
        return out

    def prune(self, now: datetime, retention: timedelta) -> int:
        cutoff = _ms(now - retention)
        old = {
            "bool": {
                "filter": [{"terms": {"notify.kind": ["slot", "message", "failure", "silence"]}}],
                "should": [
                    {"range": {"notify.sent_at": {"lt": cutoff}}},
                    {"range": {"notify.failed_at": {"lt": cutoff}}},
                    {"range": {"notify.ends_at": {"lt": cutoff}}},
                    {
                        "bool": {
                            "must_not": [{"exists": {"field": "notify.sent_at"}}],
                            "filter": [{"range": {"notify.claimed_at": {"lt": cutoff}}}],
                        }
                    },
                ],
                "minimum_should_match": 1,
            }
        }
        res = self._es.delete_by_query(index=self._index, query=old, refresh=True, conflicts="proceed")
        return int(res.get("deleted", 0))

    def close(self) -> None:
        # The client belongs to the store; closing it is the store's job.
        pass
