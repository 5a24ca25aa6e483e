"""Routing: which channels hear about an event (the rule's ``notify`` list plus ``notify.routes``)."""

from __future__ import annotations

from alerter.config import META_CHANNEL, META_FALLBACK_TAG, NotifyConfig
from alerter.events import AlertEvent


class Router:
    def __init__(self, config: NotifyConfig) -> None:
        self._config = config

    def _expand(self, target: str) -> list[str]:
        """A channel name is itself; a tag is every channel carrying it; ``alerter`` is the meta channel."""
        if self._config.channel(target) is not None:
            return [target]
        if target == META_CHANNEL:
            return [c.name for c in self._config.channels if META_FALLBACK_TAG in c.tags]
        return [c.name for c in self._config.channels if target in c.tags]

    def route(self, event: AlertEvent) -> list[str]:
        """Channel names for ``event``, in config order, without duplicates; [] means nobody hears it."""
        targets = list(event.channels)
        for route in self._config.routes:
            if route.severity and event.severity not in route.severity:
                continue
            if route.rules and event.rule not in route.rules:
                continue
            if any(event.labels.get(k) != v for k, v in route.labels.items()):
                continue
            targets.extend(route.channels)
        chosen = {name for t in targets for name in self._expand(t)}
        return [c.name for c in self._config.channels if c.name in chosen]
