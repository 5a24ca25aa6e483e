"""Doc building: one parsed line + where it came from -> ``logstore.types.Doc``.

The doc id is deterministic: blake2b(file id, byte offset of the line) -> 20 url-safe characters, so
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

import base64
import hashlib
from typing import Any

import orjson

from logstore.types import Doc
from shipper.parsers import Parser
from shipper.parsers._time import format_ms

_b64 = base64.urlsafe_b64encode


def doc_id(fid: str, offset: int) -> str:
    h = hashlib.blake2b(fid.encode(), digest_size=15)
    h.update(offset.to_bytes(8, "little"))
    return _b64(h.digest()).decode()


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


class DocBuilder:
    """Builds the docs of one input. ``static`` fields are the same for every doc of the input."""

    __slots__ = ("_ours", "_parse", "_static", "_static_keys")

    def __init__(self, parser: Parser, host: str, service: str, fields: dict[str, Any]) -> None:
        self._parse = parser.parse
        self._static: dict[str, Any] = {"host": {"name": host}, "service": {"name": service}, **fields}
        self._static_keys = frozenset(self._static)
        self._ours = frozenset({"@timestamp", "log", "event", "tags", *self._static_keys})

    def build(
        self,
        fid_hash: Any,
        path: str,
        offset: int,
        line: bytes,
        now_ms: int,
        extra_tags: tuple[str, ...] = (),
    ) -> Doc:
        """``fid_hash`` is ``hashlib.blake2b(fid.encode(), digest_size=15)``, copied per doc (cheap)."""
        fields, message, ts, level, tags, splice = self._parse(line)
        h = fid_hash.copy()
        h.update(offset.to_bytes(8, "little"))
        did = _b64(h.digest()).decode()
        own_time = ts is not None
        if ts is None:
            ts = now_ms
        log: dict[str, Any] = {"offset": offset, "file": {"path": path}}
        if level is not None:
            log["level"] = level
        ours: dict[str, Any] = {"@timestamp": format_ms(ts), "log": log, "event": {"id": did}}
        ours.update(self._static)
        if message is not None:
            ours["message"] = message
        if extra_tags:
            tags = (*(tags or ()), *extra_tags)
            splice = None
        if tags:
            ours["tags"] = list(tags)
        if not fields:
            return Doc(did, ts, ours, orjson.dumps(ours))
        if (
            splice is not None
            and not (fields.keys() & self._ours)
            and (message is None or "message" not in fields)
        ):
            raw = orjson.dumps(ours)[:-1] + b"," + splice[1:]
            fields.update(ours)
            return Doc(did, ts, fields, raw)
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
