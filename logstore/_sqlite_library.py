"""Process-wide tuning of the SQLite library behind Python's ``sqlite3`` module.

SQLite keeps global memory statistics (``SQLITE_CONFIG_MEMSTATUS``, on by default) and updates them
on every allocation under one process-wide mutex. The SQLite store runs its writer, its full-text
indexer and its checkpointer on three threads that allocate all the time, so they queue on that one
mutex: turning the statistics off measured ~1.3 us less CPU per ingested doc and ~15 % more docs/s
(bench/store.py, 1M docs; docs/benchmarks.md). SQLite's documentation lists
``SQLITE_DEFAULT_MEMSTATUS=0`` among its recommended compile-time options; Python's module has no way
to set it, so this calls ``sqlite3_config`` through ctypes, once, when ``logstore`` is imported.

``sqlite3_config`` only works while SQLite is shut down, and shutting it down is allowed only when
nothing of it is in use. So this acts only when SQLite holds no memory at all (no connection or
statement anywhere in the process), as the very statistics it turns off report, and when they are
on to begin with. Otherwise, or where the library cannot be found (SQLite linked statically into
Python, no /proc), it does nothing: only speed depends on it. ``sqlite3_memory_used()`` reads 0
afterwards; nothing in logwarden reads it.
"""

from __future__ import annotations

import ctypes
import sqlite3
import threading

SQLITE_CONFIG_MEMSTATUS = 9  # sqlite3.h
_lock = threading.Lock()
_done = False


def _loaded_library() -> ctypes.CDLL | None:
    """The libsqlite3 mapped into this process (the one Python's module uses), or None."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split(maxsplit=5)[5].strip() for line in maps if "libsqlite3" in line}
    except (OSError, IndexError):
        return None
    paths.discard("")
    if len(paths) != 1:
        return None  # none, or two copies: not sure which one sqlite3 uses
    try:
        # dlopen of a loaded library returns that same copy: its state is the module's state.
        return ctypes.CDLL(paths.pop())
    except OSError:
        return None


def quiet_memory_statistics() -> bool:
    """Turn SQLite's memory statistics off for this process if it is safe now; whether it did."""
    global _done
    with _lock:
        if _done:
            return False
        _done = True
        lib = _loaded_library()
        if lib is None:
            return False
        used = lib.sqlite3_memory_used
        used.restype = ctypes.c_int64
        if used() != 0:
            return False  # something of SQLite is in use: shutting it down is not allowed
        probe = sqlite3.connect(":memory:")
        try:
            probe.execute("SELECT 1").fetchone()
            counting = used() != 0
        finally:
            probe.close()
        # Statistics already off (then an open connection would read 0 too), or something opened
        # meanwhile: leave SQLite alone.
        if not counting or used() != 0:
            return False
        if lib.sqlite3_shutdown() != 0:
            return False
        configured = lib.sqlite3_config(ctypes.c_int(SQLITE_CONFIG_MEMSTATUS), ctypes.c_int(0)) == 0
        # Opening a connection initializes SQLite anyway; this only makes it happen now.
        return lib.sqlite3_initialize() == 0 and configured
