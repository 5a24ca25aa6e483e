"""Field types shared by every config section and by alert rules."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")


def parse_duration(value: Any) -> timedelta:
    """'30s', '5m', '1h', '14d', '500ms', '1h30m' -> timedelta. Bare numbers are refused: units matter."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        text = value.strip()
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", text)
        if parts and re.fullmatch(r"(?:\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+", text):
            return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    raise ValueError("expected a duration like 14d, 30s, 5m or 1h")


def format_duration(td: timedelta) -> str:
    secs = td.total_seconds()
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if secs >= size and secs % size == 0:
            return f"{int(secs // size)}{unit}"
    return f"{int(secs * 1000)}ms"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


StrList = Annotated[list[str], BeforeValidator(_as_list)]


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, values are not coerced loosely."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
