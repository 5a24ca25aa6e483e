"""The SQLite store's background checkpointer: the WAL restarts under a steady ingest, close never
hangs on it, and the optional drop-behind (``store.sqlite.drop_behind``) empties the page cache."""

from __future__ import annotations

import ctypes
import mmap
import os
import re
import threading
import time
from pathlib import Path

import pytest

import logstore.sqlite._checkpoint as checkpoint_module
from logstore import Doc
from logstore.config import SqliteConfig
from logstore.sqlite import SqliteStore
from logstore.types import format_ts
from tests.logstore.corpus import BASE_MS


def _doc(doc_id: str, ts: int = BASE_MS, **fields: object) -> Doc:
    return Doc(doc_id, ts, {"@timestamp": format_ts(ts), **fields})


def test_wal_starts_over_under_a_steady_ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checkpoints keep up with a writer that never pauses: the WAL restarts, not grows with the data."""
    monkeypatch.setattr(checkpoint_module, "_CHECKPOINT_BYTES", 1 << 20)  # a checkpoint round per ~1 MiB
    path = tmp_path / "logs.db"
    store = SqliteStore(SqliteConfig(path=path))
    pad = "x" * 900
    try:
        for batch in range(60):  # ~30 MB of docs, written back to back
            store.write([_doc(f"{batch}-{i}", BASE_MS + i, message=f"line {i} {pad}") for i in range(500)])
        store.refresh()
        data = path.stat().st_size + Path(f"{path}-wal").stat().st_size
        assert data > 25 << 20
        # Without restarts the WAL holds every page written (~30 MB); with them, a few rounds' worth.
        assert Path(f"{path}-wal").stat().st_size < 12 << 20
        assert store.count("line") == 30_000
    finally:
        store.close()


def _resident_fraction(path: Path, start: int, length: int) -> float:
    """The fraction of the file's pages in [start, start + length) that are in the OS page cache."""
    page = mmap.PAGESIZE
    start -= start % page
    libc = ctypes.CDLL(None, use_errno=True)
    with open(path, "rb") as f:
        # A private mapping: mincore reports the file's cached pages; mapping faults nothing in.
        m = mmap.mmap(f.fileno(), length, access=mmap.ACCESS_COPY, offset=start)
    try:
        pages = (length + page - 1) // page
        vec = (ctypes.c_ubyte * pages)()
        base = ctypes.c_char.from_buffer(m)
        try:
            rc = libc.mincore(ctypes.c_void_p(ctypes.addressof(base)), ctypes.c_size_t(length), vec)
            assert rc == 0, ctypes.get_errno()
        finally:
            del base
        return sum(v & 1 for v in vec) / pages
    finally:
        m.close()


def _filesystem_type(path: Path) -> str | None:
    """The type of the filesystem ``path`` is on (``ext4``, ``tmpfs``, ...), from /proc/mounts."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    real = os.path.realpath(path)
    best, fstype = "", None
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        # /proc/mounts escapes spaces and the like in octal (\040).
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):  # the last, longest mount point covering it wins
            best, fstype = point, fields[2]
    return fstype


def test_drop_behind_is_on_by_default_and_can_be_turned_off(tmp_path: Path) -> None:
    """store.sqlite.drop_behind defaults to on (measured: less checkpointer CPU); false turns it off."""
    assert SqliteConfig().drop_behind is True
    store = SqliteStore(SqliteConfig(path=tmp_path / "logs.db", drop_behind=False))
    try:
        store.write([_doc("a", message="hello")])  # starts the checkpointer
        assert store._checkpointer is not None and not store._checkpointer.drop_behind
    finally:
        store.close()


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="drop-behind needs posix_fadvise")
def test_pages_appended_long_ago_leave_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drop-behind on: the store's older appended pages leave the OS page cache; its newest stay cached."""
    if _filesystem_type(tmp_path) in ("tmpfs", "ramfs"):
        # There the page cache IS the file's storage: DONTNEED cannot drop a page, so nothing to see.
        pytest.skip(f"{tmp_path} is on tmpfs/ramfs, where pages cannot leave the page cache")
    monkeypatch.setattr(checkpoint_module, "_CHECKPOINT_BYTES", 1 << 20)
    monkeypatch.setattr(checkpoint_module, "_KEEP_CACHED_BYTES", 4 << 20)
    monkeypatch.setattr(checkpoint_module, "_DROP_STEP_BYTES", 1 << 20)
    path = tmp_path / "logs.db"
    store = SqliteStore(SqliteConfig(path=path, drop_behind=True))
    pad = "x" * 900
    try:
        for batch in range(40):  # ~20 MB of docs
            store.write([_doc(f"{batch}-{i}", BASE_MS + i, message=f"line {i} {pad}") for i in range(500)])
        store.refresh()
        size = path.stat().st_size
        assert size > 15 << 20
        old = 8 << 20  # well behind the kept 4 MiB, and dealt with rounds ago
        deadline = time.monotonic() + 10
        while _resident_fraction(path, 0, old) > 0.2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _resident_fraction(path, 0, old) <= 0.2
        assert _resident_fraction(path, size - (2 << 20), 2 << 20) > 0.5
        assert store.count("line") == 20_000  # what was dropped is read back from disk
    finally:
        store.close()


def test_close_while_a_checkpoint_waits_for_the_store_lock(tmp_path: Path) -> None:
    """close() from a thread holding the store's lock stops a checkpoint waiting for that lock (it hung)."""
    store = SqliteStore(SqliteConfig(path=tmp_path / "logs.db"))
    store.write([_doc("a", message="hello")])  # opens the writer and starts the checkpointer
    checkpointer = store._checkpointer
    assert checkpointer is not None
    waiting = threading.Event()
    lock = checkpointer.write_lock

    class Spy:
        """The store's lock, telling when the checkpointer's last pass asks for it."""

        def acquire(self, *args: object, **kwargs: object) -> bool:
            waiting.set()
            return lock.acquire(*args, **kwargs)  # type: ignore[arg-type]

        def release(self) -> None:
            lock.release()

        def __enter__(self) -> bool:
            waiting.set()
            return lock.__enter__()

        def __exit__(self, *exc: object) -> None:
            lock.__exit__(*exc)

    checkpointer.write_lock = Spy()  # type: ignore[assignment]

    def close_holding_the_lock() -> None:
        with lock:  # as a write in progress would
            checkpointer.wake.set()
            assert waiting.wait(5)
            store.close()

    closer = threading.Thread(target=close_holding_the_lock, daemon=True)
    closer.start()
    closer.join(10)
    assert not closer.is_alive()
