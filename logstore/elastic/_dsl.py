"""The query AST (logstore.query) -> Elasticsearch query DSL, with the semantics SQLite has.

No ``query_string``: we translate our own AST so both backends agree (implicit AND, free text on
``message``, whole-value wildcards and regexes on keyword fields). The rules:

- ``message`` is ``text`` (standard analyzer): Term and Phrase are ``match_phrase`` (a term that
  analyzes to several words must find them side by side, as FTS5 does with a quoted string);
  Wildcard/Regex match one word, case-insensitively (the pattern is lowercased, as the words are).
- Any other field is exact. Term/Phrase use ``match`` with ``lenient``: on a keyword field that is
  an exact comparison; on a numeric field it is numeric equality, and a value that is not a number
  matches nothing instead of failing the whole search.
- Wildcard, Regex and a Range with non-numeric bounds cannot run on a numeric field at all (the
  server fails the request), so for those the caller looks the field types up (``_field_caps``)
  and we answer ``match_none`` where the field is numeric. Deliberate difference from SQLite,
  which compares the number's text: ``status:5*`` matches nothing on a numeric ``status`` here.
- Range on ``@timestamp`` takes RFC 3339 bounds, converted here to epoch milliseconds so both
  backends parse times the same way.
- ``Not`` is ``must_not``: docs missing the field match the negation, like SQLite.
- An ``ip`` field (``source.ip``) matches an address or a CIDR block (``match`` on an ip field is
  Elasticsearch's own CIDR term query); a wildcard or regex on it is a QueryError, as on SQLite.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from logstore.query import (
    MESSAGE,
    And,
    Exists,
    MatchAll,
    Node,
    Not,
    Or,
    Phrase,
    QueryError,
    Range,
    Regex,
    Term,
    Wildcard,
)
from logstore.types import TIMESTAMP_FIELD

MATCH_ALL: dict[str, Any] = {"match_all": {}}
MATCH_NONE: dict[str, Any] = {"match_none": {}}

NUMERIC_TYPES = frozenset(
    {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long"}
)
# Field types the caller found for a field across the searched indices (empty: unmapped).
TypeLookup = Callable[[str], frozenset[str]]


def _no_types(field: str) -> frozenset[str]:
    return frozenset()


def parse_number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_time_ms(text: str) -> int | None:
    """RFC 3339 (or a bare date) -> epoch ms; a naive time is UTC. None when it is not a time."""
    raw = text.strip()
    if raw.isdigit() and len(raw) >= 10:
        return int(raw)  # epoch milliseconds, as Elasticsearch accepts
    try:
        dt = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def fields_needing_types(node: Node) -> set[str]:
    """Fields whose query clause depends on the mapped type (see the module docstring)."""
    if isinstance(node, (And, Or)):
        out: set[str] = set()
        for item in node.items:
            out |= fields_needing_types(item)
        return out
    if isinstance(node, Not):
        return fields_needing_types(node.item)
    if isinstance(node, (Wildcard, Regex)) and node.field != MESSAGE:
        return {node.field}
    if isinstance(node, Range) and node.field not in (MESSAGE, TIMESTAMP_FIELD):
        return {node.field}
    return set()


def translate(node: Node, types: TypeLookup = _no_types, query: str = "") -> dict[str, Any]:
    """One DSL query for the AST. ``types`` answers for the fields ``fields_needing_types`` named.

    Raises QueryError (naming ``query``) for what no backend can run: a bad time on @timestamp.
    """
    return _Translator(types, query).node(node)


def _time(value: str, query: str) -> int:
    ms = parse_time_ms(value)
    if ms is None:
        raise QueryError(f"{value!r} is not an RFC 3339 time", query, 0)
    return ms


class _Translator:
    def __init__(self, types: TypeLookup, query: str) -> None:
        self.types = types
        self.query = query

    def node(self, node: Node) -> dict[str, Any]:
        if isinstance(node, MatchAll):
            return MATCH_ALL
        if isinstance(node, And):
            return {"bool": {"filter": [self.node(i) for i in node.items]}}
        if isinstance(node, Or):
            return {"bool": {"should": [self.node(i) for i in node.items], "minimum_should_match": 1}}
        if isinstance(node, Not):
            return {"bool": {"must_not": [self.node(node.item)]}}
        if node.field == TIMESTAMP_FIELD:
            return self.timestamp(node)
        if isinstance(node, (Wildcard, Regex)) and node.field != MESSAGE and "ip" in self.types(node.field):
            # The server would fail the whole search; SQLite refuses it the same way (ip fields).
            raise QueryError(
                f"{node.field} is an ip field: wildcards and regexes do not apply; use an address or "
                f'a CIDR block such as {node.field}:"10.0.0.0/8"',
                self.query,
                0,
            )
        return _leaf(node, self.types)

    def timestamp(self, node: Node) -> dict[str, Any]:
        if isinstance(node, Exists):
            return MATCH_ALL  # every stored doc has one
        if isinstance(node, (Term, Phrase)):
            ms = _time(node.value if isinstance(node, Term) else node.text, self.query)
            return {"range": {TIMESTAMP_FIELD: {"gte": ms, "lte": ms, "format": "epoch_millis"}}}
        if isinstance(node, Range):
            body: dict[str, Any] = {"format": "epoch_millis"}
            if node.low is not None:
                body["gte" if node.include_low else "gt"] = _time(node.low, self.query)
            if node.high is not None:
                body["lte" if node.include_high else "lt"] = _time(node.high, self.query)
            return {"range": {TIMESTAMP_FIELD: body}}
        kind = type(node).__name__.lower()
        raise QueryError(f"{kind} queries are not supported on @timestamp", self.query, 0)


def _leaf(node: Node, types: TypeLookup) -> dict[str, Any]:
    if isinstance(node, Exists):
        return {"exists": {"field": node.field}}
    if isinstance(node, (Term, Phrase)):
        value = node.value if isinstance(node, Term) else node.text
        if node.field == MESSAGE:
            return {"match_phrase": {MESSAGE: {"query": value}}}
        return {"match": {node.field: {"query": value, "lenient": True}}}
    if isinstance(node, Wildcard):
        if node.field == MESSAGE:
            return {"wildcard": {MESSAGE: {"value": node.pattern.lower()}}}
        if _numeric(types(node.field)):
            return MATCH_NONE
        return {"wildcard": {node.field: {"value": node.pattern}}}
    if isinstance(node, Regex):
        if node.field == MESSAGE:
            return {"regexp": {MESSAGE: {"value": node.pattern, "case_insensitive": True}}}
        if _numeric(types(node.field)):
            return MATCH_NONE
        return {"regexp": {node.field: {"value": node.pattern}}}
    if isinstance(node, Range):
        return _range(node, types)
    raise TypeError(f"unknown query node {node!r}")  # pragma: no cover - the AST is closed


def _numeric(found: Iterable[str]) -> bool:
    return any(t in NUMERIC_TYPES or t == "date" or t == "boolean" for t in found)


def _range(node: Range, types: TypeLookup) -> dict[str, Any]:
    low_key = "gte" if node.include_low else "gt"
    high_key = "lte" if node.include_high else "lt"
    body: dict[str, Any] = {}
    if node.field == MESSAGE:
        # Words are lowercased in the index, so bounds compare lowercased too.
        for key, bound in ((low_key, node.low), (high_key, node.high)):
            if bound is not None:
                body[key] = bound.lower()
        return {"range": {MESSAGE: body}} if body else {"exists": {"field": MESSAGE}}
    bounds = [b for b in (node.low, node.high) if b is not None]
    numeric = bool(bounds) and all(parse_number(b) is not None for b in bounds)
    found = types(node.field)
    if numeric and not _numeric(found):
        return MATCH_NONE  # numeric bounds compare numbers only; strings never fall in them
    if not numeric and _numeric(found):
        return MATCH_NONE  # string bounds cannot run on a numeric field (and numbers never match)
    for key, bound in ((low_key, node.low), (high_key, node.high)):
        if bound is not None:
            body[key] = parse_number(bound) if numeric else bound
    if not body:
        return {"exists": {"field": node.field}}
    return {"range": {node.field: body}}


def time_window(start_ms: int | None, end_ms: int | None) -> dict[str, Any] | None:
    """start <= @timestamp < end, either end open."""
    if start_ms is None and end_ms is None:
        return None
    body: dict[str, Any] = {"format": "epoch_millis"}
    if start_ms is not None:
        body["gte"] = start_ms
    if end_ms is not None:
        body["lt"] = end_ms
    return {"range": {TIMESTAMP_FIELD: body}}


def with_window(query: dict[str, Any], start_ms: int | None, end_ms: int | None) -> dict[str, Any]:
    window = time_window(start_ms, end_ms)
    if window is None:
        return query
    if query is MATCH_ALL or query == MATCH_ALL:
        return window
    return {"bool": {"filter": [query, window]}}
