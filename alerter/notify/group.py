"""Group stage: put each event into its channel's group and run the Alertmanager timers.

A new group waits ``group_wait`` (counted from the event's evaluation time, so two alerters agree) to
collect its siblings; a group that was already notified sends changes at most every
``group_interval``; a group in retry backoff keeps its retry time.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson

from alerter.config import NotifyConfig
from alerter.events import AlertEvent
from alerter.notify.state.types import Group


def group_fields(event: AlertEvent, group_by: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in group_by:
        if key == "...":
            out.update({k: event.group[k] for k in sorted(event.group)})
        elif key == "rule":
            out["rule"] = event.rule
        elif key == "severity":
            out["severity"] = event.severity
        elif key == "state":
            out["state"] = event.state
        elif key in event.group:
            out[key] = event.group[key]
        else:
            out[key] = event.labels.get(key)
    return out


def group_key(channel: str, fields: dict[str, Any]) -> str:
    raw = orjson.dumps([channel, sorted(fields.items())], default=str)
    return hashlib.sha256(raw).hexdigest()[:24]


class Grouper:
    def __init__(self, config: NotifyConfig) -> None:
        self._config = config

    def add(self, groups: dict[str, Group], channel: str, event: AlertEvent, now: datetime) -> Group:
        """Place ``event`` in its group (created if new) and adjust the group's flush time."""
        fields = group_fields(event, self._config.group_by)
        key = group_key(channel, fields)
        group = groups.get(key)
        if group is None:
            group = Group(key, channel, fields, {}, next_flush=event.at + self._config.group_wait)
            groups[key] = group
        prev = group.alerts.get(event.fingerprint)
        if (
            event.state == "resolved"
            and prev is not None
            and prev.state != "resolved"
            and prev.extra.get("undelivered")
        ):
            # The incident's FIRING never got through (the channel was down): its RESOLVED must
            # say that it fired at all, and must go out even without send_resolved.
            event = replace(event, extra={**event.extra, "unreported_since": prev.started_at.isoformat()})
        group.alerts[event.fingerprint] = event
        changed = prev is None or prev.state != event.state or prev.started_at != event.started_at
        if changed and group.last_flush is not None and group.attempts == 0:
            group.next_flush = min(group.next_flush, max(group.last_flush + self._config.group_interval, now))
        return group
