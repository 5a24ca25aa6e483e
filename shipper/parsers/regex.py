"""regex and grok: a pattern with named captures for any other line shape.

Guarantees:
- The input's ``pattern`` is compiled once (validated at config load: a bad regex or an unknown grok
  pattern is a config error naming the file, line and key) and searched in each line (anchor it
  with ``^`` for speed).
- Every named capture that matched becomes a field; a dotted name (grok: ``%{IP:source.ip}``)
  nests. A capture named ``message`` is the doc's ``message``, else the line is.
- ``time_field`` (default ``timestamp``) is read with ``time_format`` (``auto`` by default: ISO 8601,
  epoch numbers, the leading timestamps ``plain`` knows, ``02/Dec/2026:10:00:00 +0000``; or
  ``iso8601``, ``epoch_ms``, ``epoch_s``, or a strptime format) in the input's ``timezone``, and
  becomes ``@timestamp``; ``level_field`` (default ``level``) becomes ``log.level``, lower-cased. Both
  leave the fields once used; a time that does not parse stays a field and the doc gets the read
  time and ``time_from_read``.
- A line the pattern does not match is never dropped: it ships as a ``plain`` line (its own time and
  level detected) tagged ``regex_no_match`` / ``grok_no_match``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, ClassVar

from shipper.parsers import GROK_NO_MATCH, INVALID_UTF8, REGEX_NO_MATCH, TIME_FROM_READ, Parsed, decode
from shipper.parsers._grok import compile_grok
from shipper.parsers._texttime import TextTime, zone
from shipper.parsers._time import _epoch, parse_any, parse_clf, parse_iso
from shipper.parsers.plain import PlainParser

if TYPE_CHECKING:
    from shipper.config import InputConfig

_DEFAULT_PATTERN = r"(?P<message>.*)"
_CACHE_MAX = 4096


def time_reader(fmt: str | None, tz: tzinfo) -> Callable[[str], int | None]:
    """The function reading a captured time in ``time_format`` ``fmt`` (see the module docstring)."""
    if fmt in (None, "auto"):
        text = TextTime(tz).find

        def auto(value: str) -> int | None:
            ts = parse_any(value)
            if ts is None:
                ts = text(value)[0]
            return ts if ts is not None else parse_clf(value)

        return auto
    if fmt == "iso8601":
        return parse_iso
    if fmt in ("epoch_ms", "epoch_s"):
        scale = 1 if fmt == "epoch_ms" else 1000

        def epoch(value: str) -> int | None:
            try:
                return _epoch(float(value) * scale / 1000)
            except (ValueError, OverflowError):
                return None

        return epoch
    assert fmt is not None
    cache: dict[str, int] = {}

    def strptime(value: str) -> int | None:
        ms = cache.get(value)
        if ms is None:
            try:
                dt = datetime.strptime(value, fmt)
            except ValueError:
                return None
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=tz)
            ms = int(dt.timestamp() * 1000)
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            cache[value] = ms
        return ms

    return strptime


def _put(doc: dict[str, Any], name: str, value: Any) -> None:
    """``value`` at the dotted ``name`` in ``doc``; a name under a value already set stays flat."""
    if "." not in name:
        doc[name] = value
        return
    *parents, last = name.split(".")
    node = doc
    for key in parents:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            doc[name] = value
            return
        node = child
    node[last] = value


def _convert(value: str, conv: str | None) -> Any:
    if conv is None:
        return value
    try:
        return int(value) if conv == "int" else float(value)
    except ValueError:
        return value  # "-" in a number's place: kept as written rather than lost


class RegexParser:
    """``format: regex``: named groups of a Python regular expression."""

    no_match = REGEX_NO_MATCH
    # Captures are named by the user: ECS names stay, the rest go to the input's namespace.
    loggers: ClassVar[bool] = False

    def __init__(self, inp: InputConfig | None = None) -> None:
        tz = zone(inp.timezone) if inp is not None else zone("UTC")
        self._plain = PlainParser(inp)
        self._time_field = inp.time_field if inp is not None else "timestamp"
        self._level_field = inp.level_field if inp is not None else "level"
        self._read_time = time_reader(inp.time_format if inp is not None else None, tz)
        pattern = inp.pattern if inp is not None and inp.pattern else _DEFAULT_PATTERN
        self._regex, self._names = self._compile(pattern)

    def _compile(self, pattern: str) -> tuple[re.Pattern[str], dict[str, tuple[str, str | None]]]:
        regex = re.compile(pattern)
        return regex, {name: (name, None) for name in regex.groupindex}

    def parse(self, line: bytes) -> Parsed:
        text, bad = decode(line)
        m = self._regex.search(text)
        if m is None:
            fields, message, ts, level, plain_tags, _ = self._plain.parse(line)
            return fields, message, ts, level, (*(plain_tags or ()), self.no_match), None
        doc: dict[str, Any] = {}
        names = self._names
        ts = level = None
        message = text
        for group, value in m.groupdict().items():
            if value is None:
                continue
            name, conv = names[group]
            if name == self._time_field:
                ts = self._read_time(value)
                if ts is not None:
                    continue
            elif name == self._level_field:
                if value:
                    level = value.lower()
                    continue
            elif name == "message":
                message = value
                continue
            _put(doc, name, _convert(value, conv))
        tags: tuple[str, ...] = (INVALID_UTF8,) if bad else ()
        if ts is None:
            tags = (*tags, TIME_FROM_READ)
        return doc or None, message, ts, level, tags or None, None


class GrokParser(RegexParser):
    """``format: grok``: ``%{PATTERN:field}`` expressions (``shipper.parsers._grok``)."""

    no_match = GROK_NO_MATCH

    def _compile(self, pattern: str) -> tuple[re.Pattern[str], dict[str, tuple[str, str | None]]]:
        regex, captures = compile_grok(pattern)
        names: dict[str, tuple[str, str | None]] = {name: (name, None) for name in regex.groupindex}
        names.update(captures)
        return regex, names
