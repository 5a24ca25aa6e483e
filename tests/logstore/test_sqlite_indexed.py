"""SQLite ``indexed_fields``: indexes built at open, used by the planner, same results as unindexed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apsw
import pytest

from logstore import AggRequest, Doc
from logstore.config import ConfigError, SqliteConfig
from logstore.sqlite import SqliteStore
from logstore.sqlite._schema import index_name
from logstore.types import format_ts
from logwarden.config import load_config
from tests.logstore.corpus import BASE_MS, CORPUS
from tests.logstore.test_contract import QUERY_TABLE

_ALWAYS_INDEXED = {"message", "@timestamp", "event.id"}


def _leaf_fields(value: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaf_fields(item, f"{prefix}{key}.")
    else:
        yield prefix[:-1]


# Every field path of the corpus that holds a keyword, number, boolean or array (nested or dotted keys).
CORPUS_FIELDS = sorted({f for d in CORPUS for f in _leaf_fields(d.source)} - _ALWAYS_INDEXED)

# Values of every JSON shape in one field, to pin the candidate ranges of indexed_leaf to the semantics.
ODD = [
    ("o01", 7),
    ("o02", "7"),
    ("o03", 7.0),
    ("o04", 7.5),
    ("o05", True),
    ("o06", False),
    ("o07", 1),
    ("o08", 0),
    ("o09", "[x"),
    ("o10", [1, "a", 7]),
    ("o11", ["true", 9]),
    ("o12", {"nested": 7}),
    ("o13", None),
    ("o14", "true"),
    ("o15", "apple"),
    ("o16", ""),
    ("o17", "\\"),
    ("o18", []),
]
ODD_QUERIES = [
    "code:7",
    "code:7.0",
    "code:7.5",
    "code:1",
    "code:0",
    "code:true",
    "code:false",
    "code:a",
    "code:apple",
    'code:"[x"',
    "code:9",
    "code:>6",
    "code:>=7",
    "code:<1",
    "code:[0 TO 1]",
    "code:{1 TO 9]",
    "code:[a TO z]",
    "code:<b",
    "code:>=\\[",
    "code:{* TO apple]",
    "code:*",
    "code:ap*",
    "NOT code:7",
    "code:7 OR code:apple",
    "code:7 AND NOT code:7.5",
    "_exists_:code",
    'code:"7"',
    'code:"a b"',
    "code:[* TO 5]",
    "code:[a TO 5]",
    "code:/a.*/",
]


def _open(path: Path, fields: list[str]) -> SqliteStore:
    return SqliteStore(SqliteConfig(path=path, indexed_fields=fields))


def _odd_docs() -> list[Doc]:
    docs = []
    for i, (doc_id, value) in enumerate(ODD):
        ts = BASE_MS + i * 1000
        docs.append(Doc(doc_id, ts, {"@timestamp": format_ts(ts), "message": "odd", "code": value}))
    return docs


def _plan(store: SqliteStore, query: str) -> str:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    end = datetime(2027, 1, 1, tzinfo=UTC)
    where, cond = store._where(query, start, end)
    sql = f"SELECT e.id FROM logstore_events e WHERE {cond} ORDER BY e.ts, e.id LIMIT 1000"
    rows = store.conn.execute(f"EXPLAIN QUERY PLAN {sql}", where.params).fetchall()
    return "\n".join(str(r[3]) for r in rows)


def _index_names(path: Path) -> set[str]:
    conn = apsw.Connection(str(path))
    try:
        return {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[SqliteStore]:
    store = _open(tmp_path / "plain.db", [])
    store.write([*CORPUS, *_odd_docs()])
    yield store
    store.close()


def test_corpus_fields_cover_numbers_keywords_and_arrays() -> None:
    """The parametrized field list reaches numeric, keyword and array fields of the corpus."""
    assert {"status", "latency_ms", "service.name", "tags", "ports", "flag.enabled"} <= set(CORPUS_FIELDS)


@pytest.mark.parametrize(
    "fields",
    [CORPUS_FIELDS, ["status", "latency_ms"], ["http.response.status_code", "log.level", "tags"]],
    ids=["every-corpus-field", "status+latency_ms", "hot+array"],
)
def test_query_table_on_indexed_store(tmp_path: Path, fields: list[str]) -> None:
    """The whole equivalence table returns the same ids and counts with the corpus fields indexed."""
    store = _open(tmp_path / "ix.db", fields)
    try:
        store.write(CORPUS)
        failures = []
        for query, expected in QUERY_TABLE:
            got = {h.id for h in store.search(query)}
            counted = store.count(query)
            if got != expected or counted != len(expected):
                failures.append(f"{query!r}: missing {sorted(expected - got)} extra {sorted(got - expected)}")
        assert not failures, "\n".join(failures)
    finally:
        store.close()


def test_every_value_shape_matches_like_the_unindexed_store(tmp_path: Path, plain: SqliteStore) -> None:
    """Numbers, numeric text, booleans, arrays, objects, nulls and '['-text match as on an unindexed field."""
    store = _open(tmp_path / "ix.db", ["code"])
    try:
        store.write([*CORPUS, *_odd_docs()])
        diffs = []
        for query in ODD_QUERIES:
            want = [h.id for h in plain.search(query)]
            got = [h.id for h in store.search(query)]
            if got != want or store.count(query) != len(want):
                diffs.append(f"{query!r}: indexed {got} unindexed {want}")
        assert not diffs, "\n".join(diffs)
        assert [h.id for h in store.search("code:7")] == ["o01", "o02", "o03", "o10"]
    finally:
        store.close()


def test_scalar_only_field_matches_without_the_array_branch(tmp_path: Path, plain: SqliteStore) -> None:
    """Once the '['-text and array docs are gone from the window, a query still matches scalars exactly."""
    store = _open(tmp_path / "ix.db", ["code"])
    try:
        store.write([*CORPUS, *(d for d in _odd_docs() if d.id not in ("o09", "o10", "o11", "o18"))])
        assert "logstore_ix_code" in _plan(store, "code:7")  # no array in the window: the index seeks
        for query in ODD_QUERIES:
            want = [h.id for h in plain.search(query) if h.id not in ("o09", "o10", "o11", "o18")]
            assert [h.id for h in store.search(query)] == want, query
    finally:
        store.close()


def test_planner_seeks_the_expression_index(tmp_path: Path) -> None:
    """EXPLAIN QUERY PLAN: the 502 question seeks logstore_ix_status, with the time window inside it."""
    store = _open(tmp_path / "ix.db", ["status", "latency_ms"])
    try:
        store.write(CORPUS)
        plan = _plan(store, "status:502 AND latency_ms:>500")
        assert f"USING INDEX {index_name('status')} (<expr>=? AND ts>? AND ts<?)" in plan, plan
        assert "logstore_ix_" not in _plan(store, "service.name:api"), "unindexed fields keep their plan"
    finally:
        store.close()


def test_unconfigured_store_does_not_use_an_existing_index(tmp_path: Path) -> None:
    """A store opened without the field ignores its index (and keeps it): same results, old plan."""
    path = tmp_path / "ix.db"
    _open(path, ["status"]).close()
    store = _open(path, [])
    try:
        store.write(CORPUS)
        assert index_name("status") in _index_names(path)
        assert "logstore_ix_" not in _plan(store, "status:502")
        assert [h.id for h in store.search("status:502")] == ["mx11"]
    finally:
        store.close()


def test_indexes_are_created_once_at_open_and_kept(tmp_path: Path) -> None:
    """Opening builds missing indexes over existing docs, reopening is a no-op, removal keeps the index."""
    path = tmp_path / "ix.db"
    store = _open(path, [])
    store.write(CORPUS)
    store.close()
    for fields in (["status", "a.b", "a_b"], ["status", "a.b", "a_b"], []):
        store = _open(path, fields)
        try:
            assert [h.id for h in store.search("status:502")] == ["mx11"]
        finally:
            store.close()
    names = {n for n in _index_names(path) if n.startswith("logstore_ix_")}
    assert names == {index_name("status"), index_name("a.b"), index_name("a_b")}
    assert len(names) == 3  # a.b and a_b never share a name


def test_aggregate_with_indexed_field_counts_the_same(tmp_path: Path, plain: SqliteStore) -> None:
    """An aggregate filtered on an indexed field counts exactly what the unindexed store counts."""
    store = _open(tmp_path / "ix.db", ["code", "latency_ms"])
    try:
        store.write([*CORPUS, *_odd_docs()])
        start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
        for query in ("code:7", "latency_ms:>100", "code:true OR latency_ms:<1"):
            req = AggRequest(query=query, start=start, end=end)
            assert store.aggregate([req])[0] == plain.aggregate([req])[0], query
    finally:
        store.close()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("['bad field']", "is not a field name"),
        ("[a..b]", "is not a field name"),
        ("[message]", "is always indexed"),
        ("[event.id]", "is always indexed"),
    ],
)
def test_bad_indexed_field_is_a_config_error(tmp_path: Path, value: str, message: str) -> None:
    """A bad or redundant indexed_fields entry is a one-line config error naming file, line and key."""
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(f"store:\n  sqlite:\n    path: x.db\n    indexed_fields: {value}\n")
    with pytest.raises(ConfigError) as err:
        load_config(cfg, env={})
    text = str(err.value)
    assert "\n" not in text
    assert "logwarden.yaml:4" in text and "store.sqlite.indexed_fields" in text and message in text


def test_indexed_fields_default_empty_and_deduplicated() -> None:
    """indexed_fields defaults to none and keeps the first of repeated names."""
    assert SqliteConfig().indexed_fields == []
    assert SqliteConfig(indexed_fields=["status", "x", "status"]).indexed_fields == ["status", "x"]
