"""JSON form of AlertEvent and Group, for persisting pending groups (both backends use it)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import orjson

from alerter.events import AlertEvent, TopValues
from alerter.notify.state.types import Group

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


def group_to_json(g: Group) -> str:
    body = {
        "key": g.key,
        "channel": g.channel,
        "fields": g.fields,
        "alerts": {fp: event_to_dict(e) for fp, e in g.alerts.items()},
        "next_flush": g.next_flush.isoformat(),
        "last_flush": _opt(g.last_flush),
        "attempts": g.attempts,
        "failing_since": _opt(g.failing_since),
    }
    # default=str: samples are log docs and may hold anything JSON-ish; never fail to persist.
    return orjson.dumps(body, default=str).decode()


def group_from_json(text: str) -> Group:
    b = orjson.loads(text)
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
