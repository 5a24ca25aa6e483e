"""Doc building: one parsed line + where it came from -> ``logstore.types.Doc``.

The doc id is deterministic: blake2b(file id, byte offset of the line) -> 24 hex characters (96 bits), so
a line re-read after a crash or re-sent after a retry is the same doc, stored once (create-only).

Fields the shipper sets on every doc: ``@timestamp`` (the line's own time, else the read time; RFC 3339
UTC ms), ``message``, ``log.level`` (when known), ``log.file.path``, ``log.offset``, ``host.name``,
``service.name``, ``event.id`` (= the doc id), ``tags`` (when the line was odd), plus the input's
``fields``. The line's own fields stay as the line has them. When a line's own field collides with one
of these and cannot be merged (``"host": "web1"`` against our ``host.name``), ours win and the line's
value is kept under ``original.<name>``.

Hot path: the raw JSON is built by splicing our few fields in front of the line's own JSON object
bytes instead of serializing the whole doc again (see ``Parsed.splice``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson

from logstore.types import Doc
from shipper.parsers import Parser, _time
from shipper.parsers._time import format_ms
from shipper.parsers.json import _NUM_LEVELS, JsonParser

Event = tuple[int, int, bytes, tuple[str, ...]]

ID_BYTES = 12  # 96 bits: a collision (a doc taken for a duplicate) is out of reach at any log volume


def id_hasher(fid: str) -> Any:
    """The per-file hash state; each doc copies it and adds its offset."""
    return hashlib.blake2b(fid.encode(), digest_size=ID_BYTES)


def doc_id(fid: str, offset: int) -> str:
    h = id_hasher(fid)
    h.update(offset.to_bytes(8, "little"))
    return h.hexdigest()


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

# numeric level -> (log.level, its bytes in the raw doc): build_many splices these as they are.
_LEVEL_FRAGMENTS: dict[int, tuple[str, bytes]] = {
    n: (name, b',"level":"%s"' % name.encode()) for n, name in _NUM_LEVELS.items()
}
_NO_LEVEL: tuple[None, bytes] = (None, b"")


class DocBuilder:
    """Builds the docs of one input. ``static`` fields are the same for every doc of the input."""

    __slots__ = ("_file", "_json", "_ours", "_parse", "_static", "_static_raw")

    def __init__(self, parser: Parser, host: str, service: str, fields: dict[str, Any]) -> None:
        self._parse = parser.parse
        self._json = isinstance(parser, JsonParser)
        self._static: dict[str, Any] = {"host": {"name": host}, "service": {"name": service}, **fields}
        self._static_raw = orjson.dumps(self._static)[1:-1]
        self._ours = frozenset({"@timestamp", "log", "event", "tags", "original", *self._static})
        self._file: tuple[str, dict[str, str], bytes] = ("", {}, b"")  # last path, its dict and JSON

    def _file_parts(self, path: str) -> tuple[str, dict[str, str], bytes]:
        parts = self._file
        if parts[0] != path:
            parts = self._file = (path, {"path": path}, orjson.dumps(path))
        return parts

    def build(
        self,
        fid_hash: Any,
        path: str,
        offset: int,
        line: bytes,
        now_ms: int,
        extra_tags: tuple[str, ...] = (),
    ) -> Doc:
        """``fid_hash`` is ``id_hasher(fid)``, copied per doc (cheaper than hashing the fid again)."""
        fields, message, ts, level, tags, splice = self._parse(line)
        h = fid_hash.copy()
        h.update(offset.to_bytes(8, "little"))
        did = h.hexdigest()
        own_time = ts is not None
        if ts is None:
            ts = now_ms
        stamp = format_ms(ts)
        _, file, path_raw = self._file_parts(path)
        if (
            splice is not None
            and fields is not None
            and not extra_tags
            and not tags
            and self._ours.isdisjoint(fields)
            and (message is None or "message" not in fields)
        ):
            # The hot path: our fields as bytes in front of the line's own JSON object, no re-dump.
            raw = (
                b'{"@timestamp":"%s","log":{"offset":%d,"file":{"path":%s}%s},"event":{"id":"%s"},%s%s,%s'
                % (
                    stamp.encode(),
                    offset,
                    path_raw,
                    b',"level":' + orjson.dumps(level) if level is not None else b"",
                    did.encode(),
                    self._static_raw,
                    b',"message":' + orjson.dumps(message) if message is not None else b"",
                    splice[1:],
                )
            )
            log: dict[str, Any] = {"offset": offset, "file": file}
            if level is not None:
                log["level"] = level
            fields["@timestamp"] = stamp
            fields["log"] = log
            fields["event"] = {"id": did}
            fields.update(self._static)
            if message is not None:
                fields["message"] = message
            return Doc(did, ts, fields, raw)
        log = {"offset": offset, "file": file}
        if level is not None:
            log["level"] = level
        ours: dict[str, Any] = {"@timestamp": stamp, "log": log, "event": {"id": did}}
        ours.update(self._static)
        if message is not None:
            ours["message"] = message
        if extra_tags:
            tags = (*(tags or ()), *extra_tags)
        if tags:
            ours["tags"] = list(tags)
        if not fields:
            return Doc(did, ts, ours, orjson.dumps(ours))
        original: dict[str, Any] = {}
        _merge(fields, ours, original)
        if own_time:
            original.pop("@timestamp", None)  # it is our @timestamp, normalized
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
            return Doc(did, ts, ours, orjson.dumps(ours))
        return Doc(did, ts, fields, raw)

    def build_many(self, fid_hash: Any, path: str, events: Sequence[Event], now_ms: int) -> list[Doc]:
        """``build`` for every event, with the common JSON line inlined (no per-line calls).

        Exactly the docs ``build`` makes (a property test holds them equal); any line off the
        common shape (no canonical RFC 3339 time, an unusual level, a clash) takes ``build``.
        """
        build = self.build
        if not self._json:
            return [build(fid_hash, path, off, line, now_ms, tags) for off, _, line, tags in events]
        out: list[Doc] = []
        append = out.append
        loads, dumps, bad_json = orjson.loads, orjson.dumps, orjson.JSONDecodeError
        copy = fid_hash.copy
        sec_cache = _time._SEC_CACHE
        levels = _LEVEL_FRAGMENTS
        disjoint = self._ours.isdisjoint
        static, static_raw = self._static, self._static_raw
        _, file, path_raw = self._file_parts(path)
        for off, _, line, tags in events:
            if tags or not line or line[0] != 123 or line[-1] != 125:  # not '{' ... '}'
                append(build(fid_hash, path, off, line, now_ms, tags))
                continue
            try:
                obj = loads(line)
            except bad_json:
                append(build(fid_hash, path, off, line, now_ms, tags))
                continue
            if type(obj) is not dict or not obj or not disjoint(obj):
                append(build(fid_hash, path, off, line, now_ms, tags))
                continue
            tv = obj.get("time")
            if tv is None:
                tv = obj.get("timestamp")
                if tv is None:
                    tv = obj.get("ts")
            stamp: str = tv if type(tv) is str else ""
            sec = (
                sec_cache.get(stamp[:19])
                if len(stamp) == 24 and stamp[23] == "Z" and stamp[19] == "." and stamp[10] == "T"
                else None
            )
            frac = stamp[20:23]
            lv = obj.get("level")
            level, level_raw = levels.get(lv, _NO_LEVEL) if type(lv) is int else _NO_LEVEL
            m = obj.get("message")
            if (
                sec is None
                or not (frac.isdigit() and frac.isascii())
                or (level is None and (lv is not None or "severity" in obj or "lvl" in obj))
                or (m is not None and type(m) is not str)
            ):
                append(build(fid_hash, path, off, line, now_ms, tags))
                continue
            ts = sec * 1000 + int(frac)
            if m is None:
                msg = obj.get("msg")
                message = msg if type(msg) is str else line.decode()
            else:
                message = None
            h = copy()
            h.update(off.to_bytes(8, "little"))
            did = h.hexdigest()
            raw = (
                b'{"@timestamp":"%s","log":{"offset":%d,"file":{"path":%s}%s},"event":{"id":"%s"},%s%s,%s'
                % (
                    stamp.encode(),
                    off,
                    path_raw,
                    level_raw,
                    did.encode(),
                    static_raw,
                    b',"message":' + dumps(message) if message is not None else b"",
                    line[1:],
                )
            )
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
            obj.update(static)
            if message is not None:
                obj["message"] = message
            append(Doc(did, ts, obj, raw))
        return out
