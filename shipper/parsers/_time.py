"""Timestamps found in log lines -> epoch milliseconds, and epoch ms -> RFC 3339 UTC strings.

Both directions are on the hot path (one call per line), so they cache per second: lines of one file
mostly share their second, and the cache turns a datetime parse into a dict lookup.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# 0001-01-01 .. 9999-12-31 would be the datetime range; logs outside 1970..9999 are bogus anyway.
_MAX_MS = 253402300799999
_SEC_CACHE: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM:SS" -> epoch seconds
_FMT_CACHE: dict[int, str] = {}  # epoch seconds -> "YYYY-MM-DDTHH:MM:SS."
_CACHE_MAX = 4096


def format_ms(ms: int) -> str:
    """RFC 3339 UTC, millisecond precision, ``Z`` suffix (what logstore.types.format_ts returns)."""
    sec, frac = divmod(ms, 1000)
    head = _FMT_CACHE.get(sec)
    if head is None:
        if len(_FMT_CACHE) > _CACHE_MAX:
            _FMT_CACHE.clear()
        head = datetime.fromtimestamp(sec, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _FMT_CACHE[sec] = head
    return f"{head}{frac:03d}Z"


def _epoch(value: float) -> int | None:
    if value != value or value <= 0:  # NaN or before 1970
        return None
    if value < 1e11:  # seconds (until year 5138)
        ms = int(value * 1000)
    elif value < 1e14:
        ms = int(value)
    elif value < 1e17:  # microseconds
        ms = int(value // 1000)
    else:  # nanoseconds
        ms = int(value // 1_000_000)
    return ms if 0 < ms <= _MAX_MS else None


def parse_iso(text: str) -> int | None:
    """ISO 8601 / RFC 3339 -> epoch ms; a naive time is UTC. None when it is not a time."""
    n = len(text)
    if n >= 20 and text[-1] == "Z" and text[10] == "T":
        # Fast path for the common 2026-11-22T06:39:00.123Z shape: one dict lookup per line.
        sec = _SEC_CACHE.get(text[:19])
        if sec is not None:
            if n == 24 and text[19] == ".":
                frac = text[20:23]
                if frac.isdigit() and frac.isascii():
                    return sec * 1000 + int(frac)
            elif n == 20:
                return sec * 1000
            else:
                frac = text[20:-1]
                if text[19] == "." and frac.isdigit() and frac.isascii():
                    return sec * 1000 + int((frac + "00")[:3])
    try:
        dt = datetime.fromisoformat(text)
    except (ValueError, TypeError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        ms = int(dt.timestamp() * 1000)
    except (OverflowError, ValueError, OSError):
        return None
    if not 0 < ms <= _MAX_MS:
        return None
    if n >= 20 and text[10] == "T" and text[-1] == "Z" and text[19] in ".Z":
        if len(_SEC_CACHE) > _CACHE_MAX:
            _SEC_CACHE.clear()
        _SEC_CACHE[text[:19]] = ms // 1000
    return ms


def parse_any(value: Any) -> int | None:
    """A line's time field: ISO string, epoch seconds/ms (number or numeric string)."""
    if type(value) is str:
        if value[:1] != "1" or len(value) > 20:
            return parse_iso(value)
        if value[:1].isdigit() and value.replace(".", "", 1).isdigit():
            try:
                return _epoch(float(value))
            except (ValueError, OverflowError):
                return None
        return parse_iso(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return _epoch(value)
        except (ValueError, OverflowError):
            return None
    return None


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def parse_clf(text: str) -> int | None:
    """nginx $time_local: ``22/Nov/2026:06:39:00 +0000`` -> epoch ms."""
    sec = _SEC_CACHE.get(text)
    if sec is not None:
        return sec * 1000
    try:
        day, mon, rest = text.split("/", 2)
        year, hh, mm, tail = rest.split(":", 3)
        ss, tz = tail.split(" ", 1)
        sign = 1 if tz[0] == "+" else -1 if tz[0] == "-" else 0
        if not sign or len(tz) != 5:
            return None
        date = f"{int(year):04d}-{_MONTHS[mon]:02d}-{int(day):02d}"
        iso = f"{date}T{int(hh):02d}:{int(mm):02d}:{int(ss):02d}{tz[:3]}:{tz[3:]}"
        ms = parse_iso(iso)
    except (ValueError, KeyError, IndexError):
        return None
    if ms is not None:
        if len(_SEC_CACHE) > _CACHE_MAX:
            _SEC_CACHE.clear()
        _SEC_CACHE[text] = ms // 1000
    return ms
