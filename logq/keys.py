"""Which keys of a log document hold its time, level, service and message, and dotted-path access.

Logs arrive with ECS names from the shipper (``@timestamp``, ``log.level``, ``service.name``,
``message``) but a log's own JSON keeps its own names (``ts``, ``lvl``, ``msg``), so the pretty
printer guesses per document from short candidate lists; ``--time-key`` and friends override.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "t", "date", "datetime")
LEVEL_KEYS = ("log.level", "level", "severity", "lvl", "loglevel", "levelname", "log_level")
MESSAGE_KEYS = ("message", "msg", "log", "text", "event.original")
SERVICE_KEYS = ("service.name", "service", "app", "application", "logger")
# Shown nowhere in pretty output: bookkeeping the reader rarely wants next to the message.
HIDDEN_KEYS = frozenset({"event.id", "log.offset", "log.file.path", "ecs.version"})

_MISSING = object()


def get_path(doc: dict[str, Any], path: str) -> Any:
    """``doc['a']['b']`` for ``a.b``, or a literal dotted key ``doc['a.b']``; None when absent."""
    if path in doc:
        return doc[path]
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def flatten(doc: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaf (dotted path, value) pairs; lists are leaves."""
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from flatten(value, path + ".")
        else:
            yield path, value


def _first(doc: dict[str, Any], candidates: Sequence[str]) -> str | None:
    for key in candidates:
        if get_path(doc, key) is not None:
            return key
    return None


@dataclass(frozen=True, slots=True)
class KeyChoice:
    """The user's overrides; ``None`` means guess per document."""

    time: str | None = None
    level: str | None = None
    message: str | None = None
    service: str | None = None

    def pick(self, doc: dict[str, Any]) -> tuple[str | None, str | None, str | None, str | None]:
        return (
            self.time or _first(doc, TIME_KEYS),
            self.level or _first(doc, LEVEL_KEYS),
            self.service or _first(doc, SERVICE_KEYS),
            self.message or _first(doc, MESSAGE_KEYS),
        )
