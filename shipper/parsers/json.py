"""json: one JSON object per line, with bunyan, pino and winston conventions understood.

- time: the first of ``@timestamp``, ``time``, ``timestamp``, ``ts`` that parses (ISO 8601, or epoch
  seconds / ms / µs / ns as a number or numeric string) becomes ``@timestamp``.
- message: ``message`` (winston) is kept as it is; else ``msg`` (bunyan, pino) becomes ``message``;
  else the whole line is the ``message`` so free-text search still finds it.
- level: ``level`` (or ``severity``, ``lvl``): bunyan/pino numbers 10..60 map to trace, debug, info,
  warn, error, fatal; strings are lower-cased.
- every field of the line stays in the doc as it is (nested objects stay nested).

A line that is not a JSON object is shipped with its text in ``message`` and the ``parse_error`` tag.
"""

from __future__ import annotations

from typing import Any

import orjson

from shipper.parsers import INVALID_UTF8, PARSE_ERROR, Parsed, decode
from shipper.parsers._time import parse_any

_NUM_LEVELS = {10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal"}
_TIME_KEYS = ("@timestamp", "time", "timestamp", "ts")
_LEVEL_KEYS = ("level", "severity", "lvl")


def level_name(value: Any) -> str | None:
    if type(value) is int:
        name = _NUM_LEVELS.get(value)
        if name is not None:
            return name
    if isinstance(value, str):
        return value.lower() if value else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        # pino/bunyan: 10 trace .. 60 fatal; custom levels in between round down.
        if value in _NUM_LEVELS:
            return _NUM_LEVELS[value]
        if 10 <= value <= 60:
            return _NUM_LEVELS[value // 10 * 10]
        return str(value)
    return None


class JsonParser:
    def parse(self, line: bytes) -> Parsed:
        tags: tuple[str, ...] | None = None
        splice: bytes | None = line
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            text, bad = decode(line)
            if not bad:
                return None, text, None, None, (PARSE_ERROR,), None
            tags = (INVALID_UTF8,)
            splice = None  # the bytes are not UTF-8, so they cannot go into the doc as they are
            try:
                obj = orjson.loads(text)
            except orjson.JSONDecodeError:
                return None, text, None, None, (INVALID_UTF8, PARSE_ERROR), None
        if type(obj) is not dict:
            return None, decode(line)[0], None, None, (*(tags or ()), PARSE_ERROR), None
        if not obj:
            splice = None
        elif splice is not None:
            splice = line.strip()
        ts = None
        for key in _TIME_KEYS:
            value = obj.get(key)
            if value is not None:
                ts = parse_any(value)
                if ts is not None:
                    break
        level = None
        value = obj.get("level")
        if value is not None:
            level = level_name(value)
        if level is None:
            for key in _LEVEL_KEYS:
                if key in obj:
                    level = level_name(obj[key])
                    if level is not None:
                        break
        message: str | None
        own = obj.get("message")
        if type(own) is str:
            message = None
        else:
            msg = obj.get("msg")
            message = msg if type(msg) is str else decode(line)[0] if splice is None else line.decode()
        return obj, message, ts, level, tags, splice
