"""The Lucene parser: query text -> the AST both backends translate; one-line errors with a caret."""

from __future__ import annotations

import pytest

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
    fields_of,
    parse_query,
)

PARSES: list[tuple[str, Node]] = [
    ("", MatchAll()),
    ("*", MatchAll()),
    ("*:*", MatchAll()),
    ("error", Term(MESSAGE, "error")),
    ("service.name:api", Term("service.name", "api")),
    ('"connection refused"', Phrase(MESSAGE, "connection refused")),
    ('url.path:"/api/v1"', Phrase("url.path", "/api/v1")),
    ("a b", And((Term(MESSAGE, "a"), Term(MESSAGE, "b")))),  # implicit operator is AND
    ("a AND b AND c", And((Term(MESSAGE, "a"), Term(MESSAGE, "b"), Term(MESSAGE, "c")))),
    ("a OR b", Or((Term(MESSAGE, "a"), Term(MESSAGE, "b")))),
    ("a OR b AND c", Or((Term(MESSAGE, "a"), And((Term(MESSAGE, "b"), Term(MESSAGE, "c")))))),
    ("(a OR b) c", And((Or((Term(MESSAGE, "a"), Term(MESSAGE, "b"))), Term(MESSAGE, "c")))),
    ("NOT a", Not(Term(MESSAGE, "a"))),
    ("-a", Not(Term(MESSAGE, "a"))),
    ("+a", Term(MESSAGE, "a")),
    ("a -b", And((Term(MESSAGE, "a"), Not(Term(MESSAGE, "b"))))),
    ("level:(warn OR error)", Or((Term("level", "warn"), Term("level", "error")))),
    ("_exists_:user.name", Exists("user.name")),
    ("user.name:*", Exists("user.name")),
    ("pay*", Wildcard(MESSAGE, "pay*")),
    ("host.name:web-?", Wildcard("host.name", "web-?")),
    ("foo\\*bar", Term(MESSAGE, "foo*bar")),  # an escaped star is a literal character
    ("path:\\/a*", Wildcard("path", "/a*")),
    ("host.name:/web-[12]/", Regex("host.name", "web-[12]")),
    ("status:[500 TO 599]", Range("status", "500", "599", True, True)),
    ("status:{500 TO 599}", Range("status", "500", "599", False, False)),
    ("status:{1 TO 5]", Range("status", "1", "5", False, True)),
    ("status:[500 TO *]", Range("status", "500", None, True, True)),  # include flag of an open end is moot
    ("status:>=500", Range("status", "500", None, True, False)),
    ("status:>500", Range("status", "500", None, False, False)),
    ("status:<=5", Range("status", None, "5", False, True)),
    ("status:<5", Range("status", None, "5", False, False)),
    ('@timestamp:>="2026-01-01T00:00:00Z"', Range("@timestamp", "2026-01-01T00:00:00Z", None, True, False)),
    ("service.name:web^2", Term("service.name", "web")),  # boosts mean nothing to a time-sorted search
]


@pytest.mark.parametrize(("text", "expected"), PARSES, ids=[p[0] or "<empty>" for p in PARSES])
def test_parse(text: str, expected: Node) -> None:
    """Each Lucene form parses into its AST node."""
    assert parse_query(text) == expected


# query, expected 1-based column in the message, expected words in the reason
ERRORS: list[tuple[str, int, str]] = [
    ("status:(500 OR", 15, "unexpected end of query"),
    ("status:[500 TO", 15, "unexpected end of query"),
    ("a AND", 6, "unexpected end of query"),
    ("foo)", 4, "unexpected ')'"),
    ("x AND OR y", 7, "unexpected 'OR'"),
    ('"unclosed', 1, "unexpected"),
    ("foo~2", 1, "fuzzy queries"),
    ('"a b"~3', 1, "proximity queries"),
    ("_exists_:(a b)", 1, "_exists_ takes a field name"),
    ("a$b:1", 1, "invalid field name"),
    ("a:b:c", 1, "a field inside field 'a'"),
]


@pytest.mark.parametrize(("text", "column", "reason"), ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_name_the_column(text: str, column: int, reason: str) -> None:
    """A bad query raises QueryError: one line naming the column, and a render with a caret under it."""
    with pytest.raises(QueryError) as info:
        parse_query(text)
    err = info.value
    message = str(err)
    assert "\n" not in message
    assert message.startswith(f"query error at column {column}: ")
    assert reason in message
    lines = err.render().splitlines()
    assert lines[0] == message
    assert lines[1] == f"  {text}"
    assert lines[2] == "  " + " " * (column - 1) + "^"


def test_fields_of_lists_every_named_field() -> None:
    """fields_of names every field a query touches, message included for free text."""
    node = parse_query("error AND service.name:api AND NOT (_exists_:user.id OR status:>=500)")
    assert fields_of(node) == {MESSAGE, "service.name", "user.id", "status"}
    assert fields_of(parse_query("*")) == set()
