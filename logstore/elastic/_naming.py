"""Daily index names from the configured pattern, and the document shape every backend stores.

``logs-{service.name}-%Y.%m.%d``: ``{field}`` takes the doc's value (missing -> ``default``),
lowercased and sanitized into a valid index name; ``%Y %m %d`` (any strftime code) take the doc's UTC
day. Searches go to the same pattern with every placeholder replaced by ``*``.

The write path calls ``IndexNamer.name`` once per doc, so names are cached per (day, values).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson

DEFAULT_VALUE = "default"
DAY_MS = 86_400_000
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
# Elasticsearch forbids these in index names (plus upper case, and a leading - _ +).
_INVALID = re.compile(r'[\\/*?"<>| ,#:%{}\s]+')


def sanitize(value: Any) -> str:
    text = _INVALID.sub("_", str(value).lower()).lstrip("-_+.")
    return text[:100] or DEFAULT_VALUE


def get_path(source: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of a nested doc (None when absent)."""
    node: Any = source
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
        if node is None:
            return None
    return node


class IndexNamer:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.fields: tuple[str, ...] = tuple(_PLACEHOLDER.findall(pattern))
        # Search target: every placeholder and strftime code becomes a wildcard.
        wild = _PLACEHOLDER.sub("*", pattern)
        wild = re.sub(r"%-?[A-Za-z]", "*", wild)
        self.search_pattern = re.sub(r"\*+", "*", wild)
        self._day_cache: dict[int, str] = {}
        self._name_cache: dict[tuple[Any, ...], str] = {}
        self._prefix_cache: dict[str, bytes] = {}
        self._prefix_fast: dict[tuple[int, Any], bytes] = {}
        # (outer, inner) of a lone one- or two-level placeholder field, for the fast path.
        self._single: tuple[str, str | None] | None = None
        if len(self.fields) == 1 and self.fields[0].count(".") <= 1:
            outer, _, inner = self.fields[0].partition(".")
            self._single = (outer, inner or None)

    def _day_template(self, day: int) -> str:
        got = self._day_cache.get(day)
        if got is None:
            dt = datetime.fromtimestamp(day * 86400, tz=UTC)
            # strftime first: placeholder braces survive it, and field values may contain '%'.
            got = dt.strftime(self.pattern)
            self._day_cache[day] = got
        return got

    def name(self, source: dict[str, Any], ts: int) -> str:
        day = ts // DAY_MS
        if not self.fields:
            return self._day_template(day)
        values = tuple(get_path(source, f) for f in self.fields)
        key = (day, *values)
        try:
            got = self._name_cache.get(key)
        except TypeError:  # an unhashable value (list, dict) under a placeholder field
            got, key = None, (day, *map(str, values))
        if got is None:
            text = self._day_template(day)
            for f, v in zip(self.fields, values, strict=True):
                text = text.replace("{" + f + "}", DEFAULT_VALUE if v is None or v == "" else sanitize(v))
            got = text.lower()
            if len(self._name_cache) > 10_000:
                self._name_cache.clear()
            self._name_cache[key] = got
        return got

    def action_prefix(self, source: dict[str, Any], ts: int) -> bytes:
        """``{"create":{"_index":"<name>","_id":`` for this doc: the bulk hot path, cached per name."""
        key: tuple[int, Any] | None = None
        single = self._single
        if single is not None:
            # One {a} or {a.b} placeholder (the default pattern): read it without the generic path.
            value = source.get(single[0])
            if single[1] is not None:
                value = value.get(single[1]) if isinstance(value, dict) else None
            key = (ts // DAY_MS, value)
            try:
                got = self._prefix_fast.get(key)
            except TypeError:  # an unhashable value: take the generic path
                key, got = None, None
            if got is not None:
                return got
        name = self.name(source, ts)
        prefix = self._prefix_cache.get(name)
        if prefix is None:
            prefix = b'{"create":{"_index":' + orjson.dumps(name) + b',"_id":'
            if len(self._prefix_cache) > 10_000:
                self._prefix_cache.clear()
                self._prefix_fast.clear()
            self._prefix_cache[name] = prefix
        if key is not None:
            self._prefix_fast[key] = prefix
        return prefix

    def day_of(self, index: str) -> datetime | None:
        """The UTC day an index of this pattern holds, or None if the name does not fit the pattern."""
        regex = self._day_regex()
        m = regex.fullmatch(index)
        if not m:
            return None
        parts = {k: int(v) for k, v in m.groupdict().items() if v is not None}
        try:
            return datetime(parts["Y"], parts.get("m", 1), parts.get("d", 1), tzinfo=UTC)
        except (KeyError, ValueError):
            return None

    def _day_regex(self) -> re.Pattern[str]:
        out = ""
        pos = 0
        seen: set[str] = set()
        tokens = re.compile(r"\{[^{}]+\}|%[Ymd]|%-?[A-Za-z]")
        for m in tokens.finditer(self.pattern):
            out += re.escape(self.pattern[pos : m.start()].lower())
            tok = m.group(0)
            if tok in ("%Y", "%m", "%d") and tok[1] not in seen:
                seen.add(tok[1])
                width = 4 if tok == "%Y" else 2
                out += f"(?P<{tok[1]}>\\d{{{width}}})"
            else:
                out += ".+?" if tok.startswith("{") else ".*?"
            pos = m.end()
        out += re.escape(self.pattern[pos:].lower())
        return re.compile(out)
