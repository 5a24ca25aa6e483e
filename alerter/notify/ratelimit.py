"""Rate-limit stage: at most ``count`` messages per ``per`` on a channel, counted from the message log.

Over budget, nothing is dropped: with one message left, the overflow goes out as ONE digest ("and 37
more alerts" plus a sample); with none left, the groups wait until the oldest message leaves the
window. Most severe groups go first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from alerter.config import NotifyConfig
from alerter.notify.state import NotifyState

_RANK = {"critical": 0, "error": 1, "warning": 2, "info": 3}


class Rankable(Protocol):
    @property
    def rank(self) -> tuple[int, datetime]: ...


T = TypeVar("T", bound=Rankable)


def severity_rank(severity: str) -> int:
    return _RANK.get(severity.lower(), 2)


@dataclass(slots=True)
class RatePlan(Generic[T]):
    send: list[T] = field(default_factory=list)
    digest: list[T] = field(default_factory=list)
    held: list[T] = field(default_factory=list)
    resume_at: datetime | None = None


class RateLimiter:
    def __init__(self, config: NotifyConfig, state: NotifyState) -> None:
        self._config = config
        self._state = state

    def plan(self, channel: str, outgoing: Sequence[T], now: datetime) -> RatePlan[T]:
        limit = self._config.rate_limit_for(channel)
        recent = self._state.messages_since(channel, now - limit.per)
        remaining = limit.count - len(recent)
        ordered = sorted(outgoing, key=lambda o: o.rank)
        if len(ordered) <= remaining:
            return RatePlan(send=ordered)
        if remaining >= 1:
            return RatePlan(send=ordered[: remaining - 1], digest=ordered[remaining - 1 :])
        return RatePlan(held=ordered, resume_at=recent[0] + limit.per)
