"""SQLite backend specifics: file settings, other-process readers, clear errors, FTS upkeep, hot columns."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import apsw
import orjson
import pytest

from logstore import AggRequest, Doc, Metric, Outcome, QueryError, StoreError
from logstore.config import SqliteConfig
from logstore.sqlite import SqliteStore
from logstore.sqlite._schema import SCHEMA_VERSION
from logstore.types import format_ts, ms_to_datetime
from tests.logstore.corpus import BASE_MS


def _doc(doc_id: str, ts: int = BASE_MS, **fields: object) -> Doc:
    return Doc(doc_id, ts, {"@timestamp": format_ts(ts), **fields})


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(SqliteConfig(path=tmp_path / "deep" / "dir" / "logs.db"))
    yield store
    store.close()


def test_creates_parent_dirs_wal_and_schema_version(sqlite_store: SqliteStore, tmp_path: Path) -> None:
    """First use creates the parent dirs and a WAL-mode file with synchronous=NORMAL and a schema version."""
    path = tmp_path / "deep" / "dir" / "logs.db"
    assert path.exists()
    conn = sqlite_store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("SELECT version FROM logstore_schema").fetchall() == [(SCHEMA_VERSION,)]
    assert sqlite_store.health().ok


def test_reopen_keeps_data(tmp_path: Path) -> None:
    """Closing and reopening the same file keeps every doc and does not redo the schema."""
    config = SqliteConfig(path=tmp_path / "a.db")
    store = SqliteStore(config)
    store.write([_doc("a", message="hello"), _doc("b", message="world")])
    store.close()
    again = SqliteStore(config)
    try:
        assert again.count("hello OR world") == 2
        assert again.conn.execute("SELECT count(*) FROM logstore_schema").fetchone()[0] == 1
    finally:
        again.close()


_READER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from logstore.config import SqliteConfig
    from logstore.sqlite import SqliteStore
    store = SqliteStore(SqliteConfig(path=Path(sys.argv[1])))
    print("ready", store.count(""), flush=True)
    want = int(sys.argv[2])
    deadline = time.monotonic() + 20
    n = store.count("marker")
    while n < want and time.monotonic() < deadline:
        time.sleep(0.02)  # polling another process's commits: nothing to wait on but the file
        n = store.count("marker")
    print("seen", n, flush=True)
    store.close()
    """
)


def test_reader_in_another_process_sees_new_writes(tmp_path: Path) -> None:
    """A reader process opened before the writes sees them once committed (WAL), without reopening."""
    path = tmp_path / "shared.db"
    writer = SqliteStore(SqliteConfig(path=path))
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _READER, str(path), "25"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().split() == ["ready", "0"]
            for k in range(5):
                writer.write([_doc(f"m{k}-{i}", message="marker event") for i in range(5)])
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert out.split() == ["seen", "25"]
    finally:
        writer.close()


def test_corrupt_file_is_one_line_store_error(tmp_path: Path) -> None:
    """A file that is not a SQLite database gives StoreError naming the path and the reason."""
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(StoreError) as info:
        SqliteStore(SqliteConfig(path=path))
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert "not a database" in message


def test_locked_database_is_one_line_store_error(tmp_path: Path) -> None:
    """A write blocked past the busy timeout by another writer gives StoreError naming path and reason."""
    path = tmp_path / "locked.db"
    store = SqliteStore(SqliteConfig(path=path, busy_timeout=timedelta(milliseconds=100)))
    other = apsw.Connection(str(path))
    try:
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(StoreError) as info:
            store.write([_doc("a", message="x")])
        assert time.monotonic() - started < 10
        message = str(info.value)
        assert "\n" not in message and str(path) in message and "locked" in message
        other.execute("ROLLBACK")
        assert store.write([_doc("a", message="x")])[0].outcome is Outcome.CREATED
    finally:
        other.close()
        store.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A file written by a newer schema version is refused with a one-line StoreError."""
    path = tmp_path / "newer.db"
    SqliteStore(SqliteConfig(path=path)).close()
    conn = apsw.Connection(str(path))
    conn.execute("UPDATE logstore_schema SET version = 99")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        SqliteStore(SqliteConfig(path=path))


def test_closed_store_raises_store_error(tmp_path: Path) -> None:
    """Using a closed store raises StoreError, not an AttributeError."""
    store = SqliteStore(SqliteConfig(path=tmp_path / "c.db"))
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count("")
    assert not store.health().ok


def test_retention_removes_fts_rows_and_frees_ids(tmp_path: Path) -> None:
    """Retention deletes old docs and their FTS words; an old id can be written again afterwards."""
    now = datetime(2026, 1, 10, tzinfo=UTC)
    old_ts = int((now - timedelta(days=3)).timestamp() * 1000)
    new_ts = int((now - timedelta(hours=2)).timestamp() * 1000)
    store = SqliteStore(SqliteConfig(path=tmp_path / "r.db", retention=timedelta(days=1)))
    try:
        store.write([_doc(f"old{i}", old_ts + i, message=f"ancient zebra {i}") for i in range(20)])
        store.write([_doc(f"new{i}", new_ts + i, message="fresh giraffe") for i in range(5)])
        assert store.retention(now).deleted_docs == 20
        assert store.count("zebra") == 0
        assert store.count("giraffe") == 5
        vocab = {t for (t,) in store.conn.execute("SELECT term FROM logstore_fts_vocab")}
        assert "zebra" not in vocab and "giraffe" in vocab
        assert store.write([_doc("old0", new_ts, message="zebra again")])[0].outcome is Outcome.CREATED
        assert store.count("zebra") == 1
    finally:
        store.close()


def test_retention_without_config_is_a_noop(sqlite_store: SqliteStore) -> None:
    """With no retention configured nothing is deleted."""
    sqlite_store.write([_doc("a", 0, message="epoch")])
    assert sqlite_store.retention(datetime(2030, 1, 1, tzinfo=UTC)).deleted_docs == 0
    assert sqlite_store.count("") == 1


def test_values_are_bound_not_spliced(sqlite_store: SqliteStore) -> None:
    """SQL-looking query values are plain data: they match literally and break nothing."""
    evil = "x'); DROP TABLE logstore_events; --"
    sqlite_store.write([_doc("a", message="hello", note=evil)])
    assert sqlite_store.count(f'note:"{evil}"') == 1
    assert sqlite_store.count('message:"DROP TABLE"') == 0
    assert sqlite_store.count("") == 1
    with pytest.raises(QueryError):
        sqlite_store.count('bad"field:1')


def test_hot_column_falls_back_to_json_for_non_strings(sqlite_store: SqliteStore) -> None:
    """service.name holding a number or an array still matches, via the JSON instead of the hot column."""
    sqlite_store.write(
        [
            _doc("num", service={"name": 7}),
            _doc("arr", service={"name": ["a", "b"]}),
            _doc("str", service={"name": "a"}),
            _doc("none"),
        ]
    )
    assert {h.id for h in sqlite_store.search("service.name:7")} == {"num"}
    assert {h.id for h in sqlite_store.search("service.name:b")} == {"arr"}
    assert {h.id for h in sqlite_store.search("service.name:a")} == {"arr", "str"}
    assert {h.id for h in sqlite_store.search("NOT service.name:a")} == {"num", "none"}
    assert {h.id for h in sqlite_store.search("_exists_:service.name")} == {"num", "arr", "str"}


def test_raw_bytes_are_stored_as_given(sqlite_store: SqliteStore) -> None:
    """Doc.raw is stored without re-serializing; dotted keys or a missing event.id force a rebuild."""
    source = {"@timestamp": format_ts(BASE_MS), "message": "m", "event": {"id": "r1"}}
    raw = orjson.dumps({**source, "only_in_raw": True})
    rebuilt = Doc("r2", BASE_MS, {"@timestamp": format_ts(BASE_MS), "a.b": 1}, raw=b'{"ignored": true}')
    sqlite_store.write([Doc("r1", BASE_MS, source, raw=raw), rebuilt])
    hits = {h.id: h.source for h in sqlite_store.search("")}
    assert hits["r1"]["only_in_raw"] is True
    assert hits["r2"] == {"@timestamp": format_ts(BASE_MS), "a": {"b": 1}, "event": {"id": "r2"}}


def test_raw_bytes_are_stored_as_json_text(sqlite_store: SqliteStore) -> None:
    """A final doc's bytes are stored as TEXT, so SQL JSON functions read them; non-UTF-8 bytes of a
    doc the producer did not vouch for are rejected, not stored."""
    source = {"@timestamp": format_ts(BASE_MS), "message": "m", "event": {"id": "f1"}, "n": 7}
    final = Doc("f1", BASE_MS, source, raw=orjson.dumps(source), final=True)
    bad_raw = b'{"@timestamp": "x", "event": {"id": "b1"}, "m": "\xff"}'
    bad = Doc("b1", BASE_MS, {**source, "event": {"id": "b1"}}, raw=bad_raw)
    results = sqlite_store.write([final, bad])
    assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.REJECTED]
    row = sqlite_store.conn.execute(
        "SELECT typeof(doc), json_extract(doc, '$.n') FROM logstore_events WHERE id = 'f1'"
    ).fetchone()
    assert row == ("text", 7)
    assert sqlite_store.count("n:7") == 1


def test_message_regex_and_wildcards_match_words(sqlite_store: SqliteStore) -> None:
    """Regex, wildcard and range on message match single words of the text, case-insensitively."""
    sqlite_store.write(
        [
            _doc("a", message="Payment FAILED for order"),
            _doc("b", message="payroll run"),
            _doc("c", message="repayment scheduled"),
        ]
    )
    assert {h.id for h in sqlite_store.search("message:/pay.*/")} == {"a", "b"}
    assert {h.id for h in sqlite_store.search("*PAY*")} == {"a", "b", "c"}
    assert {h.id for h in sqlite_store.search("fail?d")} == {"a"}
    assert {h.id for h in sqlite_store.search("message:[payroll TO repayment]")} == {"b", "c"}
    assert sqlite_store.count("message:/pay/") == 0  # anchored: the whole word must match


def test_bad_query_raises_before_iteration(sqlite_store: SqliteStore) -> None:
    """search() raises QueryError at the call, not at the first next(), so callers report it early."""
    with pytest.raises(QueryError):
        sqlite_store.search("status:(500 OR")
    with pytest.raises(QueryError, match="regular expression"):
        sqlite_store.search("host:/[unclosed/")
    with pytest.raises(QueryError, match="RFC 3339"):
        sqlite_store.count("@timestamp:>yesterday")


def test_rejects_missing_id_and_bad_ts(sqlite_store: SqliteStore) -> None:
    """An empty id or a non-integer ts is REJECTED with a reason; good docs of the batch still land."""
    results = sqlite_store.write(
        [Doc("", BASE_MS, {"@timestamp": "x"}), Doc("t", "soon", {"@timestamp": "x"}), _doc("ok")]  # type: ignore[arg-type]
    )
    assert [r.outcome for r in results] == [Outcome.REJECTED, Outcome.REJECTED, Outcome.CREATED]
    assert all(r.reason for r in results[:2])


_V1_DDL = """
CREATE TABLE logstore_schema (version INTEGER NOT NULL);
INSERT INTO logstore_schema VALUES (1);
CREATE TABLE logstore_events (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, ts INTEGER NOT NULL,
    service TEXT, level TEXT, host TEXT, doc TEXT NOT NULL);
CREATE INDEX logstore_events_ts ON logstore_events (ts);
CREATE VIRTUAL TABLE logstore_fts USING fts5(message, content='', columnsize=0,
    tokenize='unicode61 remove_diacritics 0');
CREATE VIRTUAL TABLE logstore_fts_vocab USING fts5vocab(logstore_fts, 'row');
INSERT INTO logstore_events VALUES (1, 'v1doc', 5, 'web', NULL, NULL,
    '{"@timestamp":"1970-01-01T00:00:00.005Z","http":{"response":{"status_code":502}},'
    || '"event":{"id":"v1doc","duration":7}}');
"""


def test_version_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    """A schema-1 file gains the numeric hot columns, filled from its docs, and answers queries on them."""
    path = tmp_path / "v1.db"
    conn = apsw.Connection(str(path))
    conn.execute(_V1_DDL)
    conn.close()
    store = SqliteStore(SqliteConfig(path=path))
    try:
        assert store.conn.execute("SELECT version FROM logstore_schema").fetchall() == [(SCHEMA_VERSION,)]
        assert store.conn.execute("SELECT status, duration FROM logstore_events").fetchall() == [(502, 7)]
        assert store.count("http.response.status_code:>=500 AND event.duration:7") == 1
        indexes = {n for (n,) in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "logstore_events_time" in indexes and "logstore_events_ts" not in indexes
        assert store.write([_doc("v2doc", 6, message="new")])[0].outcome is Outcome.CREATED
    finally:
        store.close()


def test_numeric_hot_column_falls_back_to_json(sqlite_store: SqliteStore) -> None:
    """http.response.status_code as a string or an array still matches through the JSON fallback."""
    sqlite_store.write(
        [
            _doc("num", http={"response": {"status_code": 502}}),
            _doc("text", http={"response": {"status_code": "502"}}),
            _doc("arr", http={"response": {"status_code": [200, 503]}}),
            _doc("none", message="no status"),
        ]
    )
    assert {h.id for h in sqlite_store.search("http.response.status_code:502")} == {"num", "text"}
    assert {h.id for h in sqlite_store.search("http.response.status_code:>=500")} == {"num", "arr"}
    assert {h.id for h in sqlite_store.search("http.response.status_code:50?")} == {"text"}
    assert {h.id for h in sqlite_store.search("_exists_:http.response.status_code")} == {"num", "text", "arr"}
    assert {h.id for h in sqlite_store.search("NOT http.response.status_code:502")} == {"arr", "none"}


def test_dotted_keys_merge_without_touching_the_callers_doc(sqlite_store: SqliteStore) -> None:
    """Dotted keys merge into existing objects in the stored doc; the caller's dicts are not modified."""
    http = {"request": {"method": "GET"}}
    source = {"@timestamp": format_ts(BASE_MS), "http": http, "http.response.status_code": 502}
    sqlite_store.write([Doc("d", BASE_MS, source)])
    (hit,) = sqlite_store.search("")
    assert hit.source["http"] == {"request": {"method": "GET"}, "response": {"status_code": 502}}
    assert http == {"request": {"method": "GET"}}
    assert "event" not in source
    assert sqlite_store.count("http.response.status_code:502 AND http.request.method:GET") == 1


def test_text_query_in_a_window_finds_late_arrivals(sqlite_store: SqliteStore) -> None:
    """A free-text query in a time window finds docs written late (rowid order differs from time order)."""
    minute = 60_000
    sqlite_store.write([_doc(f"early{i}", BASE_MS + i * minute, message="disk full") for i in range(10)])
    sqlite_store.write([_doc(f"other{i}", BASE_MS + i * minute + 1, message="all good") for i in range(10)])
    sqlite_store.write([_doc("late", BASE_MS + 3 * minute + 5, message="disk full again")])
    start, end = ms_to_datetime(BASE_MS + 3 * minute), ms_to_datetime(BASE_MS + 5 * minute)
    assert [h.id for h in sqlite_store.search("disk", start, end)] == ["early3", "late", "early4"]
    assert sqlite_store.count("disk", start, end) == 3
    assert sqlite_store.count("disk AND NOT again", start) == 7
    assert sqlite_store.count("disk", ms_to_datetime(BASE_MS + 60 * minute)) == 0
    result = sqlite_store.aggregate(
        [AggRequest("*", start, end, metrics=(Metric("disk", "count", query="disk"),))]
    )[0]
    assert (result.total, result.rows[0].values["disk"]) == (5, 3)


def test_write_unless_all_created_answers_none_only_when_all_are_new(sqlite_store: SqliteStore) -> None:
    """The shipper's fast path: None for an all-new batch, per-doc results when any doc is not new."""
    assert sqlite_store.write_unless_all_created([_doc("f1"), _doc("f2")]) is None
    again = sqlite_store.write_unless_all_created([_doc("f2"), _doc("f3")])
    assert again is not None
    assert [(r.id, r.outcome) for r in again] == [("f2", Outcome.DUPLICATE), ("f3", Outcome.CREATED)]
    bad = sqlite_store.write_unless_all_created([Doc("", BASE_MS, {"@timestamp": "x"}), _doc("f4")])
    assert bad is not None and [r.outcome for r in bad] == [Outcome.REJECTED, Outcome.CREATED]
    assert sqlite_store.count("") == 4
