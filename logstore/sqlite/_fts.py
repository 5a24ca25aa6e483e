"""The full-text index of ``message``: FTS5 in a side file, built behind the writer.

Why a side file and a second thread: FTS5 costs about as much per doc as everything else a write
does (measured: ~9 us of ~23 us per access-log doc). Built inside the writer's transaction it halves
ingest; built from the committed rows by one ``INSERT ... SELECT`` on another connection it runs in
SQLite's C code with the GIL released, on the other core, while the writer goes on. A separate file
has its own write lock, so the indexer never waits for the writer nor the writer for it.

The writer hands the indexer the texts it just committed (``feed``), so indexing its own rows reads
nothing back from the events file: no JSON parse, and no read snapshot of the events file held for a
whole indexing transaction (one would keep the store's checkpoints from restarting its WAL). Rows
written by another process, or texts dropped past ``MAX_FED``, are read back from the events file.

The contract stays exact: every text query first brings the index up to the last committed row
(``catch_up``, normally a few rows behind or none), so a search sees what was written before it,
like a refresh in Elasticsearch but never stale. The index records how far it got (its watermark)
in the same transaction as the rows it added, so a crash loses nothing: the next catch-up goes on
from there. It also records which store it belongs to; an index left over from another store (the
events file replaced or restored from an older copy) is rebuilt from scratch instead of trusted.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from pathlib import Path
from typing import Any, cast

import apsw
import orjson

from logstore._sqlite_library import open_connection
from logstore.sqlite._schema import scalar, transaction
from logstore.sqlite._translate import fts_text

log = logging.getLogger("logstore.sqlite")

SUFFIX = ".fts"
# Rows per indexing transaction: big enough to amortize the commit and the FTS5 segment flush,
# small enough that a reader's catch-up never holds the index lock for long.
CHUNK = 50_000
AUTOMERGE = 16
# How long the background indexer lets commits gather before indexing them in one transaction.
GATHER_S = 0.25

_DDL = (
    "CREATE TABLE IF NOT EXISTS logstore_fts_state (store TEXT NOT NULL, watermark INTEGER NOT NULL)",
    # Contentless: the message text lives once, in the doc JSON. Deleting an FTS row therefore
    # needs the original text (the 'delete' command); retention recomputes it from the doc.
    # remove_diacritics 0: Elasticsearch's standard analyzer keeps diacritics too.
    """CREATE VIRTUAL TABLE IF NOT EXISTS logstore_fts USING fts5(
        message, content='', columnsize=0, tokenize='unicode61 remove_diacritics 0'
    )""",
    "CREATE VIRTUAL TABLE IF NOT EXISTS logstore_fts_vocab USING fts5vocab(logstore_fts, 'row')",
)
_DROP = ("DROP TABLE IF EXISTS logstore_fts_vocab", "DROP TABLE IF EXISTS logstore_fts")

# The indexed text of a doc: a string message as it is (all of it in C); any other shape goes
# through fts_text, the same function retention uses to delete it again.
TEXT_SQL = (
    "CASE json_type(doc, '$.message') WHEN 'text' THEN json_extract(doc, '$.message')"
    " WHEN 'null' THEN NULL ELSE logstore_fts_text(doc) END"
)
# Rows handed over by this process's writer: rowid ?1 + 1 + position, the text as it was written
# (JSON null for a row without text or not inserted). One bound value per chunk, parsed in C.
_INDEX_FED = (
    "INSERT INTO logstore_fts (rowid, message)"
    " SELECT ?1 + 1 + key, value FROM json_each(?2) WHERE value IS NOT NULL"
)
# Texts a writer may leave waiting before the indexer drops them and reads the rows back instead.
MAX_FED = 200_000
_INDEX = (
    "INSERT INTO logstore_fts (rowid, message)"
    f" SELECT rowid, t FROM (SELECT rowid, {TEXT_SQL} AS t FROM ev.logstore_events"
    " WHERE rowid > ? AND rowid <= ?) WHERE t IS NOT NULL"
)


def fts_text_of_doc(doc: Any) -> str | None:
    """SQL function ``logstore_fts_text(doc)``: the indexed text of a stored doc's message."""
    if doc is None:
        return None
    try:
        value = orjson.loads(doc)
    except orjson.JSONDecodeError:
        return None
    return fts_text(value.get("message")) if isinstance(value, dict) else None


def _rowid_hwm(conn: apsw.Connection) -> int | None:
    """The events file's highest rowid ever handed out (None: a file from before it was recorded)."""
    value = scalar(conn, "SELECT value FROM ev.logstore_meta WHERE key = 'rowid_hwm'")
    return None if value is None else int(value)


def side_path(events_path: Path) -> Path:
    return Path(str(events_path) + SUFFIX)


def create(conn: apsw.Connection) -> None:
    """The index's tables in the main schema of ``conn`` (idempotent)."""
    for stmt in _DDL:
        conn.execute(stmt)
    # FTS5 merges segments once AUTOMERGE of one level exist (default 4). 16 measured 28 % less CPU
    # per indexed doc over 1M access-log docs (113k -> 157k docs per CPU-s) and the same query times
    # (a word in every 4th doc of 1M: 200 ms either way; 5-minute windows under 1 ms).
    conn.execute(f"INSERT INTO logstore_fts (logstore_fts, rank) VALUES ('automerge', {AUTOMERGE})")


class FtsIndex:
    """Keeps ``<store>.fts`` up to date with the committed rows of the events table.

    Thread-safe. ``catch_up`` indexes synchronously (a reader before a text query; ``refresh``);
    ``wake`` asks the background thread, started by the first call, to do it (the writer, after
    each commit).
    """

    def __init__(self, events_path: Path, store_id: str, busy_timeout_s: float) -> None:
        self.events_path = events_path
        self.path = side_path(events_path)
        self.store_id = store_id
        self.busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._conn: apsw.Connection | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned = False
        # (rowid before the first row, texts) handed over by this process's writer after its commits:
        # indexing them needs no read of the events file (no JSON parse, no read lock on its WAL).
        self._fed: deque[tuple[int, list[str | None]]] = deque()
        self._fed_rows = 0
        self._fed_lock = threading.Lock()

    # ---- the connection: the index file as main, the events file attached read-only in use ----

    def _connection(self) -> apsw.Connection:
        if self._conn is None:
            conn = open_connection(self.path, self.busy_timeout_s)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA cache_size = -16384")
                conn.create_scalar_function(
                    "logstore_fts_text", cast(Any, fts_text_of_doc), 1, deterministic=True
                )
                conn.execute("ATTACH DATABASE ? AS ev", (str(self.events_path),))
                with transaction(conn, "BEGIN IMMEDIATE"):
                    create(conn)
                    row = conn.execute("SELECT store, watermark FROM logstore_fts_state").fetchone()
                    if row is None:
                        conn.execute("INSERT INTO logstore_fts_state VALUES (?, 0)", (self.store_id,))
                    elif row[0] != self.store_id:
                        log.warning("full-text index %s belongs to another store: rebuilding it", self.path)
                        self._reset(conn)
                    elif self._ahead(int(row[1]), _rowid_hwm(conn)):
                        self._reset(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _ahead(self, mark: int, hwm: int | None, conn: apsw.Connection | None = None) -> bool:
        """Whether the index has seen rowids this events file never handed out (``hwm``, the highest
        it did): the file was replaced by an older copy, so rowids will be handed out again and the
        index must start over.

        ``conn``: ``hwm`` was read before the caller's transaction, so another process may have
        written and indexed rows since; before condemning the index, read it again (inside the
        transaction, holding the index's write lock, so ``mark`` cannot move meanwhile). Without
        this, writers in several processes rebuilt the whole index now and then.
        """
        if hwm is None or mark <= hwm:
            return False
        if conn is not None:
            hwm = _rowid_hwm(conn)
            if hwm is None or mark <= hwm:
                return False
        log.warning("full-text index %s is ahead of its store: rebuilding it", self.path)
        return True

    def _reset(self, conn: apsw.Connection) -> None:
        for stmt in _DROP:
            conn.execute(stmt)
        create(conn)
        conn.execute("DELETE FROM logstore_fts_state")
        conn.execute("INSERT INTO logstore_fts_state VALUES (?, 0)", (self.store_id,))

    def open(self) -> None:
        """Create the index file and its tables now (the store attaches it to its reader)."""
        with self._lock:
            self._connection()

    # ---- indexing ------------------------------------------------------------------------------

    def feed(self, base: int, texts: list[str | None]) -> None:
        """The writer committed rows ``base + 1 ..`` with these texts (None: not indexed); index them
        in the background. Dropped past ``MAX_FED`` rows waiting: catch-up reads them back instead."""
        with self._fed_lock:
            if self._fed_rows + len(texts) > MAX_FED:
                self._fed.clear()
                self._fed_rows = 0
            self._fed.append((base, texts))
            self._fed_rows += len(texts)
        self.wake()

    def forget_fed(self) -> None:
        """Drop the texts waiting to be indexed (catch-up reads those rows back instead). Retention
        calls it, holding the index's lock, before deleting rows the index has not reached: their
        texts must not be indexed after the rows are gone."""
        with self._fed_lock:
            self._fed.clear()
            self._fed_rows = 0

    def _fed_span(self, mark: int) -> tuple[int, int | None]:
        """(where the fed texts run on to without a gap from ``mark``, or ``mark``; the first fed
        rowid after a gap, or None)."""
        end = mark
        with self._fed_lock:
            for base, texts in self._fed:
                if base > end:
                    return end, base
                end = max(end, base + len(texts))
        return end, None

    def _take_fed(self, mark: int, upto: int) -> list[str | None] | None:
        """The fed texts of rows ``mark + 1 .. upto`` if all of them are waiting, else None. Fed rows
        up to ``upto`` are let go either way (they are indexed now, one way or the other)."""
        out: list[str | None] = []
        pos = mark
        with self._fed_lock:
            while self._fed and self._fed[0][0] < upto:
                base, texts = self._fed.popleft()
                self._fed_rows -= len(texts)
                end = base + len(texts)
                if end > upto:  # its tail waits for the next round
                    self._fed.appendleft((upto, texts[upto - base :]))
                    self._fed_rows += end - upto
                    end = upto
                if base <= pos < end:
                    out.extend(texts[pos - base : end - base])
                    pos = end
        return out if pos == upto else None

    def catch_up(self, interruptible: bool = False) -> int:
        """Index every committed row not indexed yet; the number of rows looked at.

        ``interruptible``: stop between transactions once ``close`` was called (the background
        thread: a closing writer must not wait for a long backlog; the next catch-up goes on).
        """
        done = 0
        with self._lock:
            conn = self._connection()
            while True:
                # How far the events file goes, read before the index's transaction: inside it, the
                # read would keep a snapshot of the events file open for the whole transaction, and
                # the store's checkpoints could neither copy past it nor start the WAL over.
                top = scalar(conn, "SELECT coalesce(max(rowid), 0) FROM ev.logstore_events")
                hwm = _rowid_hwm(conn)
                # Deferred BEGIN: the first statement takes the index file's write lock only (IMMEDIATE
                # would lock the attached events file too, and stall the writer). Taking it before
                # reading the watermark makes two indexers (two processes) take turns, never overlap.
                with transaction(conn, "BEGIN"):
                    conn.execute("UPDATE logstore_fts_state SET watermark = watermark")
                    mark = scalar(conn, "SELECT watermark FROM logstore_fts_state")
                    if self._ahead(mark, hwm, conn):
                        self._reset(conn)
                        mark = 0
                    # The writer's fed texts first (they may run past top: trailing duplicate rows).
                    fed_end, gap_end = self._fed_span(mark)
                    if fed_end > mark:
                        upto = min(fed_end, mark + CHUNK)
                        top = max(top, upto)
                    else:  # read the rows back from the events file, up to where fed texts resume
                        upto = min(top, mark + CHUNK, gap_end or top)
                    texts = self._take_fed(mark, upto) if upto > mark else None
                    if texts is not None:
                        conn.execute(_INDEX_FED, (mark, orjson.dumps(texts).decode()))
                        conn.execute("UPDATE logstore_fts_state SET watermark = ?", (upto,))
                    elif upto > mark:
                        conn.execute(_INDEX, (mark, upto))
                        conn.execute("UPDATE logstore_fts_state SET watermark = ?", (upto,))
                done += max(upto - mark, 0)
                if upto >= top or (interruptible and self._stop.is_set()):
                    return done

    def try_catch_up(self) -> None:
        """``catch_up`` for readers: a store they may not write to is searched as it is (warned once)."""
        try:
            self.catch_up()
        except apsw.Error as e:
            if not self._warned:
                self._warned = True
                log.warning(
                    "cannot update the full-text index %s: %s; text queries may miss new docs", self.path, e
                )

    def wake(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=f"logstore-fts {self.path}", daemon=True)
            self._thread.start()
        self._wake.set()

    def _loop(self) -> None:
        # close() sets _stop before _wake: a wake-up cleared below after close() began is not lost,
        # because _stop is then seen here (it was: a close racing the clear waited forever in join).
        while not self._stop.is_set():
            self._wake.wait()
            # Let writes pile up a little first: FTS5 flushes a segment and merges at every commit, so
            # one transaction of many rows costs less per doc than many small ones (1M docs indexed
            # in 50k-row transactions: ~4 us of CPU per doc). Queries catch up themselves meanwhile.
            if self._stop.wait(GATHER_S):
                return
            self._wake.clear()
            try:
                self.catch_up(interruptible=True)
            except apsw.Error as e:
                # Busy past the timeout or a broken file: readers catch up before text queries
                # anyway, so the next wake-up tries again.
                log.warning("full-text indexing of %s failed: %s", self.path, e)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
