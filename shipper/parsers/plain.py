"""plain: the whole line (or multiline event) is the ``message``; its own time and level when it starts
with them.

The time is the leading timestamp ``shipper.parsers._texttime`` recognizes (ISO 8601, Python
logging, syslog, nginx, Apache, Java/log4j, common log format), read in the input's ``timezone``
when it has no zone of its own; a multiline event takes its first line's. A line with no time
gets the read time and the tag ``time_from_read``, so a backfill's undated lines can be told
from dated ones. The level is a level word near the start (``ERROR``, ``[warn]``, ...).
The ``message`` is the text unchanged (the time and level stay in it, as the line had them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from shipper.parsers import INVALID_UTF8, TIME_FROM_READ, Parsed, decode
from shipper.parsers._texttime import TextTime, level_word, zone

if TYPE_CHECKING:
    from shipper.config import InputConfig

_READ = (TIME_FROM_READ,)
_READ_BAD = (INVALID_UTF8, TIME_FROM_READ)


class PlainParser:
    __slots__ = ("_find",)
    loggers: ClassVar[bool] = False

    def __init__(self, inp: InputConfig | None = None) -> None:
        self._find = TextTime(zone(inp.timezone) if inp is not None else zone("UTC")).find

    def parse(self, line: bytes) -> Parsed:
        text, bad = decode(line)
        ts, end = self._find(text)
        if ts is None:
            return None, text, None, level_word(text), _READ_BAD if bad else _READ, None
        return None, text, ts, level_word(text, end), (INVALID_UTF8,) if bad else None, None
