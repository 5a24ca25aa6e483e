"""JSON forms of the notification state's records: AlertEvent and Group for persisting pending groups
(every backend), and Silence, Slot, Claim, SentEntry, MessageRecord and FailureRecord for the logwarden
server's state API (alerter/notify/state/server.py sends them, server/state.py answers).

Times are ISO 8601 text, which round-trips a timezone-aware datetime exactly (a Slot's id is a hash
of its start time: both ends must compute the same one).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import orjson

from alerter.events import AlertEvent, TopValues
from alerter.notify.matchers import dump_matchers, load_matchers
from alerter.notify.state.types import (
    Claim,
    ClaimOutcome,
    FailureRecord,
    Group,
    MessageRecord,
    SentEntry,
    Silence,
    Slot,
)

_TIMES = ("window_start", "window_end", "started_at", "at")


def event_to_dict(e: AlertEvent) -> dict[str, Any]:
    d = asdict(e)
    for k in _TIMES:
        d[k] = d[k].isoformat()
    d["channels"] = list(e.channels)
    d["samples"] = list(e.samples)
    return d


def event_from_dict(d: dict[str, Any]) -> AlertEvent:
    d = dict(d)
    for k in _TIMES:
        d[k] = datetime.fromisoformat(d[k])
    d["channels"] = tuple(d["channels"])
    d["samples"] = tuple(d.get("samples") or ())
    d["sample_fields"] = tuple(d.get("sample_fields") or ())
    d["top"] = tuple(
        TopValues(t["field"], tuple((v, int(n)) for v, n in t["values"]), int(t["total"]), bool(t["more"]))
        for t in d.get("top") or ()
    )
    return AlertEvent(**d)


def _opt(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def _opt_dt(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


def group_to_dict(g: Group) -> dict[str, Any]:
    """The group as JSON-ready values (samples may hold anything: dump with ``default=str``)."""
    return {
        "key": g.key,
        "channel": g.channel,
        "fields": g.fields,
        "alerts": {fp: event_to_dict(e) for fp, e in g.alerts.items()},
        "next_flush": g.next_flush.isoformat(),
        "last_flush": _opt(g.last_flush),
        "attempts": g.attempts,
        "failing_since": _opt(g.failing_since),
    }


def group_from_dict(b: dict[str, Any]) -> Group:
    return Group(
        key=b["key"],
        channel=b["channel"],
        fields=b["fields"],
        alerts={fp: event_from_dict(e) for fp, e in b["alerts"].items()},
        next_flush=datetime.fromisoformat(b["next_flush"]),
        last_flush=_opt_dt(b["last_flush"]),
        attempts=int(b["attempts"]),
        failing_since=_opt_dt(b["failing_since"]),
    )


def group_to_json(g: Group) -> str:
    # default=str: samples are log docs and may hold anything JSON-ish; never fail to persist.
    return orjson.dumps(group_to_dict(g), default=str).decode()


def group_from_json(text: str) -> Group:
    return group_from_dict(orjson.loads(text))


def silence_to_dict(s: Silence) -> dict[str, Any]:
    return {
        "id": s.id,
        "rule": s.rule,
        "matchers": dump_matchers(s.match),
        "starts_at": s.starts_at.isoformat(),
        "ends_at": s.ends_at.isoformat(),
        "comment": s.comment,
        "author": s.author,
        "created_at": s.created_at.isoformat(),
    }


def silence_from_dict(d: dict[str, Any]) -> Silence:
    return Silence(
        d["id"],
        d["rule"],
        load_matchers(d["matchers"]),
        datetime.fromisoformat(d["starts_at"]),
        datetime.fromisoformat(d["ends_at"]),
        d["comment"],
        d["author"],
        datetime.fromisoformat(d["created_at"]),
    )


def slot_to_dict(s: Slot) -> dict[str, Any]:
    return {
        "channel": s.channel,
        "fingerprint": s.fingerprint,
        "state": s.state,
        "started_at": s.started_at.isoformat(),
        "repeat": s.repeat,
    }


def slot_from_dict(d: dict[str, Any]) -> Slot:
    return Slot(
        d["channel"], d["fingerprint"], d["state"], datetime.fromisoformat(d["started_at"]), int(d["repeat"])
    )


def claim_to_dict(c: Claim) -> dict[str, Any]:
    return {"outcome": c.outcome.value, "until": _opt(c.until)}


def claim_from_dict(d: dict[str, Any]) -> Claim:
    return Claim(ClaimOutcome(d["outcome"]), _opt_dt(d.get("until")))


def sent_to_dict(e: SentEntry) -> dict[str, Any]:
    return {
        "state": e.state,
        "started_at": e.started_at.isoformat(),
        "repeat": e.repeat,
        "sent_at": e.sent_at.isoformat(),
    }


def sent_from_dict(d: dict[str, Any]) -> SentEntry:
    return SentEntry(
        d["state"],
        datetime.fromisoformat(d["started_at"]),
        int(d["repeat"]),
        datetime.fromisoformat(d["sent_at"]),
    )


def message_to_dict(m: MessageRecord) -> dict[str, Any]:
    return {
        "id": m.id,
        "channel": m.channel,
        "title": m.title,
        "alerts": m.alerts,
        "sent_at": m.sent_at.isoformat(),
        "digest": m.digest,
        "extra": m.extra,
    }


def message_from_dict(d: dict[str, Any]) -> MessageRecord:
    return MessageRecord(
        d["id"],
        d["channel"],
        d["title"],
        int(d["alerts"]),
        datetime.fromisoformat(d["sent_at"]),
        bool(d.get("digest", False)),
        dict(d.get("extra") or {}),
    )


def failure_to_dict(f: FailureRecord) -> dict[str, Any]:
    return {
        "id": f.id,
        "channel": f.channel,
        "title": f.title,
        "alerts": f.alerts,
        "failed_at": f.failed_at.isoformat(),
        "reason": f.reason,
        "attempt": f.attempt,
    }


def failure_from_dict(d: dict[str, Any]) -> FailureRecord:
    return FailureRecord(
        d["id"],
        d["channel"],
        d["title"],
        int(d["alerts"]),
        datetime.fromisoformat(d["failed_at"]),
        str(d["reason"]),
        int(d["attempt"]),
    )
