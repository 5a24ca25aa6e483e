"""Silence stage: hold back notifications of alerts matched by an active silence.

Applied when a group flushes (not when an event arrives), so a firing alert whose silence ends is
notified at the group's next flush, as in Alertmanager.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from alerter.events import AlertEvent
from alerter.notify.state.types import Silence


def silence_matches(silence: Silence, event: AlertEvent) -> bool:
    if not fnmatchcase(event.rule, silence.rule):
        return False
    for key, want in silence.matchers.items():
        if key == "severity":
            got: object = event.severity
        elif key in event.group:
            got = event.group[key]
        else:
            got = event.labels.get(key)
        if got is None or str(got) != want:
            return False
    return True


class SilenceStage:
    def silenced_by(self, event: AlertEvent, active: Sequence[Silence]) -> Silence | None:
        """The first active silence matching ``event``, or None."""
        return next((s for s in active if silence_matches(s, event)), None)
