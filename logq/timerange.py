"""Time bounds for a query: ``--since``, ``--from``/``--to`` as RFC 3339 or Elasticsearch date math.

Guarantees: every datetime returned is timezone-aware UTC; a time written without an offset is UTC
(never the machine's local zone, so the same command means the same window on every host); the
window is half-open, ``start <= @timestamp < end``. Date math rounding (``/d``) always rounds down,
which is what Elasticsearch does for the exclusive ``lt`` bound and for ``gte``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from logstore.config.types import parse_duration


class TimeError(ValueError):
    """A bad time argument; ``str()`` is the one line for the user."""


_MATH_STEP = re.compile(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "H": 3600, "m": 60, "s": 1}


def _add_months(dt: datetime, months: int) -> datetime:
    total = dt.year * 12 + (dt.month - 1) + months
    year, month = divmod(total, 12)
    # Clamp the day (Jan 31 + 1M = Feb 28), as Elasticsearch does.
    for day in (dt.day, 30, 29, 28):
        try:
            return dt.replace(year=year, month=month + 1, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _round_down(dt: datetime, unit: str) -> datetime:
    if unit == "y":
        return dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "M":
        return dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":  # ISO weeks start on Monday
        day = dt.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - timedelta(days=day.weekday())
    if unit == "d":
        return dt.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit in ("h", "H"):
        return dt.replace(minute=0, second=0, microsecond=0)
    if unit == "m":
        return dt.replace(second=0, microsecond=0)
    return dt.replace(microsecond=0)


def _apply_math(anchor: datetime, math: str, original: str) -> datetime:
    pos = 0
    dt = anchor
    while pos < len(math):
        m = _MATH_STEP.match(math, pos)
        if not m:
            raise TimeError(
                f"bad date math {original!r} at {math[pos:]!r}: expected +N<unit>, -N<unit> or /<unit> "
                "with unit one of y M w d h m s"
            )
        sign, num, unit, rounding = m.groups()
        if rounding:
            dt = _round_down(dt, rounding)
        else:
            n = int(num) * (1 if sign == "+" else -1)
            if unit == "y":
                dt = _add_months(dt, 12 * n)
            elif unit == "M":
                dt = _add_months(dt, n)
            else:
                dt = dt + timedelta(seconds=n * _UNIT_SECONDS[unit])
        pos = m.end()
    return dt


def parse_absolute(text: str) -> datetime:
    """RFC 3339 / ISO 8601 (``2026-11-22T06:00:00Z``, ``2026-11-22 06:00``, ``2026-11-22``) or epoch ms.

    A time without an offset is UTC.
    """
    raw = text.strip()
    if re.fullmatch(r"\d{11,14}", raw):  # epoch milliseconds, what Kibana URLs carry
        return datetime.fromtimestamp(int(raw) / 1000, tz=UTC)
    try:
        dt = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise TimeError(
            f"bad time {text!r}: expected RFC 3339 like 2026-11-22T06:00:00Z, or date math like now-1h/h"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_time(text: str, now: datetime) -> datetime:
    """An absolute time or Elasticsearch date math (``now-1h/h``, ``now/d``, ``2026-11-22||+1d``)."""
    raw = text.strip()
    if raw.startswith("now"):
        return _apply_math(now, raw[3:], text)
    if "||" in raw:
        anchor, _, math = raw.partition("||")
        return _apply_math(parse_absolute(anchor), math, text)
    return parse_absolute(raw)


def parse_since(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError:
        raise TimeError(f"bad --since {text!r}: expected a duration like 15m, 2h or 7d") from None


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime | None  # None: open (follow mode)


def resolve_window(
    now: datetime,
    since: str | None,
    from_: str | None,
    to: str | None,
) -> Window:
    """--from wins over --since; --to alone means ``[to - since, to)``; default ``[now - 1h, now]``."""
    span = parse_since(since or "1h")
    end = parse_time(to, now) if to else now
    start = parse_time(from_, now) if from_ else end - span
    if start > end:
        raise TimeError(
            f"empty time range: --from {start:%Y-%m-%dT%H:%M:%SZ} is after --to {end:%Y-%m-%dT%H:%M:%SZ}"
        )
    return Window(start, end)


def current_time(override: str | None) -> datetime:
    """The injected clock (``--now`` / ``LOGQ_NOW``) or the real one, UTC."""
    if override:
        return parse_absolute(override)
    return datetime.now(tz=UTC)
