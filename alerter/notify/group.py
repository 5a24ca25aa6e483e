"""Group stage: put each event into its channel's group and run the Alertmanager timers.

A new group waits ``group_wait`` (counted from the event's evaluation time, so two alerters agree) to
collect its siblings; a group that was already notified sends changes at most every
``group_interval``; a group in retry backoff keeps its retry time. A rule may set its own timers
(``timer``): a new group waits its first alert's group_wait (or a later sibling's shorter one), and
a group holding alerts of several rules uses the shortest group_interval among them.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta
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


def timer(config: NotifyConfig, name: str, event: AlertEvent) -> timedelta:
    """``name`` (group_wait, group_interval, repeat_interval) for ``event``: its rule's own, else notify's."""
    own = event.timing.get(name)
    if own is not None:
        return timedelta(seconds=own)
    defaults = {
        "group_wait": config.group_wait,
        "group_interval": config.group_interval,
        "repeat_interval": config.repeat_interval,
    }
    return defaults[name]


def group_interval(config: NotifyConfig, group: Group) -> timedelta:
    """A group's group_interval: the shortest its alerts ask for (none: notify's), so no alert waits
    longer than its rule says because it shares a message with another rule's."""
    return min(
        (timer(config, "group_interval", e) for e in group.alerts.values()), default=config.group_interval
    )


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
            group = Group(
                key, channel, fields, {}, next_flush=event.at + timer(self._config, "group_wait", event)
            )
            groups[key] = group
        elif group.last_flush is None and group.attempts == 0:
            # Not sent yet: a sibling whose rule waits less brings the first message forward.
            group.next_flush = min(group.next_flush, event.at + timer(self._config, "group_wait", event))
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
            interval = group_interval(self._config, group)
            group.next_flush = min(group.next_flush, max(group.last_flush + interval, now))
        return group
