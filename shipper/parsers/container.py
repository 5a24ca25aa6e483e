"""docker and cri: container runtime log files, with partial lines joined.

- ``docker``: Docker's ``json-file`` driver, one ``{"log": "...\\n", "stream": "stdout", "time":
  "..."}`` object per line. A ``log`` without a trailing newline is a partial: Docker splits lines
  over 16 KiB so, and the next record continues it.
- ``cri``: the CRI format of containerd and CRI-O (Kubernetes' ``/var/log/pods``): ``<RFC 3339 nano
  time> <stream> <P|F> <text>``; ``P`` marks a partial, ``F`` the last part.

Joining happens before the parser (``shipper.reader.Partial``, with ``docker_partial`` /
``cri_partial``): a joined event reaches ``parse`` as its records separated by ``\\n`` (a record holds
no raw newline in either format) and takes the first record's offset as its doc id. Fields:

- ``@timestamp``: the runtime's time of the first record (ns precision cut to ms);
- ``message``: the text, parts concatenated, its final newline removed;
- ``stream``: ``stdout`` / ``stderr``, and ``attrs``: docker's ``attrs`` (``--log-opt labels=...``) when
  present. No ECS field holds either, so like every non-ECS field they sit in the input's namespace
  (``<namespace>.stream``, Filebeat's name for it).

With ``inner: json`` the text is parsed as a JSON line (``shipper.parsers.json`` rules: its fields
kept, its own time, level and message win over the runtime's); text that is not a JSON object
ships as text tagged ``parse_error``. With ``inner: plain`` (the default) the level is the
``plain`` level word and the time is the runtime's. A record that is not in the format ships as a
``plain`` line tagged ``parse_error``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from shipper.parsers import INVALID_UTF8, PARSE_ERROR, Parsed, decode
from shipper.parsers._texttime import level_word
from shipper.parsers._time import parse_iso
from shipper.parsers.json import line_meta
from shipper.parsers.plain import PlainParser

if TYPE_CHECKING:
    from shipper.config import InputConfig

_DOCKER_END = b'\\n","stream":"'


def docker_partial(line: bytes) -> bool:
    """Whether a json-file record's ``log`` lacks its newline (the next record continues it)."""
    i = line.find(_DOCKER_END)
    if i > 0:
        # The \n must be an escape of its own: an odd run of backslashes ends at the n.
        run = len(line[: i + 1]) - len(line[: i + 1].rstrip(b"\\"))
        if run % 2 == 1:
            return False
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    log = obj.get("log") if type(obj) is dict else None
    return isinstance(log, str) and not log.endswith("\n")


def cri_partial(line: bytes) -> bool:
    """Whether a CRI record is a partial (its tag field has ``P``)."""
    parts = line.split(b" ", 3)
    return len(parts) >= 3 and b"P" in parts[2].split(b":")


class _Container:
    loggers: ClassVar[bool] = False

    def __init__(self, inp: InputConfig | None = None) -> None:
        self._plain = PlainParser(inp)
        self._json = inp is not None and inp.inner == "json"

    def parse(self, line: bytes) -> Parsed:
        raise NotImplementedError

    def _fallback(self, line: bytes) -> Parsed:
        fields, message, ts, level, tags, _ = self._plain.parse(line)
        return fields, message, ts, level, (*(tags or ()), PARSE_ERROR), None

    def _done(
        self, text: str, stream: str | None, ts: int | None, extra: dict[str, Any], bad: bool
    ) -> Parsed:
        if text.endswith("\n"):
            text = text[:-1]
        tags: tuple[str, ...] = (INVALID_UTF8,) if bad else ()
        fields: dict[str, Any] = dict(extra)
        level = message = None
        obj = None
        if self._json:
            try:
                obj = orjson.loads(text)
            except orjson.JSONDecodeError:
                obj = None
            if type(obj) is not dict:
                tags = (*tags, PARSE_ERROR)
                obj = None
        if obj is not None:
            own, _, level, message, used = line_meta(obj, text)
            for key in used:
                obj.pop(key, None)  # the doc has them as @timestamp, log.level and message
            ts = own if own is not None else ts
            fields = {**obj, **fields}
        else:
            message, level = text, level_word(text)
        if stream:
            fields.setdefault("stream", stream)  # the line's own "stream" (inner json) wins
        return fields or None, message, ts, level, tags or None, None


class DockerParser(_Container):
    def parse(self, line: bytes) -> Parsed:
        parts: list[str] = []
        stream = time = None
        attrs = None
        for rec in line.split(b"\n") if 10 in line else (line,):
            try:
                obj = orjson.loads(rec)
            except orjson.JSONDecodeError:
                return self._fallback(line)
            if type(obj) is not dict or not isinstance(obj.get("log"), str):
                return self._fallback(line)
            parts.append(obj["log"])
            if time is None:
                stream, time, attrs = obj.get("stream"), obj.get("time"), obj.get("attrs")
        ts = parse_iso(time) if isinstance(time, str) else None
        extra = {"attrs": attrs} if isinstance(attrs, dict) and attrs else {}
        return self._done("".join(parts), stream if isinstance(stream, str) else None, ts, extra, False)


class CriParser(_Container):
    def parse(self, line: bytes) -> Parsed:
        text, bad = decode(line)
        parts: list[str] = []
        stream = None
        ts = None
        for rec in text.split("\n"):
            fields = rec.split(" ", 3)
            if len(fields) < 3 or fields[1] not in ("stdout", "stderr"):
                return self._fallback(line)
            if stream is None:
                ts = parse_iso(fields[0])
                if ts is None:
                    return self._fallback(line)
                stream = fields[1]
            parts.append(fields[3] if len(fields) == 4 else "")
        return self._done("".join(parts), stream, ts, {}, bad)


class DockerJsonParser(DockerParser):
    """``docker`` with ``inner: json``: the line's own fields follow logger conventions."""

    loggers: ClassVar[bool] = True


class CriJsonParser(CriParser):
    """``cri`` with ``inner: json``: the line's own fields follow logger conventions."""

    loggers: ClassVar[bool] = True


def inner_json(fmt: str, inp: InputConfig) -> _Container:
    """The docker / cri parser of an input with ``inner: json``."""
    return DockerJsonParser(inp) if fmt == "docker" else CriJsonParser(inp)
