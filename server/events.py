"""Everything the server reports: one typed event per kind, each logging one JSON line (and counting).

``emit(Event(...))`` (logstore.observe) logs the event's sentence with its fields as keys, and moves
its metric from ``server.metrics`` when it has one. What can happen once per request under a flood
(a 429, a 401) is counted at once by the handler and logged at most once a minute (``Throttle``),
with how many happened since the last line: a misbehaving client cannot fill the log, and the
counter never waits for the line. A token never appears in an event.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from logstore.observe import Event
from server import metrics


class _Server(Event):
    logger = "server"


class _Bulk(Event):
    logger = "server.bulk"


# ---- life cycle: once per process, so no metrics (the scraper's `up` tells) -----------------------


@dataclass(frozen=True)
class ServerStarted(_Server):
    """Once per process."""

    message = "server started"
    listen: str
    tls: bool
    tokens: int
    store: str


@dataclass(frozen=True)
class ServerStopped(_Server):
    """Once per process, after the writer committed everything it had accepted."""

    message = "server stopped"


# ---- requests -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthFailed(_Server):
    """At most once a minute (``server_auth_failures_total`` counts each): ``failures`` since the last."""

    message = "unauthenticated requests refused (401)"
    level = logging.WARNING
    peer: str
    reason: str
    failures: int


@dataclass(frozen=True)
class WriteQueueFull(_Bulk):
    """At most once a minute (``server_bulk_overloaded_total`` counts each): ``rejected`` since the last."""

    message = "write queue full; answering 429 (clients retry later)"
    level = logging.WARNING
    queue: int
    rejected: int


@dataclass(frozen=True)
class RequestRefused(_Bulk):
    """A client sent more than ``server.limits`` allow; it was told which limit, and why."""

    message = "request refused by a limit"
    level = logging.WARNING
    metric = metrics.REFUSED
    labels = ("limit",)
    limit: str
    peer: str
    reason: str


@dataclass(frozen=True)
class StoreFailed(_Bulk):
    """The request was answered 503 and nothing of it is acknowledged: the client sends it again."""

    message = "store write failed; answering 503"
    level = logging.ERROR
    metric = metrics.STORE_ERRORS
    error: str
    docs: int


@dataclass(frozen=True)
class DeadLettersReplayed(_Bulk):
    """Someone replayed kept dead letters (server.deadletters.replay): who, and how it went."""

    message = "dead letters replayed"
    client: str
    stored: int
    refused: int
    missing: int


class Throttle:
    """Lets one line through per ``every`` seconds and counts the occurrences in between.

    ``hit()`` answers None while the line is held back, else how many occurrences the line stands
    for (this one included). Thread-safe: handlers run on the event loop, the writer on its thread.
    """

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._held = 0

    def hit(self) -> int | None:
        with self._lock:
            self._held += 1
            now = time.monotonic()
            if now - self._last < self.every:
                return None
            self._last = now
            n, self._held = self._held, 0
            return n
