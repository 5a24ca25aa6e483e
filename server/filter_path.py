"""Elasticsearch's ``filter_path`` response filtering, for the include patterns clients send.

``filter_path=errors,items.*.error`` keeps ``errors`` and the ``error`` of each item. Patterns are
comma-separated, dot-separated paths; a segment may hold ``*`` wildcards (``items.*.err*``), and
``**`` matches any number of levels. Arrays are looked through (a pattern applies to each
element). As in Elasticsearch, objects and arrays left empty are dropped, so
``filter_path=errors,items.*.error`` on a request without errors is ``{"errors": false}``.
Exclusion patterns (``-path``) are ignored: a filter of exclusions only returns everything.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

_DROP = object()


def filter_response(body: dict[str, Any], filter_path: str) -> dict[str, Any]:
    patterns = [tuple(p.split(".")) for p in (x.strip() for x in filter_path.split(",")) if p and p[0] != "-"]
    if not patterns:
        return body
    out = _filter(body, patterns)
    return out if isinstance(out, dict) else {}


def _matches(segment: str, key: str) -> bool:
    return segment == key or ("*" in segment and fnmatchcase(key, segment))


def _advance(patterns: list[tuple[str, ...]], key: str) -> list[tuple[str, ...]]:
    """The patterns left for the value under ``key``."""
    out = []
    for p in patterns:
        if p[0] == "**":
            out.append(p)  # ** may match more levels below
            if len(p) > 1 and _matches(p[1], key):
                out.append(p[2:])
        elif _matches(p[0], key):
            out.append(p[1:])
    return out


def _filter(value: Any, patterns: list[tuple[str, ...]]) -> Any:
    if any(not p or p == ("**",) for p in patterns):
        return value  # a whole pattern matched: the value is kept as it is
    if isinstance(value, list):
        kept = [f for f in (_filter(v, patterns) for v in value) if f is not _DROP]
        return kept or _DROP
    if isinstance(value, dict):
        out = {}
        for key, child in value.items():
            below = _advance(patterns, key)
            if below:
                f = _filter(child, below)
                if f is not _DROP:
                    out[key] = f
        return out or _DROP
    return _DROP
