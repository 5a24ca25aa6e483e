"""The embedded SQLite store: one file of events (WAL), FTS5 on message in a side file.

Guarantees:
- ``write`` is one transaction per call and idempotent by id (DUPLICATE for ids stored already or
  repeated in the batch); a doc that cannot be stored is REJECTED without sinking the batch.
- ``search`` streams in keyset pages on (ts, id), so memory stays flat however many hits match, and
  no read transaction stays open between pages (the writer's checkpoints are never held back).
- Committed writes are visible to readers in other processes (WAL). The full-text index is built
  behind the writer on another thread (``_fts.py``); a text query first brings it up to date, so
  searches stay exact; ``refresh`` waits for it.
- Writes go through their own connection, without the index file attached, so a write transaction
  never holds the index's lock (and the indexer never holds up a write).
- A writing store checkpoints the WAL from a background thread on its own connection (PASSIVE, never
  blocking readers or the writer), so ``write`` never pays for a checkpoint's page copies and fsync
  (``_checkpoint.py``; also where the optional drop-behind lives).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import apsw
import orjson

from logstore._source import MAX_DEPTH, cap_nesting, prepare_source, serialize
from logstore._sqlite_library import open_connection
from logstore.config import SqliteConfig
from logstore.protocol import Order
from logstore.query import parse_query
from logstore.sqlite._aggregate import run_aggregate
from logstore.sqlite._checkpoint import Checkpointer
from logstore.sqlite._fts import FtsIndex, fts_text_of_doc
from logstore.sqlite._schema import (
    connect,
    describe,
    ensure_indexes,
    read_only_uri,
    scalar,
    store_id,
    transaction,
)
from logstore.sqlite._translate import Where, fts_text, sql_ip_in, sql_regexp, window
from logstore.types import (
    AggRequest,
    AggResult,
    Cursor,
    Doc,
    Health,
    Hit,
    Outcome,
    RetentionResult,
    StoreError,
    WriteResult,
    datetime_to_ms,
)

_INSERT_EVENT = (
    "INSERT OR IGNORE INTO logstore_events (rowid, id, ts, service, level, host, doc, status, duration)"
    " VALUES (?, ?, ?, ?, ?, ?, CAST(? AS TEXT), ?, ?)"
)
_DELETE_FTS = "INSERT INTO fts.logstore_fts (logstore_fts, rowid, message) VALUES ('delete', ?, ?)"
_RETENTION_CHUNK = 5000


def _prepare(doc: Doc, texts: list[str | None] | None = None) -> list[Any]:
    """The events row (rowid filled in later), or ValueError/TypeError; ``texts`` gets the doc's
    full-text (what ``fts_text`` makes of its message) when the row is returned.

    This runs once per doc on the ingest path, so it sticks to cheap checks: exact type tests, and
    re-serializing only when the doc must change (dotted keys, event.id missing).
    """
    doc_id = doc.id
    source = doc.source
    ts = doc.ts
    if type(doc_id) is not str or not doc_id:
        raise ValueError("missing id")
    if type(source) is not dict:
        raise ValueError("source is not an object")
    if "@timestamp" not in source:
        raise ValueError("missing @timestamp")
    if type(ts) is not int:
        raise ValueError("ts is not epoch milliseconds")
    raw = doc.raw
    if not (doc.final and raw is not None):  # final: the producer vouches for the stored shape
        fixed = prepare_source(source, doc_id)
        if fixed is not None:
            source = fixed
            raw = None
    event = source.get("event")
    if type(event) is not dict:
        raise ValueError("event is not an object")
    if raw is None:
        source, raw = serialize(source)
    elif not doc.final:
        raw.decode()  # UnicodeDecodeError: a caller's bytes must be UTF-8 (orjson's and the shipper's are)
    # nested_deeper_than, inlined: this runs once per doc on the ingest path.
    if (
        2 * len(raw) - len(raw.replace(b"{", b"")) - len(raw.replace(b"[", b"")) > MAX_DEPTH
        and (capped := cap_nesting(source)) is not None
    ):
        # Deeper than SQLite's JSON functions read: one such doc would fail every query over it.
        source, raw = capped, orjson.dumps(capped)
    # One field at a time, never by catching a KeyError: most docs lack one of the five (app logs
    # have no http, few have event.duration), and a raised exception costs more than all five gets.
    obj = source.get("service")
    service = obj.get("name") if type(obj) is dict else None
    obj = source.get("log")
    level = obj.get("level") if type(obj) is dict else None
    obj = source.get("host")
    host = obj.get("name") if type(obj) is dict else None
    obj = source.get("http")
    obj = obj.get("response") if type(obj) is dict else None
    status = obj.get("status_code") if type(obj) is dict else None
    duration = event.get("duration")
    if texts is not None:
        message = source.get("message")
        texts.append(message if type(message) is str else fts_text(message))
    # Hot columns hold strings only (numbers only, for the last two); anything else stays NULL and
    # queries read the JSON instead.
    return [
        0,
        doc_id,
        ts,
        service if type(service) is str else None,
        level if type(level) is str else None,
        host if type(host) is str else None,
        raw,  # bytes, stored as TEXT by the statement's CAST: no str made and freed per doc
        status if type(status) is int or type(status) is float else None,
        duration if type(duration) is int or type(duration) is float else None,
    ]


class SqliteStore:
    """``logstore.protocol.Store`` on one SQLite file. Thread-safe: one connection behind a lock."""

    name = "sqlite"

    def __init__(self, config: SqliteConfig, *, page_size: int = 1000, create: bool = True) -> None:
        """``create=False``: a reader. The file must exist (else StoreError ``no store at PATH``) and
        is opened read-only, so read permission is enough; ``write`` and ``retention`` then fail."""
        self.config = config
        self.path = Path(config.path)
        self.page_size = max(1, page_size)
        self._lock = threading.RLock()
        busy = config.busy_timeout.total_seconds()
        self._conn: apsw.Connection | None = connect(self.path, busy, create=create)
        self._read_only = not create
        self._wconn: apsw.Connection | None = None  # the write connection, opened by the first write
        self._conn.create_scalar_function("logstore_regexp", cast(Any, sql_regexp), 2, deterministic=True)
        self._conn.create_scalar_function("logstore_ip_in", cast(Any, sql_ip_in), 2, deterministic=True)
        self._indexed = frozenset(config.indexed_fields)
        try:
            if self._indexed and create:  # a reader's queries work without them, only slower
                ensure_indexes(self._conn, config.indexed_fields)
            self._fts = FtsIndex(self.path, store_id(self._conn), busy)
            if create or not self._fts.path.exists():
                self._fts.open()
            if create:
                self._conn.execute("ATTACH DATABASE ? AS fts", (str(self._fts.path),))
            else:
                # Read-only like the main file; a text query's catch-up writes the index through
                # its own connection where permitted, and warns once where not (FtsIndex).
                self._conn.execute("ATTACH DATABASE ? AS fts", (read_only_uri(self._fts.path),))
        except apsw.Error as e:
            self._conn.close()
            raise StoreError(describe(self.path, e)) from None
        self._checkpointer: Checkpointer | None = None  # started by the first write

    # ---- plumbing --------------------------------------------------------------------------------

    @property
    def conn(self) -> apsw.Connection:
        if self._conn is None:
            raise StoreError(describe(self.path, RuntimeError("store is closed")))
        return self._conn

    def _fail(self, err: apsw.Error) -> StoreError:
        return StoreError(describe(self.path, err))

    # ---- write -----------------------------------------------------------------------------------

    def write(self, docs: Sequence[Doc]) -> list[WriteResult]:
        results = self.write_unless_all_created(docs)
        if results is None:
            return [WriteResult(doc.id, Outcome.CREATED) for doc in docs]
        return results

    def write_unless_all_created(self, docs: Sequence[Doc]) -> list[WriteResult] | None:
        """``write``, but None when every doc was created: no per-doc results to build on the hot
        path. Not part of the Store protocol; the shipper's pipeline looks it up."""
        results: list[WriteResult | None] = [None] * len(docs)
        index: list[int] = []
        rows: list[list[Any]] = []
        texts: list[str | None] = []
        for i, doc in enumerate(docs):
            try:
                row = _prepare(doc, texts)
            except (ValueError, TypeError, UnicodeDecodeError, orjson.JSONEncodeError) as e:
                reason = str(e) or type(e).__name__
                results[i] = WriteResult(str(getattr(doc, "id", "")), Outcome.REJECTED, reason)
                continue
            index.append(i)
            rows.append(row)
        if not rows:
            return [r for r in results if r is not None]
        with self._lock:
            created = self._insert(rows, texts)
        if created is None and len(rows) == len(docs):
            return None
        created_, duplicate = Outcome.CREATED, Outcome.DUPLICATE
        for k, (i, row) in enumerate(zip(index, rows, strict=True)):
            results[i] = WriteResult(row[1], created_ if created is None or created[k] else duplicate)
        return [r for r in results if r is not None]

    def _writer(self) -> apsw.Connection:
        if self._wconn is None:
            self.conn  # noqa: B018 - raises when the store is closed
            if self._read_only:
                raise StoreError(describe(self.path, RuntimeError("opened read-only, for reading")))
            busy = self.config.busy_timeout.total_seconds()
            try:
                wconn = open_connection(self.path, busy)
                wconn.execute("PRAGMA synchronous = NORMAL")
                wconn.execute("PRAGMA cache_size = -32768")
                # Readers keep SQLite's autocheckpoint (it never fires for them); the writer hands
                # the work to its own thread.
                wconn.execute("PRAGMA wal_autocheckpoint = 0")
            except apsw.Error as e:
                raise self._fail(e) from None
            self._wconn = wconn
            self._checkpointer = Checkpointer(
                self.path,
                busy,
                self._lock,
                int(scalar(wconn, "PRAGMA page_size")),
                drop_behind=self.config.drop_behind,
            )
        return self._wconn

    def _insert(self, rows: list[list[Any]], texts: list[str | None]) -> list[bool] | None:
        """Insert in one transaction; answer per row whether it was new (False: a duplicate id), or
        None when every row was."""
        conn = self._writer()
        try:
            with transaction(conn, "BEGIN IMMEDIATE"):
                base: int = scalar(
                    conn,
                    "SELECT max(coalesce((SELECT max(rowid) FROM logstore_events), 0),"
                    " (SELECT value FROM logstore_meta WHERE key = 'rowid_hwm'))",
                )
                for k, row in enumerate(rows, base + 1):
                    row[0] = k
                before = conn.total_changes()
                conn.executemany(_INSERT_EVENT, rows)
                created: list[bool] | None = None  # the common case: no duplicate at all
                if conn.total_changes() - before != len(rows):
                    # OR IGNORE skipped duplicates; the rowids present in our fresh range are the new docs.
                    present = {
                        r
                        for (r,) in conn.execute(
                            "SELECT rowid FROM logstore_events WHERE rowid > ? AND rowid <= ?",
                            (base, base + len(rows)),
                        )
                    }
                    created = [row[0] in present for row in rows]
                conn.execute(
                    "UPDATE logstore_meta SET value = ? WHERE key = 'rowid_hwm'", (base + len(rows),)
                )
        except apsw.Error as e:
            raise self._fail(e) from None
        if self._checkpointer is not None:
            self._checkpointer.wrote(len(rows))
        if created is not None:
            texts = [t if new else None for t, new in zip(texts, created, strict=True)]
        self._fts.feed(base, texts)
        return created

    # ---- search ----------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        order: Order = "asc",
        limit: int | None = None,
        after: Cursor | None = None,
    ) -> Iterator[Hit]:
        where, cond = self._where(query, start, end)  # a QueryError now, before the first next()
        return self._pages(where, cond, order, limit, after)

    def _where(self, query: str, start: datetime | None, end: datetime | None) -> tuple[Where, str]:
        """The WHERE clause of a search or count (building it may read the FTS vocabulary)."""
        node = parse_query(query)
        with self._lock:
            where = Where(self.conn, query, indexed=self._indexed, before_text=self._fts.try_catch_up)
            try:
                return where, f"{window(where, _ms(start), _ms(end))} AND {where.node(node)}"
            except apsw.Error as e:
                raise self._fail(e) from None

    def search_raw(
        self,
        query: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        order: Order = "asc",
        limit: int | None = None,
        after: Cursor | None = None,
    ) -> Iterator[tuple[Cursor, bytes]]:
        """``search``, but each hit is its cursor and the stored doc as one line of JSON bytes.

        Not part of the Store protocol: an optional fast path for callers that pass docs on
        unchanged (``logq -o json``), skipping a parse and a re-serialization per hit. Same hits,
        same order as ``search``; the bytes parse to the same value as ``Hit.source``.
        """
        where, cond = self._where(query, start, end)
        return self._raw_pages(where, cond, order, limit, after)

    def _raw_pages(
        self, where: Where, cond: str, order: Order, limit: int | None, after: Cursor | None
    ) -> Iterator[tuple[Cursor, bytes]]:
        loads, dumps = orjson.loads, orjson.dumps
        for rows in self._rows(where, cond, order, limit, after):
            for doc_id, ts, doc in rows:
                # A doc stored from a caller's pretty-printed raw bytes must still be one line.
                # 10 is a newline: an int needle is a plain memchr; bytes(b"\n") would first raise and
                # clear a TypeError (CPython tries it as an int), ~1,700 instructions a hit.
                yield Cursor(ts, doc_id), (dumps(loads(doc)) if 10 in doc else doc)

    def _pages(
        self, where: Where, cond: str, order: Order, limit: int | None, after: Cursor | None
    ) -> Iterator[Hit]:
        loads = orjson.loads
        for rows in self._rows(where, cond, order, limit, after):
            for doc_id, ts, doc in rows:
                yield Hit(doc_id, ts, loads(doc))

    def _rows(
        self, where: Where, cond: str, order: Order, limit: int | None, after: Cursor | None
    ) -> Iterator[list[tuple[str, int, bytes]]]:
        """Pages of (id, ts, doc bytes) in (ts, id) order: keyset pagination that seeks.

        Each page moves the window's own time bound up to the cursor (SQLite uses one lower bound
        of ``ts`` for the index range; with the window start it re-walked every earlier page, which
        made one long search quadratic), and ``ts > k OR (ts = k AND id > kid)`` drops the ties
        already returned.
        """
        desc = order == "desc"
        direction = "DESC" if desc else "ASC"
        cmp = "<" if desc else ">"
        keyset = f"(e.ts {cmp} :kts OR (e.ts = :kts AND e.id {cmp} :kid))"
        # CAST: the stored TEXT comes back as its UTF-8 bytes, with no str decode to undo later.
        first = f"SELECT e.id, e.ts, CAST(e.doc AS BLOB) FROM logstore_events e WHERE {cond}"
        base_sql = f"{first} ORDER BY e.ts {direction}, e.id {direction} LIMIT :lim"
        # The cursor's own bound goes first, so the planner takes it for the index range.
        bound = f"e.ts {cmp}= :kts"
        keyed_sql = (
            f"{first.replace(' WHERE ', f' WHERE {bound} AND ', 1)} AND {keyset}"
            f" ORDER BY e.ts {direction}, e.id {direction} LIMIT :lim"
        )
        params = dict(where.params)
        # The window bound on the side the pages move towards; None when the window is open there.
        moving = where.end_param if desc else where.start_param
        window_bound: int = params[moving] if moving is not None else 0
        remaining = limit
        cursor = after
        while remaining is None or remaining > 0:
            size = self.page_size if remaining is None else min(self.page_size, remaining)
            params["lim"] = size
            if cursor is not None:
                params["kts"], params["kid"] = cursor.ts, cursor.id
                if moving is not None:
                    if desc:
                        params[moving] = min(window_bound, cursor.ts + 1)
                    else:
                        params[moving] = max(window_bound, cursor.ts)
            with self._lock:
                try:
                    rows = cast(
                        list[tuple[str, int, bytes]],
                        self.conn.execute(keyed_sql if cursor is not None else base_sql, params).fetchall(),
                    )
                except apsw.Error as e:
                    raise self._fail(e) from None
            if rows:
                yield rows
            if len(rows) < size:
                return
            cursor = Cursor(rows[-1][1], rows[-1][0])
            if remaining is not None:
                remaining -= len(rows)

    def count(self, query: str, start: datetime | None = None, end: datetime | None = None) -> int:
        with self._lock:  # re-entrant: _where takes it too
            where, cond = self._where(query, start, end)
            try:
                count: int = scalar(
                    self.conn, f"SELECT count(*) FROM logstore_events e WHERE {cond}", where.params
                )
            except apsw.Error as e:
                raise self._fail(e) from None
        return count

    def aggregate(self, requests: Sequence[AggRequest]) -> list[AggResult]:
        with self._lock:
            try:
                return [
                    run_aggregate(self.conn, req, self._indexed, self._fts.try_catch_up) for req in requests
                ]
            except apsw.Error as e:
                raise self._fail(e) from None

    # ---- housekeeping ----------------------------------------------------------------------------

    def retention(self, now: datetime | None = None) -> RetentionResult:
        if self.config.retention is None:
            return RetentionResult(deleted_docs=0)
        now = now or datetime.now(UTC)
        cutoff = datetime_to_ms(now) - int(self.config.retention.total_seconds() * 1000)
        deleted = 0
        conn = self.conn
        # Chunks keep each transaction short, so the shipper's writes interleave with a big purge.
        while True:
            with self._lock:
                try:
                    # Both files locked (this connection has the index attached): no indexer adds a
                    # row of this chunk to the index between reading the watermark and deleting.
                    with transaction(conn, "BEGIN IMMEDIATE"):
                        conn.execute("UPDATE fts.logstore_fts_state SET watermark = watermark")
                        mark = scalar(conn, "SELECT watermark FROM fts.logstore_fts_state")
                        self._fts.forget_fed()
                        rows = conn.execute(
                            "SELECT rowid, doc FROM logstore_events WHERE ts < ? LIMIT ?",
                            (cutoff, _RETENTION_CHUNK),
                        ).fetchall()
                        fts_rows = []
                        for rowid, doc in rows:
                            if rowid > mark:
                                continue  # not indexed yet, and never will be once deleted
                            text = fts_text_of_doc(doc)
                            if text is not None:
                                fts_rows.append((rowid, text))
                        conn.executemany(_DELETE_FTS, fts_rows)
                        conn.executemany(
                            "DELETE FROM logstore_events WHERE rowid = ?", [(r,) for r, _ in rows]
                        )
                except apsw.Error as e:
                    raise self._fail(e) from None
            deleted += len(rows)
            if len(rows) < _RETENTION_CHUNK:
                break
        return RetentionResult(deleted_docs=deleted)

    def refresh(self) -> None:
        """Bring the full-text index up to the last committed write (queries do it themselves too)."""
        try:
            self._fts.catch_up()
        except apsw.Error as e:
            raise self._fail(e) from None

    def health(self) -> Health:
        try:
            with self._lock:
                self.conn.execute("SELECT max(rowid) FROM logstore_events").fetchone()
        except (apsw.Error, StoreError) as e:
            return Health(False, describe(self.path, e) if isinstance(e, apsw.Error) else str(e))
        return Health(True, f"sqlite store {self.path}: ok")

    def close(self) -> None:
        self._fts.close()
        with self._lock:
            checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()  # not under the lock: its last pass may be waiting for it
        with self._lock:
            if self._wconn is not None:
                self._wconn.close()
                self._wconn = None
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None


def _ms(dt: datetime | None) -> int | None:
    return None if dt is None else datetime_to_ms(dt)
