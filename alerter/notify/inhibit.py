"""Inhibition stage (Alertmanager's ``inhibit_rules``): a firing source alert mutes target alerts.

An alert matching an ``inhibit`` rule's ``target_matchers`` is held back while some *other* alert
matching its ``source_matchers`` is firing with the same value for every ``equal`` field (a field
neither alert has counts as equal, as in Alertmanager). Applied when a group flushes, like silences:
once the source resolves, the target goes out at its group's next flush. The firing set is what the
pipeline has been told (every submitted event, routed or not), so a source needs no channel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alerter.config import NotifyConfig
from alerter.events import AlertEvent
from alerter.notify.matchers import Matcher, field_value, matches_all, parse_matcher


@dataclass(frozen=True, slots=True)
class _Rule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


class Inhibitor:
    def __init__(self, config: NotifyConfig) -> None:
        self._rules = [
            _Rule(
                tuple(parse_matcher(m) for m in r.source_matchers),
                tuple(parse_matcher(m) for m in r.target_matchers),
                tuple(r.equal),
            )
            for r in config.inhibit
        ]

    def inhibited_by(self, event: AlertEvent, firing: Iterable[AlertEvent]) -> AlertEvent | None:
        """The firing source alert that mutes ``event``, or None."""
        if not self._rules:
            return None
        candidates = [s for s in firing if s.state == "firing" and s.fingerprint != event.fingerprint]
        for rule in self._rules:
            if not matches_all(rule.target, event):
                continue
            for source in candidates:
                if matches_all(rule.source, source) and all(
                    field_value(source, k) == field_value(event, k) for k in rule.equal
                ):
                    return source
        return None
