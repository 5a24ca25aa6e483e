"""A line's own fields -> ECS fields + the input's namespace: fields that never collide.

Guarantees (for every format; the README's "Fields" table lists the logger mappings):

- A field the shipper keeps as ECS is in ``logstore.ecs.FIELDS`` with a value of its ECS type
  (a keyword gets a string, a long an integer, a date an RFC 3339 UTC time, an ip an address), so
  docs of any mix of apps in one index never fight over an ECS field's type.
- Every other field of the line goes under the input's namespace (``<namespace>.<field>``, nested as
  the line has it), so two apps' own fields never meet: one app's numeric ``status`` and another's
  string ``status`` live in two namespaces. Within one namespace the app's own types apply.
- The standard fields of known loggers (bunyan, pino, winston, python-json-logger, structlog,
  ecs-logging) become their ECS fields (``LOGGER_KEYS``): ``hostname`` -> ``host.hostname``,
  ``pid`` -> ``process.pid``, ``err`` -> ``error.*``, ``req``/``res`` -> ``http.*``/``url.*`` ... A
  mapped value is not kept twice; a value of the wrong shape (``"pid": "main"``) stays in the namespace.
- Nothing is dropped: a value that is neither ECS nor mapped is in the namespace.

``Shaper.line`` is the one entry for a JSON or logfmt line's fields (after ``line_meta`` took the
time, level and message), ``Shaper.split`` the one for fields already in ECS names (nginx). Both the
builder's per-line path and its batch path call them, so they cannot disagree.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from logstore.ecs import FIELDS
from shipper.parsers._time import format_ms, parse_any

BAD: Any = object()  # a value that does not fit an ECS type

# Names directly under the doc root that ECS (or the shipper) owns: a namespace may not take one.
TOP_NAMES = frozenset(name.split(".")[0] for name in FIELDS) | {"original"}
# Every proper prefix of an ECS field ("http", "http.request", ...): objects the walk goes into.
_PREFIXES = frozenset(".".join(n.split(".")[:i]) for n in FIELDS for i in range(1, n.count(".") + 1))
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")

_TEXT = frozenset({"keyword", "wildcard", "match_only_text", "constant_keyword", "text"})
_INTS = frozenset({"long", "integer", "unsigned_long"})
_FLOATS = frozenset({"float", "double", "scaled_float", "half_float"})
_IP_CACHE: dict[str, bool] = {}  # addresses repeat (a client's requests): validity, bounded


def _ip(value: str) -> bool:
    ok = _IP_CACHE.get(value)
    if ok is None:
        try:
            ipaddress.ip_address(value)
            ok = True
        except ValueError:
            ok = False
        if len(_IP_CACHE) > 4096:
            _IP_CACHE.clear()
        _IP_CACHE[value] = ok
    return ok


def _scalar(kind: str, value: Any) -> Any:
    """``value`` as ECS type ``kind``, or BAD. Conversions are the ones Elasticsearch itself makes
    (a number for a keyword is its text, a digit string for a long its number), done here so both
    backends store the same value; a time is normalized to RFC 3339 UTC (Elasticsearch's default date
    format refuses ``2026-12-02 10:00:00``)."""
    t = type(value)
    if kind in _TEXT:
        if t is str:
            return value
        if t is int or t is float:
            return str(value)
        if t is bool:
            return "true" if value else "false"
        return BAD
    if kind in _INTS:
        if t is int:
            return value
        if t is str and value.isdigit() and value.isascii() and len(value) < 19:
            return int(value)
        return BAD
    if kind in _FLOATS:
        return value if t is int or t is float else BAD
    if kind == "ip":
        return value if t is str and _ip(value) else BAD
    if kind == "date":
        ms = parse_any(value) if t is str or t is int or t is float else None
        return BAD if ms is None else format_ms(ms)
    if kind == "boolean":
        return value if t is bool else BAD
    if kind == "geo_point":
        ok = (
            t is dict
            and isinstance(value.get("lat"), (int, float))
            and isinstance(value.get("lon"), (int, float))
        )
        return value if ok else BAD
    if kind == "object:keyword":  # labels: flat, keyword values
        if t is not dict:
            return BAD
        out = {}
        for k, v in value.items():
            text = _scalar("keyword", v)
            if text is BAD or "." in k:
                return BAD
            out[k] = text
        return out
    return BAD


def coerce(kind: str, value: Any) -> Any:
    """``_scalar`` for a value or an array of them (ECS fields take arrays); BAD if any element is."""
    if type(value) is list and kind != "object:keyword":
        out = [_scalar(kind, v) for v in value]
        return BAD if any(v is BAD for v in out) else out
    return _scalar(kind, value)


def put(node: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """``value`` at ``path`` under ``node``, making the objects on the way."""
    for key in path[:-1]:
        child = node.get(key)
        if type(child) is not dict:
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def walk(prefix: str, key: str, value: Any, ecs: dict[str, Any], ns: dict[str, Any]) -> None:
    """The line's ``key`` (under ECS path ``prefix``) into ``ecs`` where it is ECS of the right type,
    into ``ns`` where not; an object under an ECS prefix is split leaf by leaf."""
    if "." in key:
        _dotted(prefix, key, value, ecs, ns)
        return
    name = f"{prefix}.{key}" if prefix else key
    kind = FIELDS.get(name)
    if kind is not None:
        v = coerce(kind, value)
        if v is not BAD:
            ecs[key] = v
            return
    elif type(value) is dict and name in _PREFIXES:
        sub_ecs: dict[str, Any] = {}
        sub_ns: dict[str, Any] = {}
        for k, v in value.items():
            walk(name, k, v, sub_ecs, sub_ns)
        if sub_ecs:
            _into(ecs, key, sub_ecs)
        if sub_ns:
            _into(ns, key, sub_ns)
        return
    ns[key] = value


def _into(node: dict[str, Any], key: str, sub: dict[str, Any]) -> None:
    """``sub`` at ``node[key]``, merged with what a mapper or a dotted key put there before."""
    have = node.get(key)
    if type(have) is dict:
        _deep_update(have, sub)
    else:
        node[key] = sub


def _dotted(prefix: str, key: str, value: Any, ecs: dict[str, Any], ns: dict[str, Any]) -> None:
    """A dotted key (``"log.level"``, as ecs-logging writes some) is the path it names."""
    path = key.split(".")
    if "" in path:
        ns[key] = value
        return
    for part in reversed(path[1:]):
        value = {part: value}
    sub_ecs: dict[str, Any] = {}
    sub_ns: dict[str, Any] = {}
    walk(prefix, path[0], value, sub_ecs, sub_ns)
    _deep_update(ecs, sub_ecs)
    _deep_update(ns, sub_ns)


def _deep_update(into: dict[str, Any], other: dict[str, Any]) -> None:
    for k, v in other.items():
        have = into.get(k)
        if type(have) is dict and type(v) is dict:
            _deep_update(have, v)
        else:
            into[k] = v


# ---- known loggers -------------------------------------------------------------------------------

Mapper = Callable[[Any, dict[str, Any], dict[str, Any], str], None]


def _move(name: str) -> Mapper:
    """A logger key whose value is one ECS field (``hostname`` -> ``host.hostname``)."""
    kind, path = FIELDS[name], tuple(name.split("."))

    def move(value: Any, ecs: dict[str, Any], ns: dict[str, Any], key: str) -> None:
        v = coerce(kind, value)
        if v is BAD:
            ns[key] = value
        else:
            put(ecs, path, v)

    return move


def _take(src: dict[str, Any], key: str, name: str, ecs: dict[str, Any]) -> None:
    """``src[key]`` to ECS ``name`` when present and of its type (then removed from ``src``)."""
    if key in src:
        v = coerce(FIELDS[name], src[key])
        if v is not BAD:
            put(ecs, tuple(name.split(".")), v)
            del src[key]


def _rest(value: dict[str, Any], ns: dict[str, Any], key: str) -> None:
    if value:
        ns[key] = value


def _error(value: Any, ecs: dict[str, Any], ns: dict[str, Any], key: str) -> None:
    """bunyan/pino ``err`` ({type|name, message, stack, code}); a string is the message."""
    if type(value) is str:
        put(ecs, ("error", "message"), value)
        return
    if type(value) is not dict:
        ns[key] = value
        return
    rest = dict(value)
    _take(rest, "type", "error.type", ecs)
    _take(rest, "name", "error.type", ecs)
    _take(rest, "message", "error.message", ecs)
    _take(rest, "stack", "error.stack_trace", ecs)
    _take(rest, "code", "error.code", ecs)
    _rest(rest, ns, key)


_EXC_LAST = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)?)(?::\s?(.*))?$")


def _traceback(value: Any, ecs: dict[str, Any], ns: dict[str, Any], key: str) -> None:
    """Python's formatted traceback (python-json-logger ``exc_info``, structlog ``exception``):
    ``error.stack_trace``, and ``error.type``/``error.message`` from its last line."""
    if type(value) is not str or not value:
        ns[key] = value
        return
    put(ecs, ("error", "stack_trace"), value)
    last = value.rstrip().rsplit("\n", 1)[-1].strip()
    m = _EXC_LAST.match(last)
    if m is not None and "Traceback" in value:
        put(ecs, ("error", "type"), m.group(1))
        if m.group(2):
            put(ecs, ("error", "message"), m.group(2))


def _headers(headers: Any, ecs: dict[str, Any]) -> None:
    if type(headers) is dict:
        _take(headers, "user-agent", "user_agent.original", ecs)
        _take(headers, "referer", "http.request.referrer", ecs)


def _request(value: Any, ecs: dict[str, Any], ns: dict[str, Any], key: str) -> None:
    """bunyan/pino ``req``: method, url, id, remoteAddress/remotePort, the user agent and referrer."""
    if type(value) is not dict:
        ns[key] = value
        return
    rest = dict(value)
    _take(rest, "method", "http.request.method", ecs)
    _take(rest, "url", "url.original", ecs)
    _take(rest, "id", "http.request.id", ecs)
    _take(rest, "remoteAddress", "client.ip", ecs)
    _take(rest, "remotePort", "client.port", ecs)
    if type(rest.get("headers")) is dict:
        rest["headers"] = headers = dict(rest["headers"])
        _headers(headers, ecs)
        if not headers:
            del rest["headers"]
    _rest(rest, ns, key)


def _response(value: Any, ecs: dict[str, Any], ns: dict[str, Any], key: str) -> None:
    """bunyan/pino ``res``: statusCode."""
    if type(value) is not dict:
        ns[key] = value
        return
    rest = dict(value)
    _take(rest, "statusCode", "http.response.status_code", ecs)
    _rest(rest, ns, key)


def _ms_duration(value: Any, ecs: dict[str, Any], ns: dict[str, Any], key: str) -> None:
    """pino-http ``responseTime`` (ms) -> ``event.duration`` (ns, ECS)."""
    if type(value) in (int, float) and 0 <= value < 1e12:
        put(ecs, ("event", "duration"), round(value * 1_000_000))
    else:
        ns[key] = value


def _src(value: Any, ecs: dict[str, Any], ns: dict[str, Any], key: str) -> None:
    """bunyan ``src`` ({file, line, func})."""
    if type(value) is not dict:
        ns[key] = value
        return
    rest = dict(value)
    _take(rest, "file", "log.origin.file.name", ecs)
    _take(rest, "line", "log.origin.file.line", ecs)
    _take(rest, "func", "log.origin.function", ecs)
    _rest(rest, ns, key)


# Logger keys -> ECS. A key here is never an ECS name itself, except where a logger uses an ECS
# field-set name for a scalar (``"user": "bob"``, ``"error": "boom"``, winston's ``"service"``):
# those take the field set's natural leaf; an object there is ECS and walked as such.
_MOVES: dict[str, str] = {  # logger keys whose value is one ECS field
    "hostname": "host.hostname",  # bunyan, pino
    "pid": "process.pid",  # bunyan, pino
    "name": "log.logger",  # bunyan, pino, python-json-logger
    "logger": "log.logger",  # structlog
    "logger_name": "log.logger",
    "stack": "error.stack_trace",  # winston's format.errors({stack: true})
    "stack_info": "error.stack_trace",
    "process": "process.pid",  # Python logging's record.process (an int); an object is ECS
    "processName": "process.name",
    "process_name": "process.name",
    "thread": "process.thread.id",
    "threadName": "process.thread.name",
    "thread_name": "process.thread.name",
    "filename": "log.origin.file.name",
    "funcName": "log.origin.function",
    "func_name": "log.origin.function",
    "lineno": "log.origin.file.line",
    "user": "user.name",
    "error": "error.message",
    "service": "service.name",  # winston's defaultMeta {service}
    "url": "url.original",
}
LOGGER_KEYS: dict[str, Mapper] = {
    **{key: _move(name) for key, name in _MOVES.items()},
    "err": _error,  # bunyan, pino
    "req": _request,  # bunyan, pino(-http)
    "res": _response,
    "responseTime": _ms_duration,  # pino-http
    "src": _src,  # bunyan
    "exc_info": _traceback,  # python-json-logger, structlog
    "exc_text": _traceback,
    "exception": _traceback,  # structlog's format_exc_info
}


_NS, _WALK, _MAP, _FAST = 0, 1, 2, 3  # a key goes: to the namespace, the ECS walk, a mapper, a fast move
# A simple move's target type for the fast test (the value already has it: no conversion needed).
_FAST_TYPES: dict[str, type] = {"keyword": str, "wildcard": str, "long": int}

# (key, what it takes, its mapper, for a fast move: ECS path and the value's type)
_Step = tuple[str, int, Mapper | None, tuple[str, ...], type]
_Plan = tuple[tuple[str, ...], list[_Step]]


def _step(key: str) -> _Step:
    mapper = LOGGER_KEYS.get(key)
    name = _MOVES.get(key)
    if name is not None:
        return key, _FAST, mapper, tuple(name.split(".")), _FAST_TYPES.get(FIELDS[name], type(None))
    if mapper is not None:
        return key, _MAP, mapper, (), type(None)
    if "." in key or key in TOP_NAMES:
        return key, _WALK, None, (), type(None)
    return key, _NS, None, (), type(None)


def _plan_of(keys: tuple[str, ...]) -> _Plan:
    """The keys that go straight to the namespace, and the steps of the others."""
    steps = [_step(k) for k in keys]
    return tuple(st[0] for st in steps if st[1] == _NS), [st for st in steps if st[1] != _NS]


class Shaper:
    """One input's shaping: its namespace name; ``line``/``split`` give ``(ecs, ns)`` for a line."""

    __slots__ = ("_plans", "namespace")

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        # The line's key tuple (orjson hands back the same key objects line after line) -> its plan;
        # bounded, as key sets vary without end in some logs.
        self._plans: dict[tuple[str, ...], _Plan] = {}

    def line(self, obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """A JSON/logfmt line's fields (without those ``line_meta`` took), logger keys mapped.

        The hot path of the builder: the plan is cached per key tuple, the namespace's keys are
        copied in one comprehension, and a logger key whose value already has its ECS type (a
        string ``hostname``, an int ``pid``) is moved inline."""
        keys = tuple(obj)
        plan = self._plans.get(keys)
        if plan is None:
            plan = _plan_of(keys)
            if len(self._plans) > 4096:
                self._plans.clear()
            self._plans[keys] = plan
        ns_keys, steps = plan
        ns = {k: obj[k] for k in ns_keys}
        ecs: dict[str, Any] = {}
        for key, kind, mapper, path, fast in steps:
            value = obj[key]
            if kind == _FAST and type(value) is fast:
                if len(path) == 2:
                    parent = ecs.get(path[0])
                    if parent is None:
                        ecs[path[0]] = {path[1]: value}
                    else:
                        parent[path[1]] = value
                else:
                    put(ecs, path, value)
            elif mapper is None or (type(value) is dict and key in TOP_NAMES):
                walk("", key, value, ecs, ns)
            else:
                mapper(value, ecs, ns, key)
        return ecs, ns

    def moves(self, keys: tuple[str, ...]) -> tuple[tuple[str, type, str, str], ...] | None:
        """When ``line`` shapes the keys ``keys`` by moves alone: its steps ``(key, type, object,
        field)``, each valid for a value of exactly that type (a moved value is unchanged, at
        ``<object>.<field>``); every other key goes, unchanged and in order, to the namespace.
        None when some key needs more (a walk, a mapper, a deeper path). The builder builds such a
        line's doc straight from these steps (``DocBuilder._many``); the per-key rules stay here."""
        steps = []
        for key in keys:
            key_, kind, _, path, fast = _step(key)
            if kind == _NS:
                continue
            if kind != _FAST or len(path) != 2 or fast is type(None):
                return None
            steps.append((key_, fast, path[0], path[1]))
        return tuple(steps)

    def split(self, fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Fields already named as ECS (a parser's): ECS where they fit, the rest to the namespace."""
        ecs: dict[str, Any] = {}
        ns: dict[str, Any] = {}
        for key, value in fields.items():
            walk("", key, value, ecs, ns)
        return ecs, ns


def namespace_error(name: str) -> str | None:
    """Why ``name`` cannot be a namespace (None: it can)."""
    if not _NAME.match(name):
        return f"{name!r} is not a field name (letters, digits, _ and -, starting with a letter or _)"
    if name in TOP_NAMES:
        return f"{name!r} is an ECS field set; its fields would collide with ECS"
    return None


def default_namespace(service: str) -> str:
    """The input's namespace when it names none: its service, as a field name."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", service) or "app"
    return name if name[0].isalpha() or name[0] == "_" else "_" + name
