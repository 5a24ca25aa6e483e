"""A text line's own time and level: the leading timestamps logs commonly start with, and a level word.

Guarantees:
- Patterns are compiled once and anchored at the start of the line (after optional white space); a
  line is never searched for a time further in. Recognized, in this order (``PATTERNS``):

  ``iso8601``       ``2026-12-02T10:00:00.123Z``, ``2026-12-02 10:00:00,123`` (Python logging,
                    log4j/logback ISO8601), optional ``[..]``, fraction ``.``/``,``, zone ``Z``/``+01:00``
  ``nginx``         ``2026/12/02 10:00:00`` (nginx error.log, Go's ``log``)
  ``syslog``        ``Dec  2 10:00:00`` (RFC 3164): the year is the current one, or the year before
                    when that would put the line more than a day in the future (a December line read
                    in January)
  ``apache``        ``[Wed Dec 02 10:00:00.123456 2026]`` (Apache error log)
  ``java``          ``02 Dec 2026 10:00:00,123`` (log4j DATE), ``02-Dec-2026 10:00:00.123`` (Tomcat)
  ``clf``           ``[02/Dec/2026:10:00:00 +0100]`` (common log format)

- A time without a zone is read in the input's ``timezone`` (IANA name; default UTC).
- Detection is per input and stable: the pattern that matched last is tried first, the others after
  it when it fails, so a file of one shape costs one regex match per line.
- Parsing is cached per second (the text up to the seconds, plus the zone): lines of one file mostly
  share their second, so the calendar arithmetic runs once a second, not once a line. The syslog
  entries (their year depends on today) are dropped hourly.
- The level is the first level word within ``LEVEL_WINDOW`` characters after the time (or from the
  start when there is none): an upper-case word (``ERROR``, ``WARN``, ``WARNING``, ``INFO``, ``DEBUG``,
  ``TRACE``, ``FATAL``, ``CRITICAL``, ``NOTICE``, ``SEVERE``, ``ERR``, ``CRIT``, ``ALERT``, ``EMERG``) or
  any case in brackets (``[error]`` as nginx writes it, ``[core:warn]`` as Apache 2.4 does); it is
  returned lower-cased, as written (``warning`` stays ``warning``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_MON = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# Group 1: the text up to the seconds (the cache key); f: fraction digits; z: zone, when any.
_FRAC = r"(?:[.,](?P<f>\d{1,9}))?"
_ISO = re.compile(
    r"\s*\[?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)"
    + _FRAC
    + r"(?:\s?(?P<z>Z(?!\w)|[+-]\d\d(?::?\d\d)?(?!\d)))?\]?"
)
_NGINX = re.compile(r"\s*(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)" + _FRAC)
_SYSLOG = re.compile(r"\s*(" + _MON + r" [ \d]\d \d\d:\d\d:\d\d)" + _FRAC)
_APACHE = re.compile(
    r"\s*\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (" + _MON + r" \d\d \d\d:\d\d:\d\d)" + _FRAC + r" (\d{4})\]"
)
_JAVA = re.compile(r"\s*\[?(\d\d[ -]" + _MON + r"[ -]\d{4} \d\d:\d\d:\d\d)" + _FRAC + r"\]?")
_CLF = re.compile(r"\s*\[(\d\d/" + _MON + r"/\d{4}:\d\d:\d\d:\d\d)" + _FRAC + r" (?P<z>[+-]\d{4})\]")

LEVEL_WINDOW = 48
# Candidate words (cheap to scan for), then a set lookup: faster than one alternation tried at every
# position. A bare word counts when upper-case and not inside a longer word; a bracketed one in any case.
_WORD = re.compile(r"(?<![\w.])([A-Z]{3,8})(?![\w.])|\[(?:\w+:)?([A-Za-z]{3,8})\d?\]")
_LEVELS = frozenset(
    [
        "trace",
        "debug",
        "info",
        "notice",
        "warn",
        "warning",
        "error",
        "err",
        "crit",
        "critical",
        "alert",
        "fatal",
        "emerg",
        "severe",
    ]
)

Fields = tuple[int, int, int, int, int, int]  # year, month, day, hour, minute, second


def _iso(s: str, m: re.Match[str]) -> Fields:
    return int(s[0:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]), int(s[17:19])


def _nginx(s: str, m: re.Match[str]) -> Fields:
    return int(s[0:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]), int(s[17:19])


def _syslog(s: str, m: re.Match[str]) -> Fields:
    # The year comes from ``SyslogYear`` (it depends on today): 0 here, filled in by the caller.
    return 0, _MONTHS[s[0:3]], int(s[4:6]), int(s[7:9]), int(s[10:12]), int(s[13:15])


def _apache(s: str, m: re.Match[str]) -> Fields:
    return int(m.group(3)), _MONTHS[s[0:3]], int(s[4:6]), int(s[7:9]), int(s[10:12]), int(s[13:15])


def _java(s: str, m: re.Match[str]) -> Fields:
    return int(s[7:11]), _MONTHS[s[3:6]], int(s[0:2]), int(s[12:14]), int(s[15:17]), int(s[18:20])


def _clf(s: str, m: re.Match[str]) -> Fields:
    return int(s[7:11]), _MONTHS[s[3:6]], int(s[0:2]), int(s[12:14]), int(s[15:17]), int(s[18:20])


Pattern = tuple[str, re.Pattern[str], Callable[[str, re.Match[str]], Fields]]
PATTERNS: tuple[Pattern, ...] = (
    ("iso8601", _ISO, _iso),
    ("nginx", _NGINX, _nginx),
    ("syslog", _SYSLOG, _syslog),
    ("apache", _APACHE, _apache),
    ("java", _JAVA, _java),
    ("clf", _CLF, _clf),
)
_CACHE_MAX = 4096
_SYSLOG_TTL = 3600.0


def _offset(z: str) -> tzinfo:
    if z == "Z":
        return UTC
    digits = z[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) >= 4 else 0)
    from datetime import timezone

    return timezone(timedelta(minutes=minutes if z[0] == "+" else -minutes))


def zone(name: str) -> tzinfo:
    """The ``timezone:`` of an input: ``UTC`` or an IANA name; ValueError naming it when unknown."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin, or UTC)") from None


def level_word(text: str, pos: int = 0) -> str | None:
    """The level word near ``pos`` (see the module docstring), lower-cased, or None."""
    for m in _WORD.finditer(text, pos, pos + LEVEL_WINDOW):
        word = (m.group(1) or m.group(2)).lower()
        if word in _LEVELS:
            return word
    return None


class TextTime:
    """One input's time detection (see the module docstring); ``find(text)`` -> (epoch ms, end)."""

    __slots__ = ("_cache", "_order", "_syslog_until", "_tz")

    def __init__(self, tz: tzinfo = UTC) -> None:
        self._tz = tz
        self._order: list[Pattern] = list(PATTERNS)
        self._cache: dict[str, int] = {}  # pattern name + second text + zone -> epoch seconds
        self._syslog_until = 0.0

    def find(self, text: str) -> tuple[int | None, int]:
        """The leading time of ``text`` in epoch ms and where it ends; (None, 0) when there is none."""
        order = self._order
        for i, pat in enumerate(order):
            m = pat[1].match(text)
            if m is None:
                continue
            sec = self._second(pat, m)
            if sec is None:
                continue
            if i:  # remember: the next line of this input most likely has the same shape
                order.insert(0, order.pop(i))
            f = m.group("f")
            ms = int((f + "00")[:3]) if f else 0
            return sec * 1000 + ms, m.end()
        return None, 0

    def _second(self, pat: Pattern, m: re.Match[str]) -> int | None:
        name, _, fields = pat
        s = m.group(1)
        z = m.groupdict().get("z") or ""
        key = name + s + z
        if name == "syslog":
            now = time.monotonic()
            if now >= self._syslog_until:
                self._cache = {k: v for k, v in self._cache.items() if not k.startswith("syslog")}
                self._syslog_until = now + _SYSLOG_TTL
        sec = self._cache.get(key)
        if sec is not None:
            return sec
        try:
            y, mo, d, h, mi, se = fields(s, m)
            tz = _offset(z) if z else self._tz
            if name == "syslog":
                sec = self._syslog_second(mo, d, h, mi, se, tz)
            else:
                sec = int(datetime(y, mo, d, h, mi, se, tzinfo=tz).timestamp())
        except (ValueError, OverflowError, OSError):
            return None  # 2026-13-45: not a time after all
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key] = sec
        return sec

    @staticmethod
    def _syslog_second(mo: int, d: int, h: int, mi: int, se: int, tz: tzinfo) -> int:
        now = datetime.now(tz)
        try:
            dt = datetime(now.year, mo, d, h, mi, se, tzinfo=tz)
        except ValueError:  # Feb 29 outside a leap year: it was last year's, or later
            dt = datetime(now.year - 1, mo, d, h, mi, se, tzinfo=tz)
        if dt - now > timedelta(days=1):
            dt = dt.replace(year=dt.year - 1)
        return int(dt.timestamp())
