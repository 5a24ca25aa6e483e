"""Doc building: one parsed line + where it came from -> ``logstore.types.Doc``.

The doc id is deterministic, a function of (file id, byte offset of the line) only, so a line re-read
after a crash or re-sent after a retry is the same doc, stored once (create-only). 24 hex characters:

    id(fid, off) = hex24( H(fid, off // 2**20) + off % 2**20 ),
    H(fid, block) = blake2b-96(fid + "/" + block as 8 bytes little-endian) >> 1

i.e. one hash per file and 1 MiB block (cached), plus offset arithmetic per line. Until 2026-11-22 it
was one blake2b per line (~0.5 us of a per-line budget of ~7 us). A doc in flight across that upgrade
(sent under the old id, not committed, re-sent under the new one) is stored twice, once per id. Two ids
of different (file, block) pairs collide only if their H values lie within 2**20 of each other:
~2**-75 per pair, as unlikely as the per-line 96-bit hash it replaces at any realistic volume. The top
bit of H is clear, so the sum never overflows 96 bits.

Fields the shipper sets on every doc: ``@timestamp`` (the line's own time, else the read time; RFC 3339
UTC ms), ``message``, ``log.level`` (when known), ``log.file.path``, ``log.offset``, ``host.name``,
``service.name``, ``event.id`` (= the doc id), ``event.dataset``, ``ecs.version``, ``tags`` (when the
line was odd), plus the input's ``fields``. The line's own fields are shaped by ``shipper.ecs``: ECS
fields (known logger keys mapped to theirs) merge with ours, everything else goes under the input's
namespace. On a clash ours win and the line's value is kept in the namespace at its path
(``"host": {"name": "web1"}`` -> ``<namespace>.host.name``), except the app's own ``service.name``
and ``event.dataset``, which win unless the input says ``override: true``.

Hot path: a JSON line is decoded once and, when its key tuple's plan fits (``DocBuilder._fast_plan``:
``meta_keys``' time, level and message, only moves for the rest), built from a per-plan doc template;
else read by ``line_meta``, shaped by ``Shaper.line`` (its per-key plan cached by the line's key
tuple); either way serialized once (``DocBuilder._many``). Until issue #18 the line's own JSON
bytes were spliced after ours without re-serializing; moving its fields into the namespace needs the
serialization (docs/benchmarks.md, session 8, has the cost, and why a splice of the namespace's bytes
was measured and dropped). How a JSON line's
time, level and message are read is defined once, in ``shipper.parsers.json.line_meta``: the
per-line path (the parser) and the batch paths (docs, ``_bulk`` body lines) share it, so they cannot
disagree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, cast

import orjson

from logstore.ecs import ECS_VERSION
from logstore.elastic import IndexNamer, bulk_lines
from logstore.types import Doc
from shipper.ecs import Shaper, default_namespace, put
from shipper.geoip import GeoIP
from shipper.parsers import DUPLICATE_KEYS, PARSERS, Parser
from shipper.parsers._time import format_ms
from shipper.parsers.json import COMMON_META, JsonParser, duplicate_keys, key_ends, line_meta, meta_keys

Event = tuple[int, int, bytes, tuple[str, ...]]

ID_BYTES = 12  # 96 bits: a collision (a doc taken for a duplicate) is out of reach at any log volume
ID_BLOCK = 1 << 20  # bytes of a file that share one hash; ids inside a block are base + offset


class FileIds:
    """The doc ids of one file identity: ``id(offset)``; the block hash is cached (reads go forward)."""

    __slots__ = ("_key", "base", "start")

    def __init__(self, fid: str) -> None:
        self._key = fid.encode()
        self.start = -ID_BLOCK  # first offset of the cached block; the initial value matches nothing
        self.base = 0  # H(fid, block) - start, so that id = base + offset inside the block

    def block(self, offset: int) -> tuple[int, int]:
        """(start, base) of the block holding ``offset``, cached for the next offsets."""
        start = offset - offset % ID_BLOCK
        if start != self.start:
            digest = hashlib.blake2b(
                self._key + b"/" + (start // ID_BLOCK).to_bytes(8, "little"), digest_size=ID_BYTES
            ).digest()
            self.base = (int.from_bytes(digest, "big") >> 1) - start
            self.start = start
        return self.start, self.base

    def id(self, offset: int) -> str:
        base = self.block(offset)[1]
        return (base + offset).to_bytes(ID_BYTES, "big").hex()


def id_hasher(fid: str) -> FileIds:
    """The per-file id state (named for the per-line hash it replaced)."""
    return FileIds(fid)


def doc_id(fid: str, offset: int) -> str:
    return FileIds(fid).id(offset)


_MISSING: Any = object()
_UNPLANNED: Any = object()  # a key tuple without a doc plan yet (None is a plan: the general way)


def _merged(
    ours: dict[str, Any],
    app: dict[str, Any],
    ns: dict[str, Any],
    path: tuple[str, ...],
    app_wins: frozenset[tuple[str, ...]],
) -> dict[str, Any]:
    """A copy of ``ours`` (it may be the input's shared static fields) with ``app`` merged in."""
    out = dict(ours)
    for key, value in app.items():
        have = out.get(key, _MISSING)
        if have is _MISSING:
            out[key] = value
        elif type(have) is dict and type(value) is dict:
            out[key] = _merged(have, value, ns, (*path, key), app_wins)
        elif (*path, key) in app_wins:
            out[key] = value
        else:
            put(ns, (*path, key), value)  # ours win; the line's value stays, in its namespace
    return out


def merge_app(
    doc: dict[str, Any], ecs: dict[str, Any], ns: dict[str, Any], app_wins: frozenset[tuple[str, ...]]
) -> None:
    """The line's ECS fields into ``doc`` (ours), in place: objects merge; on a clash ours win and the
    line's value goes to the namespace at its path (``host.name`` -> ``<namespace>.host.name``),
    except the paths in ``app_wins`` (the app's ``service.name``, ``event.dataset``); tags add up."""
    for key, value in ecs.items():
        have = doc.get(key, _MISSING)
        if have is _MISSING:
            doc[key] = value
        elif type(have) is dict and type(value) is dict:
            # Usually no key in common (our log.offset, the line's log.logger): one C-level merge.
            if have.keys().isdisjoint(value):
                doc[key] = {**have, **value}
            else:
                doc[key] = _merged(have, value, ns, (key,), app_wins)
        elif key == "tags" and type(have) is list:
            doc[key] = [*(value if type(value) is list else [value]), *have]
        else:
            put(ns, (key,), value)


# (the moves' (key, type) checks, then per object of the doc: its name, where it comes from, and
# its (key, field) moves); where: _OURS_LOG/_OURS_EVENT (the line's own dicts), _STATIC (a copy of
# the input's static object), _NEW (a new object).
_DocPlan = tuple[tuple[tuple[str, type], ...], tuple[tuple[str, int, tuple[tuple[str, str], ...]], ...]]
_OURS_LOG, _OURS_EVENT, _STATIC, _NEW = 0, 1, 2, 3
_OURS = {"log": ("offset", "file", "level"), "event": ("id", "dataset")}


def _doc_plan(
    moves: tuple[tuple[str, type, str, str], ...], static: dict[str, Any], namespace: str
) -> _DocPlan | None:
    """``DocBuilder._doc_plan`` for these moves; None when a moved field would meet one of ours
    (merge_app decides who wins) or the namespace."""
    groups: dict[str, list[tuple[str, str]]] = {}
    where: dict[str, int] = {}
    for key, _, top, leaf in moves:
        if top in _OURS:
            if leaf in _OURS[top] or top in static:  # static fields replace our object: merge_app's
                return None
            where[top] = _OURS_LOG if top == "log" else _OURS_EVENT
        elif top in static:
            have = static[top]
            if type(have) is not dict or leaf in have:
                return None
            where[top] = _STATIC
        elif top in ("@timestamp", "message", namespace):
            return None
        else:
            where[top] = _NEW
        groups.setdefault(top, []).append((key, leaf))
    checks = tuple((key, typ) for key, typ, _, _ in moves)
    return checks, tuple((top, where[top], tuple(leaves)) for top, leaves in groups.items())


# A line's whole doc planned by its key tuple (before line_meta): the getter of the values it reads
# (time, level, message, then the moved ones), the moved values' (index, type) checks, the doc's
# template (its top-level keys in the general way's order), the log's (index, field) moves, per new
# or static object of the doc its name, its base and its moves, and the keys that leave the line's
# dict (the rest is the namespace).
_FastPlan = tuple[
    Callable[[dict[str, Any]], tuple[Any, ...]],
    tuple[tuple[int, type], ...],
    dict[str, Any],
    tuple[tuple[int, str], ...],
    tuple[tuple[str, dict[str, Any], tuple[tuple[int, str], ...]], ...],
    tuple[str, ...],
]


def _fast_plan(
    keys: tuple[str, ...], shaper: Shaper, static: dict[str, Any], namespace: str
) -> _FastPlan | None:
    """``DocBuilder._fast_plan``: line_meta's common keys (``meta_keys``), then ``_doc_plan`` of
    the rest; None when either has none, or when static fields take one of our top-level names
    (the general way lets them replace ours)."""
    meta = meta_keys(keys)
    if meta is None or not static.keys().isdisjoint(("@timestamp", "log", "event", "message")):
        return None
    rest = tuple(k for k in keys if k not in meta)
    moves = shaper.moves(rest)
    plan = None if moves is None else _doc_plan(moves, static, namespace)
    if plan is None:
        return None
    checks, groups = plan
    read = (*meta, *(key for key, _ in checks))
    index = {key: i for i, key in enumerate(read)}
    tpl: dict[str, Any] = {"@timestamp": None, "log": None, "event": None, **static}
    tpl["message"] = None
    log_moves: tuple[tuple[int, str], ...] = ()
    tops = []
    for top, where, leaves in groups:
        moved = tuple((index[key], leaf) for key, leaf in leaves)
        if where == _OURS_LOG:
            log_moves = moved
        elif where == _OURS_EVENT:
            return None  # no logger key moves to event.*: not worth a case
        else:
            tops.append((top, dict(static[top]) if where == _STATIC else {}, moved))
            tpl[top] = tpl.get(top)
    if len(read) < len(keys):  # keys are left for the namespace
        tpl[namespace] = None
    checks_at = tuple((index[key], typ) for key, typ in checks)
    return itemgetter(*read), checks_at, tpl, log_moves, tuple(tops), read


class _Refused(Exception):
    """bulk_many: a doc would be refused before sending; the caller takes the docs path."""


_APP_WINS = frozenset({("service", "name"), ("event", "dataset")})
# event.dataset's default second part: the input's format, by parser class.
_FORMATS: dict[type, str] = {cls: name for name, cls in PARSERS.items()}


class DocBuilder:
    """Builds the docs of one input. ``static`` fields are the same for every doc of the input.

    A JSON line's docs (and ``_bulk`` body lines) are made in one place, ``_many``, with the line's
    time, level and message from ``shipper.parsers.json.line_meta`` and its fields shaped by
    ``shipper.ecs.Shaper``; every other line (another format, a tagged or odd line) takes
    ``_general``, the parser's path, which shapes with the same ``Shaper``.
    """

    __slots__ = (
        "_app_wins",
        "_dataset",
        "_fast",
        "_file",
        "_geo",
        "_json",
        "_loggers",
        "_namespace",
        "_parse",
        "_plans",
        "_shaper",
        "_static",
        "_static_final",
    )

    def __init__(
        self,
        parser: Parser,
        host: str,
        service: str,
        fields: dict[str, Any],
        *,
        namespace: str | None = None,
        dataset: str | None = None,
        override: bool = False,
        geoip: GeoIP | None = None,
    ) -> None:
        self._parse = parser.parse
        self._json = isinstance(parser, JsonParser)
        self._loggers = parser.loggers
        self._namespace = namespace or default_namespace(service)
        self._shaper = Shaper(self._namespace)
        self._dataset = dataset or f"{service}.{_FORMATS.get(type(parser), 'log')}"
        self._app_wins = frozenset() if override else _APP_WINS
        self._geo = geoip
        self._static: dict[str, Any] = {
            "host": {"name": host},
            "service": {"name": service},
            "ecs": {"version": ECS_VERSION},
            **fields,
        }
        self._static_final = "." not in "".join(self._static)
        self._file: tuple[str, dict[str, str]] = ("", {})  # last path and its dict
        # A line's key tuple (after line_meta's keys) -> its doc plan (None: shape and merge);
        # bounded like the shaper's plans.
        self._plans: dict[tuple[str, ...], _DocPlan | None] = {}
        # The same for a line's whole key tuple (before line_meta), for the common line (_fast_plan).
        self._fast: dict[tuple[str, ...], _FastPlan | None] = {}

    def _doc_plan(self, keys: tuple[str, ...]) -> _DocPlan | None:
        """How ``_many`` builds the doc of a line with these keys straight into our dicts: when the
        shaper only moves values (``Shaper.moves``) and no moved field meets one of ours, the doc is
        exactly what ``Shaper.line`` + ``merge_app`` make of it (same fields, same order), without
        the separate ECS dict, the merge and the copies. None: the line takes that general way."""
        plan: _DocPlan | None = None
        moves = self._shaper.moves(keys)
        if moves is not None and self._geo is None:
            plan = _doc_plan(moves, self._static, self._namespace)
        if len(self._plans) > 4096:
            self._plans.clear()
        self._plans[keys] = plan
        return plan

    def _fast_plan(self, keys: tuple[str, ...]) -> _FastPlan | None:
        """How ``_many`` builds the doc of a line with these keys (before ``line_meta``) in one go,
        when its time, level and message have the common shapes and the rest is only moved: the
        doc ``line_meta`` + ``_doc_plan``'s way makes, planned once per key tuple. None: that way."""
        plan = None
        if self._geo is None:
            plan = _fast_plan(keys, self._shaper, self._static, self._namespace)
        if len(self._fast) > 4096:
            self._fast.clear()
        self._fast[keys] = plan
        return plan

    def _file_parts(self, path: str) -> tuple[str, dict[str, str]]:
        parts = self._file
        if parts[0] != path:
            parts = self._file = (path, {"path": path})
        return parts

    def build(
        self,
        ids: FileIds,
        path: str,
        offset: int,
        line: bytes,
        now_ms: int,
        extra_tags: tuple[str, ...] = (),
    ) -> Doc:
        """One doc; ``ids`` is the file's ``id_hasher(fid)``."""
        if self._json:
            return cast(Doc, self._many(ids, path, ((offset, offset, line, extra_tags),), now_ms, None)[0])
        return self._general(ids, path, offset, line, now_ms, extra_tags)

    def _finish(self, doc: dict[str, Any], ecs: dict[str, Any], ns: dict[str, Any]) -> None:
        """The line's shaped fields into ``doc`` (ours), GeoIP, and the namespace."""
        if ecs:
            merge_app(doc, ecs, ns, self._app_wins)
        if self._geo is not None:
            source = doc.get("source")
            if type(source) is dict and "geo" not in source and type(source.get("ip")) is str:
                geo = self._geo.lookup(source["ip"])
                if geo is not None:
                    doc["source"] = {**source, "geo": geo}
        if ns:
            doc[self._namespace] = ns

    def _general(
        self, ids: FileIds, path: str, offset: int, line: bytes, now_ms: int, extra_tags: tuple[str, ...]
    ) -> Doc:
        """One doc from the parser's fields, shaped (ECS or the namespace) and merged with ours."""
        fields, message, ts, level, tags, _ = self._parse(line)
        did = ids.id(offset)
        if ts is None:
            ts = now_ms
        log: dict[str, Any] = {"offset": offset, "file": self._file_parts(path)[1]}
        if level is not None:
            log["level"] = level
        event: dict[str, Any] = {"id": did, "dataset": self._dataset}
        if tags and DUPLICATE_KEYS in tags:
            # The doc is not the line (one value of a repeated key is gone): keep the line's text.
            event["original"] = line.decode("utf-8", "replace")
        doc: dict[str, Any] = {"@timestamp": format_ms(ts), "log": log, "event": event, **self._static}
        if message is not None:
            doc["message"] = message
        if extra_tags:
            tags = (*(tags or ()), *extra_tags)
        if tags:
            doc["tags"] = list(tags)
        ours = dict(doc)
        if fields:
            shaped = self._shaper.line(fields) if self._loggers else self._shaper.split(fields)
            self._finish(doc, *shaped)
        try:
            raw = orjson.dumps(doc)
        except (orjson.JSONEncodeError, TypeError):
            # Deeper than orjson serializes (254 levels): ship the text, flagged, rather than fail.
            ours["message"] = line.decode("utf-8", "replace")
            ours["tags"] = [*ours.get("tags", ()), "parse_error"]
            raw = orjson.dumps(ours)
            return Doc(did, ts, ours, raw, self._static_final)
        return Doc(did, ts, doc, raw, self._static_final)

    def build_many(self, ids: FileIds, path: str, events: Sequence[Event], now_ms: int) -> list[Doc]:
        """``build`` for every event, with the common JSON line inlined (no per-line calls)."""
        if not self._json:
            return [self._general(ids, path, off, line, now_ms, tags) for off, _, line, tags in events]
        return cast(list[Doc], self._many(ids, path, events, now_ms, None))

    def bulk_many(
        self, ids: FileIds, path: str, events: Sequence[Event], now_ms: int, namer: IndexNamer
    ) -> list[bytes] | None:
        """The ``_bulk`` body lines of these events' docs: exactly ``bulk_lines(namer,
        build_many(...))`` (a property test holds them equal), without keeping the docs (a build
        process sends them and nothing else reads them). None when that needs the docs: a doc
        refused before sending, an index name from the line's own fields."""
        if not self._json or not all(f.partition(".")[0] in self._static for f in namer.fields):
            return None
        try:
            return cast(list[bytes], self._many(ids, path, events, now_ms, namer))
        except _Refused:
            return None

    # One loop over a JSON batch, its per-line work inlined: the hot path of the shipper (a reason
    # to be over 60 lines: a call per step costs ~10 % of a line's CPU here).
    def _many(
        self, ids: FileIds, path: str, events: Sequence[Event], now_ms: int, namer: IndexNamer | None
    ) -> list[Any]:
        """build_many's docs (``namer`` None), or bulk_many's body lines (action, source, ...).

        A JSON object line is built here: ``line_meta``, ``Shaper.line``, our fields, one
        ``orjson.dumps``. A tagged line, one that is not a JSON object, one with a repeated key or
        one orjson cannot serialize takes ``_general``."""
        general = self._general
        out: list[Any] = []
        append = out.append
        extend = out.extend
        if namer is None:

            def emit(doc: Doc) -> None:
                append(doc)

        else:
            prefix_of = namer.action_prefix

            def emit(doc: Doc) -> None:
                parts, local = bulk_lines(namer, [doc])
                if local:
                    raise _Refused
                extend(parts)

        pday = -1
        prefix = b""
        loads, bad_json, dumps, bad_doc = (
            orjson.loads,
            orjson.JSONDecodeError,
            orjson.dumps,
            orjson.JSONEncodeError,
        )
        shaped, namespace = self._shaped, self._namespace
        fasts, fast_plan = self._fast, self._fast_plan
        secs, millis, levels = COMMON_META
        static, dataset = self._static, self._dataset
        final = self._static_final
        service = static["service"]
        file = self._file_parts(path)[1]
        # The id block in use: id = base + offset while start <= offset < start + ID_BLOCK.
        start = end = base = 0
        for off, _, line, tags in events:
            if tags:
                emit(general(ids, path, off, line, now_ms, tags))
                continue
            try:
                obj = loads(line)
            except bad_json:
                emit(general(ids, path, off, line, now_ms, tags))
                continue
            if type(obj) is not dict or not obj:
                emit(general(ids, path, off, line, now_ms, tags))
                continue
            # A repeated key? duplicate_keys decides; key_ends(line) is its cheap exact test, inlined
            # for the usual line (no tab, CR or LF) and settling it alone when it equals len(obj).
            # (White space around the object changes no count: no strip.)
            if 10 in line or 9 in line or 13 in line:
                ends = key_ends(line)
            else:
                ends = line.replace(b" ", b"").count(b'":')
            if ends != len(obj) and duplicate_keys(obj, line.strip(), ends):
                emit(general(ids, path, off, line, now_ms, tags))
                continue
            if not start <= off < end:
                start, base = ids.block(off)
                end = start + ID_BLOCK
            did = (base + off).to_bytes(ID_BYTES, "big").hex()
            keys = tuple(obj)
            fast = fasts.get(keys, _UNPLANNED)
            if fast is _UNPLANNED:
                fast = fast_plan(keys)
            doc = None
            if fast is not None:
                get, checks, tpl, log_moves, tops, drop = fast
                vals = get(obj)
                stamp, lv, message = vals[0], vals[1], vals[2]
                level = None
                if type(stamp) is str and type(lv) is int and type(message) is str:
                    # line_meta's common path (meta_keys has its rules): a canonical stamp, a
                    # bunyan/pino level number, a string message; then the moves' type checks.
                    sec, ms, level = secs.get(stamp[:19]), millis.get(stamp[19:]), levels.get(lv)
                    if sec is not None and ms is not None:
                        ts = sec * 1000 + ms
                    else:
                        level = None
                    for i, typ in checks:
                        if type(vals[i]) is not typ:
                            level = None
                            break
                if level is not None:
                    log = {"offset": off, "file": file, "level": level}
                    for i, leaf in log_moves:
                        log[leaf] = vals[i]
                    doc = tpl.copy()  # every top-level key in the general way's order, presized
                    doc["@timestamp"] = stamp
                    doc["log"] = log
                    doc["event"] = {"id": did, "dataset": dataset}
                    doc["message"] = message
                    for top, fresh, leaves in tops:
                        node = doc[top] = fresh.copy()
                        for i, leaf in leaves:
                            node[leaf] = vals[i]
                    for key in drop:
                        del obj[key]
                    if obj:  # the rest, in the line's order: the namespace (the line's dict is ours)
                        doc[namespace] = obj
            if doc is None:
                doc, ts = shaped(obj, line, off, did, now_ms, file)
            try:
                raw = dumps(doc)
            except bad_doc:  # deeper than orjson goes: _general ships the text, tagged
                emit(general(ids, path, off, line, now_ms, tags))
                continue
            if namer is None:
                append(Doc(did, ts, doc, raw, final))
            elif final and doc["service"] is service:
                day = ts // 86_400_000
                if day != pday:  # the index name: day + static fields (checked in bulk_many)
                    pday, prefix = day, prefix_of(static, ts)
                extend((b'%s"%s"}}' % (prefix, did.encode()), raw))
            else:  # the app's own service.name names the index: bulk_lines decides it
                emit(Doc(did, ts, doc, raw, final))
        return out

    def _shaped(
        self, obj: dict[str, Any], line: bytes, off: int, did: str, now_ms: int, file: dict[str, str]
    ) -> tuple[dict[str, Any], int]:
        """``_many``'s doc (and its time) for a line its per-key-tuple plan does not build:
        ``line_meta``, then the moves of ``_doc_plan`` straight into our dicts, or ``Shaper.line``
        and ``merge_app``."""
        ts, stamp, level, message, used = line_meta(obj, line)
        for key in used:  # they are @timestamp, log.level and message now: not kept twice
            del obj[key]
        keys = tuple(obj)
        plan = self._plans.get(keys, _UNPLANNED)
        if plan is _UNPLANNED:
            plan = self._doc_plan(keys)
        if ts is None:
            ts = now_ms
        if stamp is None:
            stamp = format_ms(ts)
        log: dict[str, Any] = (
            {"offset": off, "file": file, "level": level}
            if level is not None
            else {"offset": off, "file": file}
        )
        event: dict[str, Any] = {"id": did, "dataset": self._dataset}
        static = self._static
        doc = {"@timestamp": stamp, "log": log, "event": event, **static}
        if message is not None:
            doc["message"] = message
        if plan is not None:
            checks, groups = plan
            if all(type(obj[key]) is typ for key, typ in checks):
                # every moved value has its type: the moves, straight into the doc
                for top, where, leaves in groups:
                    if where == _OURS_LOG:
                        node = log
                    elif where == _STATIC:
                        node = doc[top] = dict(static[top])
                    elif where == _NEW:
                        node = doc[top] = {}
                    else:
                        node = event
                    for key, leaf in leaves:
                        node[leaf] = obj.pop(key)
                if obj:  # the rest, in the line's order: the namespace (the line's dict is ours)
                    doc[self._namespace] = obj
                return doc, ts
        ecs, ns = self._shaper.line(obj)
        if ecs or ns:
            self._finish(doc, ecs, ns)
        return doc, ts
