"""plain: the whole line is the ``message``; the time is the read time."""

from __future__ import annotations

from typing import ClassVar

from shipper.parsers import INVALID_UTF8, Parsed, decode


class PlainParser:
    loggers: ClassVar[bool] = False

    def parse(self, line: bytes) -> Parsed:
        text, bad = decode(line)
        return None, text, None, None, (INVALID_UTF8,) if bad else None, None
