"""The SQLite store's full-text index: a side file built behind the writer, exact for every query."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import apsw
import pytest

from logstore import Doc, Outcome
from logstore.config import SqliteConfig
from logstore.sqlite import SqliteStore
from logstore.sqlite._fts import FtsIndex, side_path
from logstore.sqlite._schema import PAGE_SIZE
from logstore.types import format_ts, ms_to_datetime
from tests.logstore.corpus import BASE_MS


def _doc(doc_id: str, message: object, ts: int = BASE_MS) -> Doc:
    return Doc(doc_id, ts, {"@timestamp": format_ts(ts), "message": message, "event": {"id": doc_id}})


def _watermark(path: Path) -> int:
    conn = apsw.Connection(str(side_path(path)))
    try:
        return int(conn.execute("SELECT watermark FROM logstore_fts_state").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def lagging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Writers in this test never index in the background: the index lags until a query or refresh."""
    monkeypatch.setattr(FtsIndex, "wake", lambda self: None)
    yield


def _open(path: Path, **kw: object) -> SqliteStore:
    return SqliteStore(SqliteConfig(path=path, **kw))  # type: ignore[arg-type]


def test_text_query_sees_docs_the_index_has_not_reached(tmp_path: Path, lagging: None) -> None:
    """A text query first indexes what was committed before it, so a lagging index never hides a doc."""
    path = tmp_path / "logs.db"
    writer = _open(path)
    reader = _open(path)
    try:
        writer.write([_doc("a", "upstream timed out"), _doc("b", "all good")])
        assert _watermark(path) == 0
        assert [h.id for h in reader.search('"timed out"')] == ["a"]
        assert reader.count("good OR upstream") == 2
        assert _watermark(path) == 2
    finally:
        writer.close()
        reader.close()


def test_background_indexer_catches_up_after_writes(tmp_path: Path) -> None:
    """The writer's indexer thread brings the side file up to the last write without any query."""
    path = tmp_path / "logs.db"
    store = _open(path)
    try:
        store.write([_doc(f"d{i}", f"line {i}") for i in range(500)])
        store.refresh()
        assert _watermark(path) == 500
        words = {t for (t,) in store.conn.execute("SELECT term FROM fts.logstore_fts_vocab")}
        assert {"line", "0", "499"} <= words
    finally:
        store.close()


def test_non_string_messages_are_indexed_like_before(tmp_path: Path, lagging: None) -> None:
    """Array, number and boolean messages are indexed as their text, as the write path used to."""
    store = _open(tmp_path / "logs.db")
    try:
        store.write([_doc("arr", ["first part", "second"]), _doc("num", 404), _doc("yes", True)])
        assert [h.id for h in store.search("second")] == ["arr"]
        assert [h.id for h in store.search("404")] == ["num"]
        assert [h.id for h in store.search("true")] == ["yes"]
        assert store.count('"part second"') == 1  # array elements join like lines of one text
    finally:
        store.close()


def test_index_left_by_another_store_is_rebuilt(tmp_path: Path) -> None:
    """An index file left next to a new events file of the same name is not trusted: it is rebuilt."""
    path = tmp_path / "logs.db"
    old = _open(path)
    old.write([_doc("o1", "alpha"), _doc("o2", "alpha")])
    old.refresh()
    old.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    new = _open(path)
    try:
        new.write([_doc("n1", "beta")])
        assert new.count("alpha") == 0
        assert [h.id for h in new.search("beta")] == ["n1"]
    finally:
        new.close()


def test_events_file_restored_from_older_copy_rebuilds_index(tmp_path: Path) -> None:
    """An index ahead of its events file (restored from a backup) is rebuilt, and new docs are found."""
    path = tmp_path / "logs.db"
    store = _open(path)
    store.write([_doc(f"k{i}", "kept") for i in range(3)])
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(path, tmp_path / "backup.db")
    store.write([_doc(f"l{i}", "lost") for i in range(3)])
    store.refresh()
    store.close()
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup.db", path)
    again = _open(path)
    try:
        again.write([_doc("fresh", "fresh")])
        assert again.count("lost") == 0
        assert again.count("kept") == 3
        assert [h.id for h in again.search("fresh")] == ["fresh"]
    finally:
        again.close()


def test_retention_removes_deleted_docs_from_index(tmp_path: Path, lagging: None) -> None:
    """Retention deletes old docs from the index too, indexed or not yet, and leaves no stale word."""
    path = tmp_path / "logs.db"
    store = _open(path, retention=timedelta(days=1))
    day = 86_400_000
    try:
        store.write([_doc("old1", "ancient history", BASE_MS), _doc("new1", "recent", BASE_MS + 3 * day)])
        store.refresh()  # old1 is indexed
        store.write([_doc("old2", "ancient scroll", BASE_MS + 1)])  # not indexed yet
        result = store.retention(now=ms_to_datetime(BASE_MS + 3 * day))
        assert result.deleted_docs == 2
        assert store.count("ancient") == 0
        words = {t for (t,) in store.conn.execute("SELECT term FROM fts.logstore_fts_vocab")}
        assert "ancient" not in words and "scroll" not in words and "recent" in words
        assert store.write([_doc("new2", "another")])[0].outcome is Outcome.CREATED
        assert sorted(h.id for h in store.search("another OR recent")) == ["new1", "new2"]
    finally:
        store.close()


def test_new_store_uses_large_pages(tmp_path: Path) -> None:
    """A new events file gets 16 KiB pages (fewer pages and WAL frames per doc on ingest)."""
    store = _open(tmp_path / "logs.db")
    try:
        assert store.conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 16384
    finally:
        store.close()


_V3_DDL = """
CREATE TABLE logstore_schema (version INTEGER NOT NULL);
INSERT INTO logstore_schema VALUES (3);
CREATE TABLE logstore_events (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, ts INTEGER NOT NULL,
    service TEXT, level TEXT, host TEXT, status INTEGER, duration INTEGER, doc TEXT NOT NULL);
CREATE INDEX logstore_events_time ON logstore_events (ts, service, level, host, status, duration);
CREATE VIRTUAL TABLE logstore_fts USING fts5(message, content='', columnsize=0,
    tokenize='unicode61 remove_diacritics 0');
CREATE VIRTUAL TABLE logstore_fts_vocab USING fts5vocab(logstore_fts, 'row');
INSERT INTO logstore_events VALUES (7, 'v3doc', 5, NULL, NULL, NULL, NULL, NULL,
    '{"@timestamp":"1970-01-01T00:00:00.005Z","message":"legacy words","event":{"id":"v3doc"}}');
INSERT INTO logstore_fts (rowid, message) VALUES (7, 'legacy words');
"""


def test_version_3_file_moves_its_index_to_the_side_file(tmp_path: Path) -> None:
    """A schema-3 file drops its in-file FTS tables; its docs stay searchable by text; rowids go on above."""
    path = tmp_path / "v3.db"
    conn = apsw.Connection(str(path))
    conn.execute(_V3_DDL)
    conn.close()
    store = _open(path)
    try:
        tables = {
            n for (n,) in store.conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")
        }
        assert "logstore_fts" not in tables
        assert [h.id for h in store.search("legacy")] == ["v3doc"]
        store.write([_doc("v4doc", "modern words", 6)])
        assert [h.id for h in store.search("words")] == ["v3doc", "v4doc"]
        rowids = [r for (r,) in store.conn.execute("SELECT rowid FROM logstore_events ORDER BY rowid")]
        assert rowids == [7, 8]
    finally:
        store.close()


_WRITER = """
import sys
import threading
from pathlib import Path
from logstore import Doc
from logstore.config import SqliteConfig
from logstore.sqlite import SqliteStore
from logstore.types import format_ts
path, name = Path(sys.argv[1]), sys.argv[2]
store = SqliteStore(SqliteConfig(path=path))
for k in range(40):
    docs = [
        Doc(f"{name}-{k}-{i}", 1_700_000_000_000 + i, {"@timestamp": format_ts(1_700_000_000_000 + i),
            "message": f"shared word {name}", "event": {"id": f"{name}-{k}-{i}"}})
        for i in range(50)
    ]
    store.write(docs)
store.close()
"""


def test_two_writer_processes_index_every_doc_once(tmp_path: Path) -> None:
    """Two writing processes, each with its indexer, and a reader: every doc is indexed exactly once."""
    path = tmp_path / "shared.db"
    reader = _open(path)
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name], cwd=root)
        for name in ("one", "two")
    ]
    try:
        seen = [reader.count("shared") for _ in range(5)]  # racing the writers: never more than written
        assert all(n <= 4000 for n in seen)
        assert [p.wait(timeout=60) for p in procs] == [0, 0]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    try:
        assert reader.count("shared") == 4000
        assert reader.count("one") == reader.count("two") == 2000
        docs_with_word = reader.conn.execute(
            "SELECT doc FROM fts.logstore_fts_vocab WHERE term = 'shared'"
        ).fetchone()[0]
        assert docs_with_word == 4000  # an overlap of the two indexers would have counted rows twice
        assert _watermark(path) == reader.conn.execute("SELECT max(rowid) FROM logstore_events").fetchone()[0]
    finally:
        reader.close()


def test_duplicate_in_a_batch_indexes_only_the_stored_text(tmp_path: Path, lagging: None) -> None:
    """The writer hands its texts to the indexer; a duplicate id's new text is not stored, so not indexed."""
    store = _open(tmp_path / "logs.db")
    try:
        store.write([_doc("a", "first words")])
        results = store.write([_doc("a", "sneaky replacement"), _doc("b", "second words")])
        assert [r.outcome for r in results] == [Outcome.DUPLICATE, Outcome.CREATED]
        assert store.count("sneaky") == 0
        assert sorted(h.id for h in store.search("words")) == ["a", "b"]
        words = {t for (t,) in store.conn.execute("SELECT term FROM fts.logstore_fts_vocab")}
        assert "sneaky" not in words and "second" in words
    finally:
        store.close()


def test_close_racing_the_indexers_wake_up_does_not_hang(tmp_path: Path) -> None:
    """A close() that lands while the indexer takes a wake-up still stops it (it used to wait forever)."""
    clearing, closing = threading.Event(), threading.Event()

    class RacingWake(threading.Event):
        def set(self) -> None:
            super().set()
            if store._fts._stop.is_set():
                closing.set()  # close() has set both flags

        def clear(self) -> None:
            clearing.set()
            closing.wait(5)  # the indexer decided not to stop; close() runs now, then it clears
            super().clear()

    store = _open(tmp_path / "logs.db")
    store._fts._wake = RacingWake()
    store.write([_doc("a", "hello")])  # starts the indexer and wakes it
    assert clearing.wait(5)
    closer = threading.Thread(target=store.close, daemon=True)
    closer.start()
    closer.join(10)
    assert not closer.is_alive()


_THREE_WRITER = """
import sys, time
from logstore.config import SqliteConfig
from logstore.sqlite import SqliteStore
from logstore.types import Doc, format_ts
store = SqliteStore(SqliteConfig(path=sys.argv[1]))
k, now = sys.argv[2], int(time.time() * 1000)
for b in range(60):
    store.write([Doc(f"{k}-{b}-{i}", now, {"@timestamp": format_ts(now), "message": f"word{k} {b} {i}",
                                           "event": {"id": f"{k}-{b}-{i}"}}) for i in range(300)])
store.close()
"""


def test_writers_in_three_processes_never_rebuild_the_index(tmp_path: Path) -> None:
    """Three processes writing one store at once (three shippers on one host, or a shipper and the
    alerter): the index is never taken for 'ahead of its store' and rebuilt, and text queries find
    every doc of each writer."""
    db = tmp_path / "s.db"
    SqliteStore(SqliteConfig(path=db)).close()
    procs = [
        subprocess.Popen([sys.executable, "-c", _THREE_WRITER, str(db), k], stderr=subprocess.PIPE, text=True)
        for k in "abc"
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert not any("ahead of its store" in e for e in errors), errors
    store = SqliteStore(SqliteConfig(path=db))
    try:
        assert [store.count(f"word{k}") for k in "abc"] == [18_000] * 3
    finally:
        store.close()
