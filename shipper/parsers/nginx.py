"""nginx access logs: the default ``combined`` format (optionally followed by ``$request_time``, as many
custom formats append it) and ``log_format ... escape=json`` lines, both mapped to ECS names; Apache's
``common``/``combined`` lines (optionally followed by ``%D``) parse the same. And ``nginx_error``: the
nginx ``error.log``.

Fields (only those the line has):

- ``source.ip`` ($remote_addr), ``user.name`` ($remote_user, unless ``-``/empty)
- ``@timestamp`` ($time_local or $time_iso8601)
- ``http.request.method``, ``url.original``, ``http.version`` (from $request)
- ``http.response.status_code`` (number), ``http.response.body.bytes`` (number, $body_bytes_sent)
- ``http.request.referrer`` ($http_referer, unless ``-``/empty), ``user_agent.original``
- ``user_agent.name``, ``.version``, ``.os.name``, ``.os.version``, ``.os.full``, ``.device.name``:
  the user agent parsed by ua-parser (cached: a site sees the same few thousand agents all day)
- ``event.duration``: the request time at the end of the line in **nanoseconds** (ECS), an integer:
  with a decimal point it is nginx's ``$request_time`` (seconds, ``0.005``), without one Apache's
  ``%D`` (microseconds, ``5123``). (Apache's ``%T``, whole seconds, would be read as microseconds:
  log ``%D``.)
- JSON lines: any other key is the line's own field (the builder puts it in the input's namespace).

``message`` is the line itself. A line in neither shape is a ``parse_error`` with the line as message.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from shipper.parsers import INVALID_UTF8, PARSE_ERROR, Parsed, decode
from shipper.parsers._texttime import TextTime, zone
from shipper.parsers._time import parse_any, parse_clf
from shipper.parsers.plain import PlainParser

if TYPE_CHECKING:
    from shipper.config import InputConfig

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

    def __init__(self, inp: InputConfig | None = None) -> None:
        pass

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
            ns = _duration_ns(rt) if "." in rt else int(rt) * 1000 if len(rt) < 16 else None
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


# 2026/12/02 10:00:00 [error] 1234#5678: *99 open() "/x" failed (2: ...), client: 1.2.3.4, server: ...
_ERROR = re.compile(
    r"(?P<time>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(?P<level>\w+)\] (?P<pid>\d+)#(?P<tid>\d+): "
    r"(?:\*(?P<cid>\d+) )?(?P<message>.*)",
    re.DOTALL,
)
# The context nginx appends to an error, in its order; each is optional.
_CONTEXT = re.compile(
    r"(?:, client: (?P<client>[^,]+))?(?:, server: (?P<server>[^,]*))?"
    r'(?:, request: "(?P<request>(?:[^"\\]|\\.)*)")?'
    r'(?:, upstream: "(?P<upstream>(?:[^"\\]|\\.)*)")?(?:, host: "(?P<host>(?:[^"\\]|\\.)*)")?'
    r'(?:, referrer: "(?P<referrer>(?:[^"\\]|\\.)*)")?$'
)


class NginxErrorParser:
    """``nginx_error``: nginx's error.log. Fields (those the line has): ``@timestamp`` (nginx writes
    local time: the input's ``timezone``), ``log.level``, ``process.pid``, ``process.thread.id``,
    ``nginx.error.connection_id``, ``source.ip`` (client), ``nginx.error.server``, the request as
    ``http.request.method`` / ``url.original`` / ``http.version``, ``nginx.error.upstream``,
    ``url.domain`` (host), ``http.request.referrer``. ``message`` is the text after ``pid#tid: *cid``,
    context included. Any other line is a ``plain`` line (a continuation, a startup notice) tagged
    ``parse_error``. (``nginx.error.*`` is not ECS: the builder moves it into the input's namespace.)"""

    loggers: ClassVar[bool] = False

    def __init__(self, inp: InputConfig | None = None) -> None:
        self._plain = PlainParser(inp)
        self._time = TextTime(zone(inp.timezone) if inp is not None else zone("UTC")).find

    def parse(self, line: bytes) -> Parsed:
        text, bad = decode(line)
        m = _ERROR.match(text)
        ts = self._time(text)[0] if m is not None else None
        if m is None or ts is None:
            fields, message, ts, level, tags, _ = self._plain.parse(line)
            return fields, message, ts, level, (*(tags or ()), PARSE_ERROR), None
        doc: dict[str, Any] = {"process": {"pid": int(m.group("pid")), "thread": {"id": int(m.group("tid"))}}}
        message = m.group("message")
        err: dict[str, Any] = {}
        if m.group("cid"):
            err["connection_id"] = int(m.group("cid"))
        cut = message.find(", client: ")
        if cut >= 0:
            c = _CONTEXT.match(message, cut)
            if c is not None:
                self._context(doc, err, c)
        if err:
            doc["nginx"] = {"error": err}
        return doc, message, ts, m.group("level").lower(), (INVALID_UTF8,) if bad else None, None

    @staticmethod
    def _context(doc: dict[str, Any], err: dict[str, Any], c: re.Match[str]) -> None:
        if c.group("client"):
            doc["source"] = {"ip": c.group("client")}
        if c.group("server"):
            err["server"] = c.group("server")
        if c.group("request"):
            _request(doc, c.group("request"))
        if c.group("upstream"):
            err["upstream"] = c.group("upstream")
        if c.group("host"):
            _set(doc, ("url", "domain"), c.group("host"))
        if c.group("referrer"):
            _set(doc, ("http", "request", "referrer"), c.group("referrer"))
