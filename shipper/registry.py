"""The shipper's durable state: which files it knows and how far each is shipped, and the dead letters.

SQLite in WAL mode, all SQL of the shipper in this module, schema version in ``shipper_meta``.

Guarantees:
- ``shipper_journal.cursor`` is a journald input's committed cursor, under the same rule.
- ``shipper_files.offset`` is the *committed* offset: every doc of that file below it is acknowledged
  by the store (created, duplicate) or recorded in ``shipper_dlq``. It never moves on read.
- A file row is written (and synced) before any doc carrying its id is sent, so the doc ids of a
  re-read after a crash are the same.
- One connection, guarded by a lock: the reader thread (scans) and the sender threads (commits, dead
  letters) share it.
- One shipper per registry: ``lock_registry`` holds an exclusive OS lock on ``<registry>.lock`` for
  the life of ``shipper run`` (two would give the same file two identities and ship it twice). The
  kernel drops it when the process ends, however it ends (kill -9 included). Readers (``status``,
  ``check``, ``dlq list``) do not take it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw
import orjson

from logstore.sqlite import create_private, open_connection

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS shipper_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shipper_files (
    fid TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    gz INTEGER NOT NULL DEFAULT 0,
    fp_len INTEGER NOT NULL,
    fp_hash TEXT NOT NULL,
    offset INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    input INTEGER NOT NULL DEFAULT 0,
    last_seen REAL NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS shipper_journal (
    source TEXT PRIMARY KEY,
    cursor TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS shipper_dlq (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL,
    fid TEXT NOT NULL,
    offset INTEGER NOT NULL,
    path TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw BLOB NOT NULL,
    ts INTEGER NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1
);
"""


class RegistryError(Exception):
    """The registry cannot be opened (a one-line message naming the path)."""


class RegistryBusy(RegistryError):
    """Another process holds the registry's lock (another ``shipper run``)."""

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        holder = f"PID {pid}" if pid is not None else "another process"
        super().__init__(f"registry {path} is in use by {holder} (another shipper run?)")


class RegistryLock:
    """The exclusive lock of one registry, held until ``release`` or the end of the process."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1


def lock_path(registry: Path) -> Path:
    return registry.with_name(registry.name + ".lock")


def lock_registry(registry: Path) -> RegistryLock:
    """Take ``<registry>.lock`` (flock, non-blocking) and write our PID into it; ``RegistryBusy``
    naming the holder's PID when another process has it, ``RegistryError`` when it cannot be made."""
    path = lock_path(registry)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        create_private(path)
        fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise RegistryError(f"{path}: cannot create the registry lock: {e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise RegistryError(f"{path}: cannot lock the registry: {e}") from None
        raise RegistryBusy(registry, _holder(path)) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return RegistryLock(registry, fd)


def _holder(path: Path) -> int | None:
    """The PID the lock's holder wrote (it writes right after locking: give it a moment)."""
    for _ in range(50):
        try:
            text = path.read_text().strip()
        except OSError:
            return None
        if text.isdigit():
            return int(text)
        time.sleep(0.01)
    return None


@dataclass(slots=True)
class FileRow:
    fid: str
    path: str
    dev: int
    ino: int
    gz: bool
    fp_len: int
    fp_hash: str
    offset: int
    size: int
    input: int
    last_seen: float
    done: bool = False


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    doc_id: str
    fid: str
    offset: int
    path: str
    reason: str
    raw: bytes
    ts: int
    created: float
    attempts: int


_COLS = "fid, path, dev, ino, gz, fp_len, fp_hash, offset, size, input, last_seen, done"


class Registry:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The store's SQLite library (APSW): one SQLite in the process (logstore/_sqlite_library.py).
            self._db = open_connection(path, 10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a new file row must survive even a power cut before its docs are sent (doc ids).
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
            row = self._db.execute("SELECT value FROM shipper_meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO shipper_meta(key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row[0]) != SCHEMA_VERSION:
                raise RegistryError(f"{path}: registry schema {row[0]} is not {SCHEMA_VERSION}")
        except (apsw.Error, OSError) as e:
            raise RegistryError(f"{path}: cannot open the shipper registry: {e}") from None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- files -------------------------------------------------------------------------------------

    def files(self) -> list[FileRow]:
        with self._lock:
            rows: list[Any] = self._db.execute(
                f"SELECT {_COLS} FROM shipper_files ORDER BY path, fid"
            ).fetchall()
        return [
            FileRow(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8], r[9], r[10], bool(r[11]))
            for r in rows
        ]

    def fid_exists(self, fid: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM shipper_files WHERE fid=?", (fid,)).fetchone() is not None

    def upsert(self, row: FileRow) -> None:
        """Everything but the committed offset, which only ``commit`` moves (it may run concurrently)."""
        with self._lock:
            self._db.execute(
                f"INSERT INTO shipper_files({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(fid) DO UPDATE SET path=excluded.path, dev=excluded.dev, ino=excluded.ino, "
                "gz=excluded.gz, fp_len=excluded.fp_len, fp_hash=excluded.fp_hash, size=excluded.size, "
                "input=excluded.input, last_seen=excluded.last_seen, done=excluded.done",
                (
                    row.fid,
                    row.path,
                    row.dev,
                    row.ino,
                    int(row.gz),
                    row.fp_len,
                    row.fp_hash,
                    row.offset,
                    row.size,
                    row.input,
                    row.last_seen,
                    int(row.done),
                ),
            )

    def delete(self, fids: Iterable[str]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM shipper_files WHERE fid=?", [(f,) for f in fids])

    def commit(self, offsets: dict[str, int]) -> None:
        """Durably move committed offsets forward (never backward)."""
        if not offsets:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "UPDATE shipper_files SET offset=? WHERE fid=? AND offset<?",
                [(off, fid, off) for fid, off in offsets.items()],
            )
            self._db.execute("COMMIT")

    # -- journald inputs ----------------------------------------------------------------------------

    def journal_cursor(self, source: str) -> str | None:
        """The committed cursor of a journald input (``source``: its selection), or None."""
        with self._lock:
            row: Any = self._db.execute(
                "SELECT cursor FROM shipper_journal WHERE source=?", (source,)
            ).fetchone()
        return str(row[0]) if row is not None else None

    def journal_commit(self, source: str, cursor: str) -> None:
        """Durably: every entry of ``source`` up to ``cursor`` is acknowledged by the store."""
        with self._lock:
            self._db.execute(
                "INSERT INTO shipper_journal(source, cursor, updated) VALUES (?,?,?) "
                "ON CONFLICT(source) DO UPDATE SET cursor=excluded.cursor, updated=excluded.updated",
                (source, cursor, time.time()),
            )

    # -- skipped inputs ----------------------------------------------------------------------------

    def set_skipped(self, skipped: dict[str, str]) -> None:
        """What the last scan matched but could not read ({path or directory: reason}), for ``status``.

        One JSON value in ``shipper_meta``: it is a snapshot replaced whole, never queried by part."""
        with self._lock:
            self._db.execute(
                "INSERT INTO shipper_meta(key, value) VALUES ('skipped', ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (orjson.dumps(skipped).decode(),),
            )

    def skipped(self) -> dict[str, str]:
        with self._lock:
            row: Any = self._db.execute("SELECT value FROM shipper_meta WHERE key='skipped'").fetchone()
        return dict(orjson.loads(row[0])) if row is not None else {}

    def writable(self) -> str | None:
        """None if the registry takes writes now, else why not (for /readyz): a write lock, released."""
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("ROLLBACK")
        except apsw.Error as e:
            return f"registry {self.path} not writable: {e}"
        return None

    # -- dead letters ------------------------------------------------------------------------------

    def dlq_add(self, items: Iterable[tuple[str, str, int, str, str, bytes, int]]) -> None:
        """(doc_id, fid, offset, path, reason, raw, ts) each; durable before the batch is acknowledged."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO shipper_dlq(doc_id, fid, offset, path, reason, raw, ts, created) "
                "VALUES (?,?,?,?,?,?,?,?)",
                [(*item, now) for item in items],
            )
            self._db.execute("COMMIT")

    def dlq_list(self, limit: int | None = None) -> list[DeadLetter]:
        sql = (
            "SELECT id, doc_id, fid, offset, path, reason, raw, ts, created, attempts "
            "FROM shipper_dlq ORDER BY id"
        )
        with self._lock:
            rows: list[Any] = self._db.execute(sql + (f" LIMIT {int(limit)}" if limit else "")).fetchall()
        return [DeadLetter(*r) for r in rows]

    def dlq_count(self) -> int:
        with self._lock:
            row: Any = self._db.execute("SELECT count(*) FROM shipper_dlq").fetchone()
            return int(row[0])

    def dlq_done(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM shipper_dlq WHERE id=?", [(i,) for i in ids])

    def dlq_failed_again(self, items: Iterable[tuple[int, str]]) -> None:
        with self._lock:
            self._db.executemany(
                "UPDATE shipper_dlq SET reason=?, attempts=attempts+1 WHERE id=?", [(r, i) for i, r in items]
            )
