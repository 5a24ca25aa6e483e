"""Lucene query-string syntax, parsed once with luqum into a small AST both backends translate.

Semantics, the same on SQLite and Elasticsearch:
- ``field:value`` matches a field equal to value (numbers compare as numbers when the stored value is
  numeric); on ``message`` it is a full-text match of the word.
- Free text (no field) searches ``message`` as full text; ``"a phrase"`` as a phrase.
- ``*`` and ``?`` are wildcards; ``/re/`` a regular expression matching the whole value.
- ``[a TO b]`` inclusive, ``{a TO b}`` exclusive, ``*`` an open end; ``field:>=500`` and friends.
- ``AND``, ``OR``, ``NOT``, ``-term``, ``+term``, parentheses, ``field:(a OR b)``, ``_exists_:field``.
- Two terms side by side mean AND (what people searching logs expect; Elasticsearch's own default
  is OR, so the ES backend sets ``default_operator`` explicitly by translating this AST itself).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from luqum import tree as lt
from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.parser import parser as _luqum

MESSAGE = "message"
_FIELD_NAME = re.compile(r"^[A-Za-z_@][A-Za-z0-9_.@-]*$")
_POSITION = re.compile(r"at position (\d+)")
_ILLEGAL = re.compile(r"Illegal character '(.*)' at position (\d+)", re.S)


class QueryError(ValueError):
    """A bad query. ``str()`` is one line; ``render()`` adds the query with a caret at the column."""

    def __init__(self, reason: str, query: str, column: int) -> None:
        self.reason = reason
        self.query = query
        self.column = max(0, min(column, len(query)))  # 0-based
        super().__init__(f"query error at column {self.column + 1}: {reason}")

    def render(self) -> str:
        return f"{self}\n  {self.query}\n  {' ' * self.column}^"


# ---- AST ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatchAll:
    pass


@dataclass(frozen=True, slots=True)
class Term:
    field: str  # MESSAGE for free text
    value: str


@dataclass(frozen=True, slots=True)
class Phrase:
    field: str
    text: str


@dataclass(frozen=True, slots=True)
class Wildcard:
    field: str
    pattern: str  # '*' any run, '?' one character; matches the whole value (a word on message)


@dataclass(frozen=True, slots=True)
class Regex:
    field: str
    pattern: str  # Lucene regex: anchored, matches the whole value


@dataclass(frozen=True, slots=True)
class Range:
    field: str
    low: str | None  # None: open
    high: str | None
    include_low: bool
    include_high: bool


@dataclass(frozen=True, slots=True)
class Exists:
    field: str


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


Node = MatchAll | Term | Phrase | Wildcard | Regex | Range | Exists | And | Or | Not


# ---- parsing -----------------------------------------------------------------------------------


def _syntax_error(text: str, err: Exception) -> QueryError:
    msg = str(err)
    m = _ILLEGAL.search(msg)
    if m:
        return QueryError(f"unexpected {m.group(1)[:20]!r}", text, int(m.group(2)))
    m = _POSITION.search(msg)
    if m:
        pos = int(m.group(1))
        tok = re.search(r"unexpected\s+'([^']*)'", msg)
        what = f"unexpected {tok.group(1)!r}" if tok and tok.group(1) else "unexpected token"
        return QueryError(what, text, pos)
    if "end of expression" in msg:
        reason = "unexpected end of query (unclosed parenthesis, bracket or quote?)"
        return QueryError(reason, text, len(text))
    return QueryError(msg, text, 0)


def _unquote(value: str) -> str:
    # Lucene escapes: \: \( \" etc. keep the character literally.
    return re.sub(r"\\(.)", r"\1", value)


class _Builder:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, node: lt.Item, reason: str) -> QueryError:
        return QueryError(reason, self.text, getattr(node, "pos", None) or 0)

    def field_name(self, node: lt.Item, name: str) -> str:
        if not _FIELD_NAME.match(name):
            raise self.fail(node, f"invalid field name {name!r}")
        return name

    def build(self, node: lt.Item, field: str) -> Node:
        if isinstance(node, (lt.AndOperation, lt.UnknownOperation)):
            return self._and(node, field)
        if isinstance(node, lt.OrOperation):
            return Or(tuple(self.build(c, field) for c in node.children))
        if isinstance(node, (lt.Not, lt.Prohibit)):
            return Not(self.build(node.a, field))
        if isinstance(node, lt.Plus):
            return self.build(node.a, field)
        if isinstance(node, (lt.Group, lt.FieldGroup)):
            return self.build(node.expr, field)
        if isinstance(node, lt.Boost):
            return self.build(node.expr, field)  # relevance boosts mean nothing to a time-sorted log search
        if isinstance(node, lt.SearchField):
            name = self.field_name(node, node.name)
            if name == "_exists_":
                if not isinstance(node.expr, lt.Word):
                    raise self.fail(node, "_exists_ takes a field name")
                return Exists(self.field_name(node.expr, _unquote(node.expr.value)))
            if name == "*":
                return self.build(node.expr, field)
            if _has_field(node.expr):
                # luqum reads a:b:c as a:(b:c) and would silently drop "a"; Lucene has no such query.
                raise self.fail(node, f"a field inside field {name!r}: quote the value or escape the ':'")
            return self.build(node.expr, name)
        if isinstance(node, lt.Word):
            return self._word(node, field)
        if isinstance(node, lt.Phrase):
            if getattr(node, "value", "").count('"') < 2:
                raise self.fail(node, "unclosed quote")
            return Phrase(field, _unquote(node.value[1:-1]))
        if isinstance(node, lt.Regex):
            return Regex(field, node.value[1:-1])
        if isinstance(node, lt.Range):
            return Range(
                field,
                self._bound(node.low),
                self._bound(node.high),
                bool(node.include_low),
                bool(node.include_high),
            )
        if isinstance(node, lt.From):
            return Range(field, self._bound(node.a), None, bool(node.include), False)
        if isinstance(node, lt.To):
            return Range(field, None, self._bound(node.a), False, bool(node.include))
        if isinstance(node, lt.Fuzzy):
            raise self.fail(node, "fuzzy queries (~) are not supported; use a wildcard")
        if isinstance(node, lt.Proximity):
            raise self.fail(node, 'proximity queries ("..."~N) are not supported')
        raise self.fail(node, f"unsupported query element {type(node).__name__}")

    def _and(self, node: lt.Item, field: str) -> Node:
        items = [self.build(c, field) for c in node.children]
        flat: list[Node] = []
        for item in items:
            flat.extend(item.items if isinstance(item, And) else (item,))
        return And(tuple(flat))

    def _bound(self, node: lt.Item) -> str | None:
        value = node.value if isinstance(node, (lt.Word, lt.Phrase)) else str(node)
        if isinstance(node, lt.Phrase):
            value = value[1:-1]
        return None if value == "*" else _unquote(value)

    def _word(self, node: lt.Word, field: str) -> Node:
        raw = node.value
        if raw == "*" and field == MESSAGE:
            return MatchAll()
        if raw == "*":
            return Exists(field)
        value = _unquote(raw)
        if re.search(r"(?<!\\)[*?]", raw):
            return Wildcard(field, _unquote_wildcard(raw))
        return Term(field, value)


def _has_field(node: lt.Item) -> bool:
    if isinstance(node, lt.SearchField):
        return True
    return any(_has_field(child) for child in node.children)


def _unquote_wildcard(raw: str) -> str:
    # Keep unescaped * and ? as wildcards; escaped ones become literal (encoded as \* and \?).
    out = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            out.append("\\" + nxt if nxt in "*?\\" else nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


@lru_cache(maxsize=512)
def parse_query(text: str) -> Node:
    """Parse Lucene syntax into the AST. '' and '*' match everything. Raises QueryError."""
    stripped = text.strip()
    if stripped in ("", "*", "*:*"):
        return MatchAll()
    try:
        tree = _luqum.parse(text)
    except IllegalCharacterError as e:
        raise _syntax_error(text, e) from None
    except ParseError as e:
        raise _syntax_error(text, e) from None
    return _Builder(text).build(tree, MESSAGE)


def fields_of(node: Node) -> set[str]:
    """Every field a query names (the SQLite backend validates and indexes by these)."""
    if isinstance(node, (And, Or)):
        out: set[str] = set()
        for item in node.items:
            out |= fields_of(item)
        return out
    if isinstance(node, Not):
        return fields_of(node.item)
    if isinstance(node, MatchAll):
        return set()
    return {node.field}
