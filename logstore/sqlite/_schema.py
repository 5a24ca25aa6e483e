"""All DDL of the SQLite backend, the schema version, and how a connection is opened.

Guarantees: WAL journal (readers in other processes see committed writes while one writer
writes), ``synchronous=NORMAL`` (a crash can lose the last transactions, never corrupt the file),
and a busy timeout from the config so short lock contention waits instead of failing.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import apsw

from logstore._sqlite_library import open_connection
from logstore.types import StoreError

SCHEMA_VERSION = 4
# New files get 16 KiB pages (SQLite's default is 4): measured ~20 % more docs per CPU-second on
# ingest (fewer pages, fewer WAL frames per row), window aggregates no slower. An existing file keeps
# its page size: changing it would mean VACUUM, rewriting the whole store.
PAGE_SIZE = 16384

# Hot columns: the ECS fields alert rules filter, group and measure most, copied out of the JSON at
# write time so a window aggregate reads no JSON (parsing a ~600-byte doc costs more than the rest of
# the row). A string column holds the value only when it is a string, a numeric one only a number;
# any other shape (array, bool, missing) leaves NULL and queries fall back to the JSON for that row.
HOT_COLUMNS: dict[str, str] = {
    "service.name": "service",
    "log.level": "level",
    "host.name": "host",
}
HOT_NUMBERS: dict[str, str] = {
    "http.response.status_code": "status",
    "event.duration": "duration",
}

_TIME_INDEX = (
    "CREATE INDEX IF NOT EXISTS logstore_events_time"
    " ON logstore_events (ts, service, level, host, status, duration)"
)

_META = "CREATE TABLE IF NOT EXISTS logstore_meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID"
_META_ROWS = (
    "INSERT OR IGNORE INTO logstore_meta VALUES ('store_id', lower(hex(randomblob(16)))),"
    " ('rowid_hwm', (SELECT coalesce(max(rowid), 0) FROM logstore_events))"
)

_DDL = (
    """CREATE TABLE IF NOT EXISTS logstore_schema (
        version INTEGER NOT NULL
    )""",
    # rowid is an alias for the INTEGER PRIMARY KEY; the writer allocates it, so the FTS rows can be
    # inserted with the same rowid without reading anything back.
    """CREATE TABLE IF NOT EXISTS logstore_events (
        rowid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        ts INTEGER NOT NULL,
        service TEXT,
        level TEXT,
        host TEXT,
        status INTEGER,
        duration INTEGER,
        doc TEXT NOT NULL  -- last: a big doc spills to overflow pages without moving the hot columns
    )""",
    # The time index carries the hot columns: a window aggregate on them is an index-only scan (the
    # table row, and its JSON, is read only for rows whose hot column is NULL), ~4x faster than
    # seeking each row. Still the index for time ranges and for the (ts, id) search order.
    _TIME_INDEX,
    # The full-text index lives in a side file (see _fts.py). store_id ties that file to this one;
    # rowid_hwm is the highest rowid ever handed out, so a rowid is never reused (the index may still
    # hold an entry for a deleted row until it is cleaned up).
    _META,
    _META_ROWS,
)


@contextmanager
def transaction(conn: apsw.Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
    """One transaction around the block: committed when it ends, rolled back when it raises."""
    conn.execute(begin)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def scalar(conn: apsw.Connection, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
    """The first column of the statement's first row (None: no row)."""
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def describe(path: Path, err: BaseException) -> str:
    reason = str(err) or type(err).__name__
    return f"sqlite store {path}: {reason}"


def connect(path: Path, busy_timeout_s: float, *, create: bool = True) -> apsw.Connection:
    """Open (creating parent dirs and schema on first use) or raise StoreError with one line.

    ``create=False`` (readers: logq, ``alerter status``): open an existing store read-only, never
    creating, migrating or writing anything in it (see ``connect_reader``).
    """
    if not create:
        return connect_reader(path, busy_timeout_s)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(describe(path, e)) from None
    try:
        conn = open_connection(path, busy_timeout_s)
    except apsw.Error as e:
        raise StoreError(describe(path, e)) from None
    try:
        if scalar(conn, "PRAGMA page_count") == 0:
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # only a new, empty file takes it
        mode = scalar(conn, "PRAGMA journal_mode = WAL")
        if str(mode).lower() != "wal":
            raise StoreError(describe(path, RuntimeError(f"cannot switch to WAL mode (got {mode})")))
        conn.execute("PRAGMA synchronous = NORMAL")
        # 32 MiB keeps the id/ts indexes hot while ingesting; 64 MiB measured no faster and pushed the
        # shipper past its 150 MB RSS budget.
        conn.execute("PRAGMA cache_size = -32768")
        # temp_store stays at its default: measured, MEMORY made GROUP BY's sorter twice as slow.
        # 40 MB of WAL between checkpoints (default 4 MB): each checkpoint fsyncs, so fewer is faster
        # under a steady ingest, and readers still find recent pages through the WAL index.
        conn.execute("PRAGMA wal_autocheckpoint = 10000")
        _migrate(conn, path)
    except apsw.Error as e:
        conn.close()
        raise StoreError(describe(path, e)) from None
    except StoreError:
        conn.close()
        raise
    return conn


def no_store(path: Path) -> str:
    return f"no store at {path} (nothing shipped yet? check store.sqlite.path)"


def read_only_uri(path: Path) -> str:
    """The SQLite URI that opens ``path`` read-only (``mode=ro``).

    A WAL file is readable only if its -shm file exists or can be created. When no writer has the
    file open (no -wal) and its directory is not writable, SQLite's own answer is ``immutable=1``:
    the file is read as it is, without locks. Sound, as nothing writes it while no -wal exists; a
    writer that starts later is not seen by this connection.
    """
    params = "mode=ro"
    if not Path(f"{path}-wal").exists() and not os.access(path.absolute().parent, os.W_OK):
        params += "&immutable=1"
    return f"file:{urllib.parse.quote(str(path.absolute()))}?{params}"


def open_read_only(path: Path, busy_timeout_s: float) -> apsw.Connection:
    """A connection to an existing file opened with SQLITE_OPEN_READONLY; raises apsw.Error.
    URI filenames are on, so files it attaches can be read-only too (``read_only_uri``)."""
    conn = apsw.Connection(read_only_uri(path), flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    conn.set_busy_timeout(int(busy_timeout_s * 1000))
    return conn


def _unreadable(path: Path) -> str | None:
    """Why this process cannot read ``path``, naming the permission missing (None: it can)."""
    parent = path.absolute().parent
    if not os.access(parent, os.X_OK):
        return f"sqlite store {path}: permission denied: no search (x) permission on the directory {parent}"
    if not os.access(path, os.R_OK):
        return f"sqlite store {path}: permission denied: no read permission on the file"
    return None


def connect_reader(path: Path, busy_timeout_s: float) -> apsw.Connection:
    """Open an existing store read-only: never creates, migrates or writes (a reader needs only read
    permission on the file). No file: StoreError ``no store at PATH``."""
    try:
        exists = path.is_file()
    except OSError as e:  # a directory on the way without search permission
        raise StoreError(_unreadable(path) or describe(path, e)) from None
    if not exists:
        raise StoreError(no_store(path))
    problem = _unreadable(path)
    if problem is not None:
        raise StoreError(problem)
    try:
        conn = open_read_only(path, busy_timeout_s)
    except apsw.Error as e:
        raise StoreError(describe(path, e)) from None
    try:
        got = _version(conn)
    except apsw.Error as e:
        conn.close()
        raise StoreError(describe(path, e)) from None
    if got != SCHEMA_VERSION:
        conn.close()
        if got is None:
            reason = "not a logwarden store (no logstore_schema table)"
        elif got > SCHEMA_VERSION:
            reason = f"schema version {got} is newer than this logwarden ({SCHEMA_VERSION})"
        else:
            reason = (
                f"schema version {got} is older than this logwarden ({SCHEMA_VERSION}); "
                "`shipper run` upgrades it"
            )
        raise StoreError(describe(path, RuntimeError(reason)))
    return conn


# Upgrades from an older version, in order; each runs in the same transaction as the version bump.
_UPGRADES: dict[int, tuple[str, ...]] = {
    # 1 -> 2: numeric hot columns, filled from the stored docs.
    2: (
        "ALTER TABLE logstore_events ADD COLUMN status INTEGER",
        "ALTER TABLE logstore_events ADD COLUMN duration INTEGER",
        """UPDATE logstore_events SET
            status = CASE WHEN json_type(doc, '$.http.response.status_code') IN ('integer', 'real')
                          THEN json_extract(doc, '$.http.response.status_code') END,
            duration = CASE WHEN json_type(doc, '$.event.duration') IN ('integer', 'real')
                            THEN json_extract(doc, '$.event.duration') END""",
    ),
    # 2 -> 3: the time index covers the hot columns.
    3: (
        _TIME_INDEX,
        "DROP INDEX IF EXISTS logstore_events_ts",
    ),
    # 3 -> 4: the full-text index moves to the side file (rebuilt there from the docs on first use).
    4: (
        "DROP TABLE IF EXISTS logstore_fts_vocab",
        "DROP TABLE IF EXISTS logstore_fts",
        _META,
        _META_ROWS,
    ),
}


def store_id(conn: apsw.Connection) -> str:
    return str(scalar(conn, "SELECT value FROM logstore_meta WHERE key = 'store_id'"))


def _version(conn: apsw.Connection) -> int | None:
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'logstore_schema'"
    ).fetchone()
    if row is None:
        return None
    got = scalar(conn, "SELECT max(version) FROM logstore_schema")
    return None if got is None else int(got)


def _migrate(conn: apsw.Connection, path: Path) -> None:
    if _version(conn) == SCHEMA_VERSION:
        return
    with transaction(conn, "BEGIN IMMEDIATE"):
        got = _version(conn)  # again, under the write lock: another process may have just migrated
        if got is not None and got > SCHEMA_VERSION:
            reason = f"schema version {got} is newer than this logwarden ({SCHEMA_VERSION})"
            raise StoreError(describe(path, RuntimeError(reason)))
        if got is None:
            for stmt in _DDL:
                conn.execute(stmt)
            conn.execute("DELETE FROM logstore_schema")
            conn.execute("INSERT INTO logstore_schema (version) VALUES (?)", (SCHEMA_VERSION,))
        elif got < SCHEMA_VERSION:
            for version in range(got + 1, SCHEMA_VERSION + 1):
                for stmt in _UPGRADES[version]:
                    conn.execute(stmt)
            conn.execute("UPDATE logstore_schema SET version = ?", (SCHEMA_VERSION,))


# ---- indexed fields (store.sqlite.indexed_fields) -------------------------------------------------

INDEX_PREFIX = "logstore_ix_"


def indexed_expr(field: str, table: str = "") -> str:
    """The indexed expression of a field, in the one textual form the planner matches.

    SQLite uses an expression index only when a query contains the same expression, with the JSON
    path as a literal (a bound parameter is not the same expression), so the DDL and the translator
    both take it from here. The field name was validated by the query regex: no quote can occur.
    """
    from logstore.sqlite._translate import json_path  # the one path quoting; a cycle at import time

    return f"json_extract({table + '.' if table else ''}doc, '{json_path(field)}')"


def index_name(field: str) -> str:
    """``logstore_ix_<field>``; a field with characters outside [A-Za-z0-9_] gets a hash suffix too,
    so ``a.b`` and ``a_b`` never share a name."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", field)
    if safe != field:
        safe += "_" + hashlib.sha1(field.encode()).hexdigest()[:8]
    return INDEX_PREFIX + safe


def ensure_indexes(conn: apsw.Connection, fields: Sequence[str]) -> None:
    """Create the expression index of each field that lacks one (a reader pays nothing once built).

    ``(value, ts)``: an equality on the value leaves the time window as a range inside the index.
    Indexes of fields no longer configured are left in place (harmless: they only cost writes); a
    user drops one with ``DROP INDEX logstore_ix_...``. Building one reads every doc once.
    """
    existing = {
        name
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        if name.startswith(INDEX_PREFIX)
    }
    for field in fields:
        name = index_name(field)
        if name not in existing:
            expr = indexed_expr(field)
            conn.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON logstore_events ({expr}, ts)')
