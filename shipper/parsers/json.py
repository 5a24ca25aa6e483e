"""json: one JSON object per line, with bunyan, pino and winston conventions understood.

- time: the first of ``@timestamp``, ``time``, ``timestamp``, ``ts``, ``asctime``, ``created`` that
  parses (ISO 8601, or epoch seconds / ms / µs / ns as a number or numeric string) becomes ``@timestamp``.
- message: ``message`` (winston, ecs-logging) is kept as it is; else ``msg`` (bunyan, pino) or a string
  ``event`` (structlog) becomes ``message``; else the whole line is the ``message`` so free-text
  search still finds it.
- level: ``level`` (or ``log.level``, ``levelname``, ``severity``, ``lvl``): bunyan/pino numbers
  10..60 map to trace, debug, info, warn, error, fatal; strings are lower-cased.
- the keys that gave these are not kept again; the line's other fields become ECS fields or go to
  the input's namespace in the builder (``shipper.ecs``).
- a key repeated in one object: the last value wins (JavaScript and Python do the same), decided here
  at parse time so every backend stores the same doc; the line is tagged ``duplicate_keys`` and its
  text kept in ``event.original`` (``duplicate_keys`` tells such a line from the others).

These rules live in ``line_meta`` only: the parser and the shipper's batch builder both call it.
A line that is not a JSON object is shipped with its text in ``message`` and the ``parse_error`` tag.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, ClassVar

import orjson

from shipper.parsers import DUPLICATE_KEYS, INVALID_UTF8, PARSE_ERROR, Parsed, _time, decode
from shipper.parsers._time import parse_any

_NUM_LEVELS = {10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal"}
# python-json-logger's asctime (local time, "2026-12-02 10:00:00,123") and created (epoch seconds)
# come last: a line with an ISO time as well is read by that.
_TIME_KEYS = ("@timestamp", "time", "timestamp", "ts", "asctime", "created")
# "log.level" as ecs-logging writes it (a dotted key), "levelname" as python-json-logger does.
_LEVEL_KEYS = ("level", "log.level", "levelname", "severity", "lvl")
# ".000Z".."999Z" -> 0..999: one lookup checks the end of a canonical stamp and reads its ms.
_MILLIS: dict[str, int] = {f".{n:03d}Z": n for n in range(1000)}
_SEC_CACHE = _time._SEC_CACHE


# JSON's white space: the only bytes that may stand between a key and its colon.
_WS = b" \t\r\n"


def _count_keys(value: dict[str, Any] | list[Any]) -> int:
    """Keys of every object in ``value`` (decoded: a repeated key counts once)."""
    items: Iterable[Any] = value
    n = 0
    if type(value) is dict:
        n, items = len(value), value.values()
    for v in items:
        t = type(v)
        if t is dict or t is list:
            n += _count_keys(v)
    return n


def _keys_or_none(obj: dict[str, Any]) -> int | None:
    try:
        return _count_keys(obj)
    except RecursionError:  # deeper than Python recurses: the exact check decides
        return None


def _repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({k for k, _ in pairs}) != len(pairs):
        raise _Repeated
    return dict(pairs)


class _Repeated(Exception):
    pass


def key_ends(line: bytes) -> int:
    """The ``":`` in ``line`` once JSON white space is taken out: at least one per key written.

    A key ends with a quote, maybe white space, then its colon, so without the white space every key
    written leaves one ``":``; a string holding a quote and a colon (``\\":``) leaves more. Spaces go
    with ``replace`` (memchr-fast, spaces are common in messages); a tab, CR or LF (rare: a multiline
    event) with ``translate``. (``int in bytes``, not ``b"." in``: see ``duplicate_keys``.)"""
    if 10 in line or 9 in line or 13 in line:
        return line.translate(None, _WS).count(b'":')
    return line.replace(b" ", b"").count(b'":')


def duplicate_keys(obj: dict[str, Any], line: bytes, ends: int | None = None) -> bool:
    """Whether an object of ``line`` (decoded as ``obj``) repeats a key.

    Exact, and cheap for the usual line: ``ends`` = ``key_ends(line)`` (passed by a caller that has
    it) is at least the keys written, which are at least the keys decoded, and equal to them only when
    no key repeats; so ``ends`` equal to the keys decoded (``len(obj)``, or counted through the nested
    objects) means no repeat. Only a line with more (a repeat, or ``\\":`` inside a string) is decoded
    again key by key. (On bytes, ``b".." in`` first tries the needle as an int and raises and clears a
    TypeError each time, ~1,700 instructions: this module uses ``find``, ``count`` or int needles.)"""
    if ends is None:
        ends = key_ends(line)
    n = len(obj)
    if ends == n or (ends > n and ends == _keys_or_none(obj)):
        return False
    try:
        json.loads(line, object_pairs_hook=_repeats)
    except _Repeated:
        return True
    except (ValueError, RecursionError):
        return True  # not for the stdlib's parser (too deep): re-serialize what orjson decoded
    return False


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


def line_meta(
    obj: dict[str, Any], text: bytes | str
) -> tuple[int | None, str | None, str | None, str | None, tuple[str, ...]]:
    """THE time, level and message rules of a JSON line (see the module docstring), in one place:
    ``JsonParser.parse`` and the shipper's batch builder (``DocBuilder.build_many``) both call it.

    ``obj`` is the line decoded, ``text`` the line (bytes only when they are valid UTF-8). Returns
    ``(ts_ms, stamp, level, message, used)``: ``stamp`` is the line's own time string when it is
    already canonical RFC 3339 UTC ms (= ``format_ms(ts_ms)``, so a caller need not format it), else
    None; ``message`` is None when the line has a string ``message`` of its own; ``used`` the keys
    that gave the time, the level and the message (the doc has them as ``@timestamp``, ``log.level``
    and ``message``, so they are not kept twice).
    """
    # The common shapes first, without a call: a canonical stamp, a bunyan/pino level or none.
    tkey = "@timestamp"
    tv = obj.get(tkey)
    if tv is None:
        tkey = "time"
        tv = obj.get(tkey)
        if tv is None:
            tkey = "timestamp"
            tv = obj.get(tkey)
            if tv is None:
                tkey = "ts"
                tv = obj.get(tkey)
    stamp: str | None
    ts: int | None
    if type(tv) is str:
        # "YYYY-MM-DDTHH:MM:SS" is only ever cached in that canonical shape, and ".mmmZ" must then
        # be all that follows: two lookups validate the whole stamp.
        sec = _SEC_CACHE.get(tv[:19])
        ms = _MILLIS.get(tv[19:])
        if sec is not None and ms is not None:
            ts, stamp = sec * 1000 + ms, tv
        else:
            (ts, tkey), stamp = _first_time(obj), None
    elif tv is None and "asctime" not in obj and "created" not in obj:
        ts = stamp = None
    else:
        (ts, tkey), stamp = _first_time(obj), None
    lkey = "level"
    lv = obj.get(lkey)
    level = _NUM_LEVELS.get(lv) if type(lv) is int else None
    if level is None and (
        lv is not None or "log.level" in obj or "levelname" in obj or "severity" in obj or "lvl" in obj
    ):
        level, lkey = _level(obj, lv)
    message: str | None
    mkey = "message"
    if type(obj.get(mkey)) is str:
        message, mkey = None, ""  # the line's own message stays: it is the doc's (ECS) message
    else:
        mkey = "msg"
        msg = obj.get(mkey)
        if type(msg) is not str:
            mkey = "event"  # structlog's message (an ECS object elsewhere: only a string is taken)
            msg = obj.get(mkey)
        if type(msg) is str:
            message = msg
        else:
            message, mkey = text.decode() if isinstance(text, bytes) else text, ""
    used: tuple[str, ...] = (tkey, lkey) if ts is not None and level is not None else ()
    if not used:
        used = (tkey,) if ts is not None else (lkey,) if level is not None else ()
    if mkey:
        used += (mkey,)
    return ts, stamp, level, message, used


# The lookups of line_meta's common path, for the builder's inline copy of it (see meta_keys).
COMMON_META = (_SEC_CACHE, _MILLIS, _NUM_LEVELS)


def meta_keys(keys: tuple[str, ...]) -> tuple[str, str, str] | None:
    """The keys ``(time, level, message)`` that ``line_meta`` reads and uses for a line with these
    keys, when their values have the common shapes: a canonical stamp string (in ``_SEC_CACHE``,
    then ``.mmmZ``), a level number in ``_NUM_LEVELS`` and a string message. None when the key set
    alone does not settle it (no such keys, or a ``message`` of the line's own).

    The builder plans a key tuple with it once and then checks only the values' shapes per line
    (``DocBuilder._many``), so these rules stay here, next to ``line_meta``'s."""
    tkey = next((k for k in _TIME_KEYS[:4] if k in keys), None)
    if tkey is None or "level" not in keys or "msg" not in keys or "message" in keys:
        return None
    return tkey, "level", "msg"


def _first_time(obj: dict[str, Any]) -> tuple[int | None, str]:
    """line_meta's time when it is not a canonical stamp: the first time key whose value parses."""
    for key in _TIME_KEYS:
        value = obj.get(key)
        if value is not None:
            ts = parse_any(value)
            if ts is not None:
                return ts, key
    return None, ""


def _level(obj: dict[str, Any], lv: Any) -> tuple[str | None, str]:
    """line_meta's level when ``level`` is not a bunyan/pino number: the first level key that names one."""
    level = level_name(lv) if lv is not None else None
    if level is not None:
        return level, "level"
    for key in _LEVEL_KEYS:
        if key in obj:
            level = level_name(obj[key])
            if level is not None:
                return level, key
    return None, ""


class JsonParser:
    loggers: ClassVar[bool] = True

    def __init__(self, inp: object = None) -> None:
        pass  # no options

    def parse(self, line: bytes) -> Parsed:
        tags: tuple[str, ...] | None = None
        splice: bytes | None = line
        text: bytes | str = line
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
        elif duplicate_keys(obj, text.encode() if isinstance(text, str) else text):
            tags = (*(tags or ()), DUPLICATE_KEYS)
            splice = None  # the bytes hold both values; the doc holds the last
        elif splice is not None:
            splice = line.strip()
        ts, _, level, message, used = line_meta(obj, text)
        for key in used:
            obj.pop(key, None)  # the doc has them as @timestamp, log.level and message
        return obj, message, ts, level, tags, splice
