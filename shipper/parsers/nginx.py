"""nginx access logs: the default ``combined`` format (optionally followed by ``$request_time``, as many
custom formats append it) and ``log_format ... escape=json`` lines, both mapped to ECS names.

Fields (only those the line has):

- ``source.ip`` ($remote_addr), ``user.name`` ($remote_user, unless ``-``/empty)
- ``@timestamp`` ($time_local or $time_iso8601)
- ``http.request.method``, ``url.original``, ``http.version`` (from $request)
- ``http.response.status_code`` (number), ``http.response.body.bytes`` (number, $body_bytes_sent)
- ``http.request.referrer`` ($http_referer, unless ``-``/empty), ``user_agent.original``
- ``user_agent.name``, ``.version``, ``.os.name``, ``.os.version``, ``.os.full``, ``.device.name``:
  the user agent parsed by ua-parser (cached: a site sees the same few thousand agents all day)
- ``event.duration``: $request_time in **nanoseconds** (ECS), an integer
- JSON lines: any other key is the line's own field (the builder puts it in the input's namespace).

``message`` is the line itself. A line in neither shape is a ``parse_error`` with the line as message.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import orjson

from shipper.parsers import INVALID_UTF8, PARSE_ERROR, Parsed, decode
from shipper.parsers._time import parse_any, parse_clf

_UA_CACHE: dict[str, dict[str, Any]] = {}
_UA_CACHE_MAX = 4096


def _version(*parts: str | None) -> str | None:
    out = []
    for part in parts:
        if part is None:
            break
        out.append(part)
    return ".".join(out) or None


def user_agent(original: str) -> dict[str, Any]:
    """ECS ``user_agent`` for a User-Agent header: ``original`` plus what ua-parser tells.

    Cached (bounded): parsing one agent takes ~0.1 ms of regexes, and agents repeat. The returned
    dict is shared between docs; the builder copies before it merges into one."""
    out = _UA_CACHE.get(original)
    if out is not None:
        return out
    from ua_parser import parse  # its rules load on first use (~0.1 s), not at shipper start

    result = parse(original)
    out = {"original": original}
    ua, os, device = result.user_agent, result.os, result.device
    if ua is not None and ua.family != "Other":
        out["name"] = ua.family
        version = _version(ua.major, ua.minor, ua.patch)
        if version:
            out["version"] = version
    if os is not None and os.family != "Other":
        os_out: dict[str, str] = {"name": os.family}
        version = _version(os.major, os.minor, os.patch)
        if version:
            os_out["version"] = version
        os_out["full"] = f"{os.family} {version}" if version else os.family
        out["os"] = os_out
    if device is not None and device.family != "Other":
        out["device"] = {"name": device.family}
    if len(_UA_CACHE) >= _UA_CACHE_MAX:
        _UA_CACHE.clear()
    _UA_CACHE[original] = out
    return out


_COMBINED = re.compile(
    r'(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" '
    r"(?P<status>\d{3}) (?P<bytes>\d+|-)"
    r'(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)")?'
    r"(?: (?P<rt>\d+(?:\.\d+)?))?(?: .*)?"
)
_KNOWN_JSON = {
    "remote_addr",
    "remote_user",
    "time_local",
    "time_iso8601",
    "request",
    "request_method",
    "request_uri",
    "status",
    "body_bytes_sent",
    "http_referer",
    "http_user_agent",
    "request_time",
}


def _num(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _duration_ns(value: Any) -> int | None:
    try:
        secs = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not 0 <= secs < 1e9:
        return None
    return round(secs * 1e9)


def _set(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = doc
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _request(doc: dict[str, Any], request: str) -> None:
    parts = request.split(" ")
    if len(parts) == 3 and parts[2].startswith("HTTP/"):
        _set(doc, ("http", "request", "method"), parts[0])
        _set(doc, ("url", "original"), parts[1])
        _set(doc, ("http", "version"), parts[2][5:])
    elif request:
        _set(doc, ("url", "original"), request)


class NginxParser:
    loggers: ClassVar[bool] = False

    def parse(self, line: bytes) -> Parsed:
        text, bad = decode(line)
        tags: tuple[str, ...] = (INVALID_UTF8,) if bad else ()
        stripped = text.strip()
        if stripped.startswith("{"):
            return self._json(text, stripped, tags)
        m = _COMBINED.fullmatch(stripped)
        if m is None:
            return None, text, None, None, (*tags, PARSE_ERROR), None
        doc: dict[str, Any] = {}
        doc["source"] = {"ip": m.group("ip")}
        user = m.group("user")
        if user != "-":
            doc["user"] = {"name": user}
        _request(doc, m.group("request"))
        response: dict[str, Any] = {"status_code": int(m.group("status"))}
        if m.group("bytes") != "-":
            response["body"] = {"bytes": int(m.group("bytes"))}
        _set(doc, ("http", "response"), response)
        referer = m.group("referer")
        if referer and referer != "-":
            _set(doc, ("http", "request", "referrer"), referer)
        ua = m.group("ua")
        if ua and ua != "-":
            doc["user_agent"] = user_agent(ua)
        rt = m.group("rt")
        if rt is not None:
            ns = _duration_ns(rt)
            if ns is not None:
                doc["event"] = {"duration": ns}
        return doc, text, parse_clf(m.group("time")), None, tags or None, None

    def _json(self, text: str, stripped: str, tags: tuple[str, ...]) -> Parsed:
        try:
            obj = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            obj = None
        if type(obj) is not dict:
            return None, text, None, None, (*tags, PARSE_ERROR), None
        doc: dict[str, Any] = {}
        ip = obj.get("remote_addr")
        if isinstance(ip, str) and ip:
            doc["source"] = {"ip": ip}
        user = obj.get("remote_user")
        if isinstance(user, str) and user and user != "-":
            doc["user"] = {"name": user}
        request = obj.get("request")
        if isinstance(request, str):
            _request(doc, request)
        method, uri = obj.get("request_method"), obj.get("request_uri")
        if isinstance(method, str) and method:
            _set(doc, ("http", "request", "method"), method)
        if isinstance(uri, str) and uri:
            _set(doc, ("url", "original"), uri)
        status = _num(obj.get("status"))
        if status is not None:
            _set(doc, ("http", "response", "status_code"), status)
        size = _num(obj.get("body_bytes_sent"))
        if size is not None:
            _set(doc, ("http", "response", "body", "bytes"), size)
        referer = obj.get("http_referer")
        if isinstance(referer, str) and referer and referer != "-":
            _set(doc, ("http", "request", "referrer"), referer)
        ua = obj.get("http_user_agent")
        if isinstance(ua, str) and ua and ua != "-":
            doc["user_agent"] = user_agent(ua)
        if "request_time" in obj:
            ns = _duration_ns(obj["request_time"])
            if ns is not None:
                doc["event"] = {"duration": ns}
        ts = None
        if isinstance(obj.get("time_iso8601"), str):
            ts = parse_any(obj["time_iso8601"])
        if ts is None and isinstance(obj.get("time_local"), str):
            ts = parse_clf(obj["time_local"])
        for key, value in obj.items():
            if key not in _KNOWN_JSON and key not in doc:
                doc[key] = value  # not ECS: the builder moves it to the namespace
        return doc, text, ts, None, tags or None, None
