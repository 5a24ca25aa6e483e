"""logfmt: ``key=value key2="quoted \\"value\\"" flag`` pairs.

Values stay strings (logfmt is untyped; guessing numbers would give one field two types). ``msg`` or
``message`` becomes ``message``, ``level``/``lvl``/``severity`` becomes ``log.level``, ``time``/``ts``/
``timestamp`` becomes ``@timestamp`` (and the pair that gave each is not kept again). The other pairs
are the line's fields: the builder maps logger keys (``pid``, ``hostname``...) to ECS and puts the
rest in the input's namespace (``shipper.ecs``). A key without ``=`` is a flag with the value
``true``. A line with no pair at all is a ``parse_error``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from shipper.parsers import INVALID_UTF8, PARSE_ERROR, Parsed, decode
from shipper.parsers._time import parse_any

_PAIR = re.compile(r'\s*([^\s="]+)(?:=("(?:[^"\\]|\\.)*"?|[^\s"]*))?')
_UNESCAPE = re.compile(r"\\(.)")


def _value(raw: str) -> str:
    if raw.startswith('"'):
        body = raw[1:-1] if len(raw) > 1 and raw.endswith('"') else raw[1:]
        return _UNESCAPE.sub(lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), body)
    return raw


class LogfmtParser:
    loggers: ClassVar[bool] = True

    def __init__(self, inp: object = None) -> None:
        pass  # no options

    def parse(self, line: bytes) -> Parsed:
        text, bad = decode(line)
        tags: tuple[str, ...] = (INVALID_UTF8,) if bad else ()
        pairs: dict[str, Any] = {}
        pos, n = 0, len(text)
        while pos < n:
            m = _PAIR.match(text, pos)
            if m is None or m.end() == pos:
                break
            pos = m.end()
            key, raw = m.group(1), m.group(2)
            pairs[key] = True if raw is None else _value(raw)
        rest = text[pos:].strip()
        if not pairs or rest:
            return None, text, None, None, (*tags, PARSE_ERROR), None
        message: str = text
        for key in ("msg", "message"):
            v = pairs.get(key)
            if isinstance(v, str):
                message = v
                del pairs[key]
                break
        ts = None
        for key in ("time", "ts", "timestamp", "@timestamp"):
            if key in pairs:
                ts = parse_any(pairs[key])
                if ts is not None:
                    del pairs[key]
                    break
        level = None
        for key in ("level", "lvl", "severity"):
            v = pairs.get(key)
            if isinstance(v, str) and v:
                level = v.lower()
                del pairs[key]
                break
        fields = pairs
        return fields, message, ts, level, tags or None, None
