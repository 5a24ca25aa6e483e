"""The SQLite library of the store: APSW's, and its process-wide tuning.

Why APSW and not Python's ``sqlite3``: Python's module uses the SQLite of the operating system
(Debian 12: 3.40.1, from 2022); APSW's wheels carry the current SQLite release, so the store runs the
same SQLite on every machine, and a faster one. Measured on 500k access-log docs, one thread:
inserting the events rows took 3.3-3.5 us of CPU per doc against 4.6-4.8 with ``sqlite3``, and full-
text indexing 3.6 against 4.5 (docs/benchmarks.md, session 5). APSW also exposes the C API Python's
module hides (``sqlite3_config`` below, checkpoint modes, file controls) without ctypes.

Every SQLite file logwarden opens goes through APSW (the shipper's registry and the alerter's state
too): the alerter's state lives in the store's own file, and two SQLite libraries in one process do
not see each other's POSIX locks on a file (closing a connection of one drops the other's locks).

The tuning: SQLite keeps global memory statistics (``SQLITE_CONFIG_MEMSTATUS``, on by default) and
updates them on every allocation under one process-wide mutex. The store runs its writer, its
full-text indexer and its checkpointer on three threads that allocate all the time, so they queued
on that one mutex: turning the statistics off measured ~1.3 us less CPU per ingested doc (session 4).
SQLite's documentation recommends ``SQLITE_DEFAULT_MEMSTATUS=0``. ``sqlite3_config`` only works
while SQLite is shut down, and shutting it down is allowed only when nothing of it is in use, so
this acts only when APSW has no connection open anywhere in the process. Otherwise it does nothing:
only speed depends on it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import apsw

_lock = threading.Lock()
_done = False
# Files logwarden creates hold every log line shipped (and the registry, paths): owner and group
# only, whatever the umask. SQLite gives its -wal and -shm files the mode of the database file.
FILE_MODE = 0o640


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0640 exactly (not masked by the umask) if it does not exist.

    An existing file keeps its mode: an operator may have chosen another."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, FILE_MODE)  # os.open's mode went through the umask
    finally:
        os.close(fd)


def open_connection(path: Path, busy_timeout_s: float) -> apsw.Connection:
    """A connection to ``path`` with a busy timeout: how every SQLite file of logwarden is opened.
    APSW never opens a transaction implicitly; callers issue BEGIN/COMMIT themselves. A file it
    creates is created 0640 (``create_private``)."""
    try:
        if str(path) != ":memory:":
            create_private(path)
    except OSError:
        pass  # APSW's own open below says what is wrong in its words (callers report those)
    conn = apsw.Connection(str(path))
    conn.set_busy_timeout(int(busy_timeout_s * 1000))
    return conn


def quiet_memory_statistics() -> bool:
    """Turn SQLite's memory statistics off for this process if it is safe now; whether it did."""
    global _done
    with _lock:
        if _done:
            return False
        _done = True
        if apsw.connections():
            return False  # SQLite is in use: shutting it down is not allowed
        try:
            apsw.shutdown()
            apsw.config(apsw.SQLITE_CONFIG_MEMSTATUS, 0)
        except apsw.Error:
            return False
        finally:
            # Opening a connection would not initialize SQLite (APSW's build omits auto-init).
            apsw.initialize()
        return True
