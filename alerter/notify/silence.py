"""Silence stage: hold back notifications of alerts matched by an active silence.

Applied when a group flushes (not when an event arrives), so a firing alert whose silence ends is
notified at the group's next flush, as in Alertmanager. Matchers follow Alertmanager's semantics
(``alerter.notify.matchers``: ``=``, ``!=``, ``=~``, ``!~``, regexes fully anchored).
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from alerter.events import AlertEvent
from alerter.notify.matchers import matches_all
from alerter.notify.state.types import Silence


def silence_matches(silence: Silence, event: AlertEvent) -> bool:
    return fnmatchcase(event.rule, silence.rule) and matches_all(silence.match, event)


class SilenceStage:
    def silenced_by(self, event: AlertEvent, active: Sequence[Silence]) -> Silence | None:
        """The first active silence matching ``event``, or None."""
        return next((s for s in active if silence_matches(s, event)), None)
