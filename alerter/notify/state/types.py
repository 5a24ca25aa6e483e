"""Records the notification pipeline keeps durably: silences, pending groups, the notification log,
and the messages it delivered or failed to deliver (the console's notification log shows both).

All times are timezone-aware UTC datetimes at this boundary; backends store epoch seconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Literal

from alerter.events import AlertEvent
from alerter.notify.matchers import Matcher, normalize


def ts(dt: datetime) -> float:
    return dt.timestamp()


def from_ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def time_left(td: timedelta) -> str:
    """Time left as its two largest units, e.g. 1h59m (what a person re-types as a duration):
    a silence's remaining time in ``alerter silence list`` and on the console."""
    secs = max(0, int(td.total_seconds()))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if secs >= size or (unit == "s" and not parts):
            parts.append(f"{secs // size}{unit}")
            secs %= size
        if len(parts) == 2:
            break
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    rule: str  # exact name or a glob ("*" silences every rule)
    # All must match (rule, severity, state, group fields, labels). A ``{field: value}`` mapping is
    # accepted and read as equality matchers (the form before operators existed).
    matchers: tuple[Matcher, ...] | Mapping[str, str]
    starts_at: datetime
    ends_at: datetime
    comment: str
    author: str
    created_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "matchers", normalize(self.matchers))

    @property
    def match(self) -> tuple[Matcher, ...]:
        """The matchers, always as a tuple (``__post_init__`` normalized them)."""
        assert isinstance(self.matchers, tuple)
        return self.matchers

    def match_text(self) -> str:
        return ",".join(m.text() for m in self.match) or "*"

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


@dataclass(slots=True)
class Group:
    """Alerts of one channel that go out together, with the timers deciding when."""

    key: str
    channel: str
    fields: dict[str, Any]  # the group_by values, shown in the title
    alerts: dict[str, AlertEvent]  # fingerprint -> latest event
    next_flush: datetime
    last_flush: datetime | None = None
    attempts: int = 0  # consecutive failed deliveries (drives backoff)
    failing_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Slot:
    """One notification of one alert on one channel: the unit of dedup and of HA claims."""

    channel: str
    fingerprint: str
    state: str
    started_at: datetime
    repeat: int  # 0 for the first notification of this state, k for the k-th repeat

    @property
    def id(self) -> str:
        raw = (
            f"{self.channel}\x00{self.fingerprint}\x00{self.state}\x00{ts(self.started_at)}\x00{self.repeat}"
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class SentEntry:
    """The latest delivered notification of an alert on a channel (the dedup memory)."""

    state: str
    started_at: datetime
    repeat: int
    sent_at: datetime


class ClaimOutcome(Enum):
    MINE = "mine"  # go ahead and send
    TAKEN = "taken"  # another alerter holds a live claim: check again at ``until``
    SENT = "sent"  # another alerter delivered it already


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: ClaimOutcome
    until: datetime | None = None


SilenceFilter = Literal["active", "all"]


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One delivered message (a group or a digest): what rate limits count."""

    id: str
    channel: str
    title: str
    alerts: int
    sent_at: datetime
    digest: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FailureRecord:
    """One failed delivery of a message (a group or a digest) on a channel, with the sender's reason.

    Kept as long as delivered messages (``notify.log_retention``); never counted by rate limits.
    """

    id: str
    channel: str
    title: str
    alerts: int
    failed_at: datetime
    reason: str  # the sender's one line (apprise's per-service reason, an HTTP status, a timeout)
    attempt: int  # consecutive failed deliveries of the group, this one included
