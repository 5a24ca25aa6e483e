"""When a rule is due, and which window a tick covers.

``every`` ticks sit on epoch multiples (every: 30s -> :00 and :30), so windows are comparable
across restarts and replicas. ``cron`` ticks come from croniter in the rule's tz (UTC by default).
A tick's window is [tick - delay - window, tick - delay).
"""

from __future__ import annotations

import math
import zoneinfo
from datetime import UTC, datetime, timedelta

from croniter import croniter

from alerter.conditions.base import Window
from alerter.rules.model import Rule


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def next_tick(rule: Rule, after: datetime) -> datetime:
    """The first tick strictly after ``after``."""
    after = _utc(after)
    if rule.every is not None:
        step = rule.every.total_seconds()
        ts = after.timestamp()
        n = math.floor(ts / step) + 1
        return datetime.fromtimestamp(n * step, tz=UTC)
    assert rule.cron is not None
    tz = zoneinfo.ZoneInfo(rule.tz) if rule.tz else UTC
    it = croniter(rule.cron, after.astimezone(tz))
    got = it.get_next(datetime)
    return _utc(got)


def last_tick(rule: Rule, at: datetime) -> datetime:
    """The latest tick at or before ``at``."""
    at = _utc(at)
    if rule.every is not None:
        step = rule.every.total_seconds()
        return datetime.fromtimestamp(math.floor(at.timestamp() / step) * step, tz=UTC)
    assert rule.cron is not None
    tz = zoneinfo.ZoneInfo(rule.tz) if rule.tz else UTC
    it = croniter(rule.cron, (at + timedelta(microseconds=1)).astimezone(tz))
    return _utc(it.get_prev(datetime))


def window_for(rule: Rule, tick: datetime) -> Window:
    end = _utc(tick) - rule.delay
    return Window(end - rule.window, end)
