"""Dedup stage: decide against the notification log whether an alert is due on a channel.

- firing / nodata / error: due once per (state, started_at), then again each time
  ``repeat_interval`` (the rule's own, else notify's) has passed since its last message (repeat k
  follows repeat k-1 in the shared notification log; the slot id carries k so replicas agree);
- resolved: due once, only if ``send_resolved`` and the alert's firing was notified on that channel;
  otherwise the alert leaves its group silently (counted). Except: a resolved alert whose firing
  failed to reach the channel (``unreported_since``) is due once whatever ``send_resolved`` says,
  so an incident that began and ended during an outage is still reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from alerter.config import NotifyConfig
from alerter.events import AlertEvent
from alerter.notify.group import timer
from alerter.notify.state import NotifyState
from alerter.notify.state.types import Slot


@dataclass(frozen=True, slots=True)
class Decision:
    action: Literal["send", "skip", "drop"]  # skip: keep waiting; drop: leave the group
    slot: Slot | None = None
    reason: str = ""


class DedupStage:
    def __init__(self, config: NotifyConfig, state: NotifyState) -> None:
        self._config = config
        self._state = state

    def decide(self, channel: str, event: AlertEvent, now: datetime) -> Decision:
        last = self._state.last_sent(channel, event.fingerprint)
        if event.state == "resolved":
            if last is not None and last.state == "resolved" and last.started_at == event.started_at:
                return Decision("drop", reason="duplicate")
            fired = last is not None and last.state != "resolved" and last.started_at == event.started_at
            if event.extra.get("unreported_since") and not fired:
                # It fired and resolved while the channel was down: this is its only message.
                return Decision("send", Slot(channel, event.fingerprint, "resolved", event.started_at, 0))
            if not self._config.send_resolved:
                return Decision("drop", reason="resolved_unsent")
            if last is None or last.state == "resolved":
                return Decision("drop", reason="resolved_unsent")
            return Decision("send", Slot(channel, event.fingerprint, "resolved", event.started_at, 0))
        ri = timer(self._config, "repeat_interval", event)
        if last is None or last.state != event.state or last.started_at != event.started_at:
            return Decision("send", Slot(channel, event.fingerprint, event.state, event.started_at, 0))
        # Alertmanager's rule: again once repeat_interval has passed since the last message (after an
        # outage or a silence too). The repeat's number follows the shared log, so replicas agree.
        if now - last.sent_at >= ri:
            slot = Slot(channel, event.fingerprint, event.state, event.started_at, last.repeat + 1)
            return Decision("send", slot)
        return Decision("skip", reason="duplicate")
