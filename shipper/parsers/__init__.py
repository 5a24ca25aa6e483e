"""Line parsers, one module per format, registered by hand in ``PARSERS``.

A parser turns one line (bytes, without its newline) into a ``Parsed`` tuple and never raises:
whatever the bytes, the line becomes a doc. Odd lines are tagged, not dropped:

- ``parse_error``: the line is not in the input's format; the raw text is the ``message``.
- ``invalid_utf8``: bytes that are not UTF-8 were replaced with U+FFFD.
- ``truncated``: the line was longer than ``max_line_bytes`` (tagged by the reader, not here).
- ``time_from_read``: a text line with no time of its own recognized: ``@timestamp`` is the read time.
- ``regex_no_match`` / ``grok_no_match``: the line did not match the input's ``pattern``; it is shipped
  as a ``plain`` line (time and level detected) with this tag.
- ``duplicate_keys``: a JSON object of the line repeats a key; the last value wins (as in JavaScript
  and Python) and the doc keeps the line's text in ``event.original``.

``Parsed`` is a plain tuple because it is built once per line on the hot path:
``(fields, message, ts_ms, level, tags, splice)``

- ``fields``: the line's own fields, nested as the line has them, without those that gave the time,
  level and message; the builder keeps them as ECS or moves them to the input's namespace (``shipper.ecs``),
- ``message``: the doc's ``message``, or None when ``fields`` already holds a string ``message``,
- ``ts_ms``: the line's own time in epoch ms, or None (the shipper then uses the read time),
- ``level``: ``log.level``, or None,
- ``tags``: tuple of tags, or None,
- ``splice``: the line's JSON object bytes when they equal ``fields`` serialized, so the doc's raw JSON
  can be built by appending them instead of re-serializing (the JSON fast path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from shipper.config import InputConfig

Parsed = tuple[
    dict[str, Any] | None, str | None, int | None, str | None, tuple[str, ...] | None, bytes | None
]

PARSE_ERROR = "parse_error"
INVALID_UTF8 = "invalid_utf8"
TRUNCATED = "truncated"
DUPLICATE_KEYS = "duplicate_keys"
TIME_FROM_READ = "time_from_read"
REGEX_NO_MATCH = "regex_no_match"
GROK_NO_MATCH = "grok_no_match"


class Parser(Protocol):
    """A parser is made per input (``make_parser``) and may keep state across its lines (the text
    time pattern that matched last)."""

    # Whether the line's fields follow logger conventions (bunyan, structlog...: ``shipper.ecs``'s
    # LOGGER_KEYS apply) or are already named as ECS (nginx: its other fields go to the namespace).
    loggers: ClassVar[bool]

    def __init__(self, inp: InputConfig | None = None) -> None: ...

    def parse(self, line: bytes) -> Parsed: ...


def decode(line: bytes) -> tuple[str, bool]:
    """UTF-8 text of a line and whether bytes had to be replaced."""
    try:
        return line.decode("utf-8"), False
    except UnicodeDecodeError:
        return line.decode("utf-8", "replace"), True


def _registry() -> dict[str, type[Parser]]:
    from shipper.parsers.container import CriParser, DockerParser
    from shipper.parsers.json import JsonParser
    from shipper.parsers.logfmt import LogfmtParser
    from shipper.parsers.nginx import NginxErrorParser, NginxParser
    from shipper.parsers.plain import PlainParser
    from shipper.parsers.regex import GrokParser, RegexParser

    return {
        "json": JsonParser,
        "logfmt": LogfmtParser,
        "nginx": NginxParser,
        "nginx_error": NginxErrorParser,
        "plain": PlainParser,
        "regex": RegexParser,
        "grok": GrokParser,
        "docker": DockerParser,
        "cri": CriParser,
    }


PARSERS: dict[str, type[Parser]] = _registry()


def make_parser(fmt: str, inp: InputConfig | None = None) -> Parser:
    """The parser of one input (``inp`` gives its options: timezone, pattern, ...; None: defaults)."""
    if inp is not None and inp.inner == "json" and fmt in ("docker", "cri"):
        from shipper.parsers.container import inner_json

        return inner_json(fmt, inp)
    return PARSERS[fmt](inp)
