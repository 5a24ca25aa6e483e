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
``service.name``, ``event.id`` (= the doc id), ``tags`` (when the line was odd), plus the input's
``fields``. The line's own fields stay as the line has them. When a line's own field collides with one
of these and cannot be merged (``"host": "web1"`` against our ``host.name``), ours win and the line's
value is kept under ``original.<name>``.

Hot path: the raw JSON is built by splicing our few fields in front of the line's own JSON object
bytes instead of serializing the whole doc again (``DocBuilder._many``). How a JSON line's time, level
and message are read is defined once, in ``shipper.parsers.json.line_meta``: the per-line path
(the parser) and the batch paths (docs, ``_bulk`` body lines) share it, so they cannot disagree.
"""

from __future__ import annotations

import hashlib
from binascii import hexlify
from collections.abc import Sequence
from typing import Any, cast

import orjson

from logstore.elastic import IndexNamer, bulk_lines
from logstore.types import Doc
from shipper.parsers import DUPLICATE_KEYS, Parser
from shipper.parsers._time import format_ms, parse_any
from shipper.parsers.json import JsonParser, duplicate_keys, key_ends, line_meta

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


def _merge(theirs: dict[str, Any], ours: dict[str, Any], original: dict[str, Any]) -> None:
    """Ours into theirs, in place: dicts merge recursively, ours win on a clash."""
    for key, value in ours.items():
        have = theirs.get(key, _MISSING)
        if have is _MISSING:
            theirs[key] = value
        elif isinstance(have, dict) and isinstance(value, dict):
            _merge(have, value, original.setdefault(key, {}))
            if not original[key]:
                del original[key]
        elif key == "tags" and isinstance(have, list):
            theirs[key] = [*have, *value]
        else:
            original[key] = have
            theirs[key] = value


_MISSING: Any = object()


class _Refused(Exception):
    """bulk_many: a doc would be refused before sending; the caller takes the docs path."""


def _final(source: dict[str, Any], raw: bytes) -> bool:
    """Whether ``raw`` can go to a store as it is (``Doc.final``): one line, no dotted top-level key.

    (``@timestamp`` and ``event.id`` = the id are always set by the builder.)"""
    return 10 not in raw and "." not in "".join(source)


def _splice(path_raw: bytes, static_raw: bytes) -> bytes:
    """The ``%`` format of a doc's raw JSON for one file of an input: our fields, then the line's own
    object after its '{'. Arguments: @timestamp, log.offset, the ',"level":...' bytes, event.id, the
    ',"message":...' bytes, the line after its '{'. (The path and the input's static fields are in
    the format already: two fewer arguments a line.)"""
    path, static = path_raw.replace(b"%", b"%%"), static_raw.replace(b"%", b"%%")
    return (
        b'{"@timestamp":"%s","log":{"offset":%d,"file":{"path":'
        + path
        + b'}%s},"event":{"id":"%s"},'
        + static
        + b"%s,%s"
    )


_MSG_CACHE_MAX = 1024  # messages and levels repeat ("request completed"): their ',"message":...' bytes


def _fragment(cache: dict[str, bytes], head: bytes, value: str) -> bytes:
    """``head`` + ``value`` as JSON, kept in ``cache`` (bounded: values may vary without end)."""
    raw = head + orjson.dumps(value)
    if len(cache) < _MSG_CACHE_MAX:
        cache[value] = raw
    return raw


class DocBuilder:
    """Builds the docs of one input. ``static`` fields are the same for every doc of the input.

    A JSON line's docs (and ``_bulk`` body lines) are made in one place, ``_many``, with the line's
    time, level and message from ``shipper.parsers.json.line_meta``; every other line (another
    format, a tagged or odd line, a clash with our fields) takes ``_general``, the parser's path.
    """

    __slots__ = (
        "_clean",
        "_file",
        "_json",
        "_level_raw",
        "_msg_raw",
        "_ours",
        "_parse",
        "_static",
        "_static_raw",
    )

    def __init__(self, parser: Parser, host: str, service: str, fields: dict[str, Any]) -> None:
        self._parse = parser.parse
        self._json = isinstance(parser, JsonParser)
        self._static: dict[str, Any] = {"host": {"name": host}, "service": {"name": service}, **fields}
        self._static_raw = orjson.dumps(self._static)[1:-1]
        self._ours = frozenset({"@timestamp", "log", "event", "tags", "original", *self._static})
        self._file: tuple[str, dict[str, str], bytes] = ("", {}, b"")  # last path, its dict and JSON
        self._clean: set[str] = set()  # see _many
        self._msg_raw: dict[str, bytes] = {}  # message -> its ',"message":"..."' bytes (bounded)
        self._level_raw: dict[str, bytes] = {}  # log.level -> its ',"level":"..."' bytes (bounded)

    def _file_parts(self, path: str) -> tuple[str, dict[str, str], bytes]:
        parts = self._file
        if parts[0] != path:
            parts = self._file = (path, {"path": path}, orjson.dumps(path))
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

    def _general(
        self, ids: FileIds, path: str, offset: int, line: bytes, now_ms: int, extra_tags: tuple[str, ...]
    ) -> Doc:
        """One doc from the parser's fields, merged with ours (the line's own keep their values
        under ``original`` on a clash)."""
        fields, message, ts, level, tags, _ = self._parse(line)
        did = ids.id(offset)
        own_time = ts is not None
        if ts is None:
            ts = now_ms
        log: dict[str, Any] = {"offset": offset, "file": self._file_parts(path)[1]}
        if level is not None:
            log["level"] = level
        event: dict[str, Any] = {"id": did}
        if tags and DUPLICATE_KEYS in tags:
            # The doc is not the line (one value of a repeated key is gone): keep the line's text.
            event["original"] = line.decode("utf-8", "replace")
        ours: dict[str, Any] = {"@timestamp": format_ms(ts), "log": log, "event": event}
        ours.update(self._static)
        if message is not None:
            ours["message"] = message
        if extra_tags:
            tags = (*(tags or ()), *extra_tags)
        if tags:
            ours["tags"] = list(tags)
        if not fields:
            raw = orjson.dumps(ours)
            return Doc(did, ts, ours, raw, _final(ours, raw))
        original: dict[str, Any] = {}
        _merge(fields, ours, original)
        if own_time and "@timestamp" in original and parse_any(original["@timestamp"]) == ts:
            # It is our @timestamp, normalized. One that does not parse (another time field gave the
            # time) stays under original.@timestamp, as other values that could not be kept do.
            del original["@timestamp"]
        if original:
            if isinstance(fields.get("original"), dict):
                fields["original"].update(original)
            else:
                fields["original"] = original
        try:
            raw = orjson.dumps(fields)
        except (orjson.JSONEncodeError, TypeError):
            # Deeper than orjson serializes (254 levels): ship the text, flagged, rather than fail.
            ours["message"] = line.decode("utf-8", "replace")
            ours["tags"] = [*ours.get("tags", ()), "parse_error"]
            raw = orjson.dumps(ours)
            return Doc(did, ts, ours, raw, _final(ours, raw))
        return Doc(did, ts, fields, raw, _final(fields, raw))

    def build_many(self, ids: FileIds, path: str, events: Sequence[Event], now_ms: int) -> list[Doc]:
        """``build`` for every event, with the common JSON line inlined (no per-line calls)."""
        if not self._json:
            return [self._general(ids, path, off, line, now_ms, tags) for off, _, line, tags in events]
        return cast(list[Doc], self._many(ids, path, events, now_ms, None))

    def bulk_many(
        self, ids: FileIds, path: str, events: Sequence[Event], now_ms: int, namer: IndexNamer
    ) -> list[bytes] | None:
        """The ``_bulk`` body lines of these events' docs: exactly ``bulk_lines(namer,
        build_many(...))`` (a property test holds them equal), without making the docs (a build
        process sends them and nothing else reads them: ~25 % less CPU a line). None when that
        needs the docs: a doc refused before sending, an index name from the line's own fields."""
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

        A line takes the splice path (our fields as bytes in front of the line's own JSON object,
        no re-serialization) unless it is tagged, not a JSON object, or clashes with our fields;
        those take ``_general``."""
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
        loads, bad_json = orjson.loads, orjson.JSONDecodeError
        meta = line_meta
        msg_cache, level_cache = self._msg_raw, self._level_raw
        disjoint = self._ours.isdisjoint
        static, static_raw = self._static, self._static_raw
        static_final = "." not in "".join(static)
        # Keys seen before that are neither ours nor dotted (orjson hands back the same key objects
        # line after line): one subset test replaces the clash test and the dotted-key test.
        clean = self._clean
        issuperset = clean.issuperset
        _, file, path_raw = self._file_parts(path)
        splice = _splice(path_raw, static_raw)
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
            # The JSON object's bytes, spliced into the doc: '{' ... '}' (strip returns the line itself
            # when nothing is around it).
            body = line.strip()
            # A repeated key? duplicate_keys decides; key_ends(body) is its cheap exact test, inlined
            # for the usual line (no tab, CR or LF) and settling it alone when it equals len(obj).
            multiline = 10 in body
            if multiline or 9 in body or 13 in body:
                ends = key_ends(body)
            else:
                ends = body.replace(b" ", b"").count(b'":')
            if ends != len(obj) and duplicate_keys(obj, body, ends):
                # (A repeated key: the bytes hold both values, so they cannot be spliced.)
                emit(general(ids, path, off, line, now_ms, tags))
                continue
            if issuperset(obj):
                final = static_final
            elif not disjoint(obj):
                emit(general(ids, path, off, line, now_ms, tags))
                continue
            else:
                final = static_final and "." not in "".join(obj)
                if len(clean) > 10_000:  # bounded: keys vary without end in some logs
                    clean.clear()
                clean.update(k for k in obj if "." not in k)
            ts, stamp, level, message = meta(obj, line)
            if message is None:
                message_raw = b""
            elif "message" in obj:  # the line's own message is not a string: ours wins, in _general
                emit(general(ids, path, off, line, now_ms, tags))
                continue
            else:
                message_raw = msg_cache.get(message) or _fragment(msg_cache, b',"message":', message)
            if ts is None:
                ts = now_ms
            if stamp is None:
                stamp = format_ms(ts)
            if level is None:
                level_raw = b""
            else:
                level_raw = level_cache.get(level) or _fragment(level_cache, b',"level":', level)
            if not start <= off < end:
                start, base = ids.block(off)
                end = start + ID_BLOCK
            if multiline:  # a multiline event: NDJSON needs one line per doc
                final = False
            didb = hexlify((base + off).to_bytes(ID_BYTES, "big"))
            raw = splice % (stamp.encode(), off, level_raw, didb, message_raw, body[1:])
            if namer is not None and final:
                day = ts // 86_400_000
                if day != pday:  # the index name: day + static fields (checked in bulk_many)
                    pday, prefix = day, prefix_of(static, ts)
                extend((prefix + b'"' + didb + b'"}}', raw))
                continue
            did = didb.decode()
            obj["@timestamp"] = stamp
            obj["log"] = (
                {"offset": off, "file": file, "level": level}
                if level is not None
                else {
                    "offset": off,
                    "file": file,
                }
            )
            obj["event"] = {"id": did}
            obj |= static
            if message is not None:
                obj["message"] = message
            if namer is None:
                append(Doc(did, ts, obj, raw, final))
            else:
                emit(Doc(did, ts, obj, raw, final))
        return out
