"""The background WAL checkpointer of a writing SQLite store (its own thread and connection).

Guarantees:
- ``write`` never pays for a checkpoint's page copies and fsync: the writer's connection has
  autocheckpoint off and calls ``wrote`` after each commit, which only counts and, every ~40 MB of
  WAL, wakes the thread.
- Checkpoints are PASSIVE: they never wait for readers or for other processes' writers. The last,
  short pass of a round holds the store's lock (``write_lock``) for a few ms, so the WAL is wholly
  copied and restarts from its beginning: it stays bounded under a steady ingest.
- ``stop`` returns promptly even when called by a thread that holds ``write_lock``.
- With ``drop_behind`` on (``store.sqlite.drop_behind``, off by default), after each round the file
  pages this store appended, except the newest ``_KEEP_CACHED_BYTES``, leave the OS page cache, each
  range once. Only a cache hint: it never loses data, and without ``posix_fadvise`` it does nothing.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import cast

import apsw

from logstore._sqlite_library import open_connection

# Bytes of WAL a writer may add before the background checkpointer copies them back (~40 MB; SQLite's
# own autocheckpoint would run every 1,000 pages, and inside the writer's COMMIT).
_CHECKPOINT_BYTES = 40 << 20
# A checkpoint round copies in bulk passes until one finds at most this many new frames (1 MiB at
# 16 KiB pages), or after this many passes; the last pass, which the writer waits for, copies the rest.
_TAIL_FRAMES = 64
_CHECKPOINT_PASSES = 4
_LOCK_POLL_S = 0.1
# Drop-behind (see Checkpointer._drop_behind): the newest bytes of the events file stay in the OS page
# cache; pages this store appended further back are dropped once they are on disk, in steps of at
# least _DROP_STEP_BYTES.
_KEEP_CACHED_BYTES = 128 << 20
_DROP_STEP_BYTES = 16 << 20


class Checkpointer:
    """Copies the WAL back into the store on its own thread and connection, so the WAL restarts.

    Why: SQLite's autocheckpoint runs inside the writer's COMMIT (page copies + fsync). A PASSIVE
    checkpoint from another thread alone is not enough under a steady ingest: it copies the frames
    that existed when it began, the writer appends more meanwhile, so the WAL is never wholly copied,
    never restarts from its beginning, and grows without bound (measured: 0.9 GB of WAL for 1M docs;
    every new frame then lands in freshly allocated file pages, ~2 us of kernel time per doc).

    So each round has two phases: the bulk is copied PASSIVE while the writer goes on (in passes, each
    copying what was added during the one before); then, holding the store's lock (``write_lock``:
    this store's writes and queries wait, for a few ms; other processes never do), a last PASSIVE pass
    copies the short tail. The WAL is then wholly copied and the next write transaction starts it
    over from its beginning (unless a reader still reads old frames: then a later round does it).
    PASSIVE never waits for readers or for other processes' writers. Measured with 1M docs: the WAL
    stays under ~170 MB, the writer waits ~0.3 s in all, and ~1 us of kernel time per doc is saved.

    With ``drop_behind``, after each round it also drops from the OS page cache what the store
    appended long ago (``_drop_behind``).
    """

    def __init__(
        self,
        path: Path,
        busy_timeout_s: float,
        write_lock: threading.RLock,
        page_bytes: int,
        *,
        drop_behind: bool = False,
    ) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.write_lock = write_lock
        self.page_bytes = page_bytes
        self.drop_behind = drop_behind and hasattr(os, "posix_fadvise")
        self.wake = threading.Event()
        self.stopping = False
        self._frames = 0  # WAL frames written since the last wake-up (an estimate)
        self._fd: int | None = None  # the events file, for posix_fadvise (opened by the thread)
        self._dropped = 0  # bytes of the file from its start that _drop_behind has dealt with
        self.thread = threading.Thread(target=self._loop, name=f"logstore-checkpoint {path}", daemon=True)
        self.thread.start()

    def wrote(self, rows: int) -> None:
        """Count a committed write of ``rows`` docs; wake the thread every ~``_CHECKPOINT_BYTES``."""
        # ~1 KB of row and index per doc, and a few pages per commit however small: a rough count
        # is enough to pace checkpoints.
        self._frames += (rows * 1024) // self.page_bytes + 4
        if self._frames * self.page_bytes >= _CHECKPOINT_BYTES:
            self._frames = 0
            self.wake.set()

    def _loop(self) -> None:
        try:
            conn = open_connection(self.path, self.busy_timeout_s)
        except apsw.Error:
            return  # the writer's own connection reports the problem; SQLite checkpoints on close
        if self.drop_behind:
            self._open_for_drop_behind()
        try:
            while True:
                self.wake.wait()
                self.wake.clear()
                if self.stopping:
                    return
                try:
                    self._round(conn)
                except apsw.Error:
                    pass  # busy or locked now: the next wake-up tries again
                self._drop_behind()
        finally:
            conn.close()
            if self._fd is not None:
                os.close(self._fd)

    def _open_for_drop_behind(self) -> None:
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
            # Only what this store appends from now on: the file's older pages may be what
            # other processes (the alerter, logq) are reading.
            self._dropped = os.fstat(self._fd).st_size
        except OSError:
            self._fd = None

    def _drop_behind(self) -> None:
        """Drop from the OS page cache the file pages this store appended, except the newest
        ``_KEEP_CACHED_BYTES``; each range once.

        Why: an ingesting store streams data through the page cache that is rarely read again (the
        alerter reads recent windows: the file's newest pages, kept; logq reads old data back on
        demand). Left there, it crowds out the cache of the applications on the same server, and
        every page it takes is memory touched for the first time. On a VM that hands free memory
        back to its host (virtio-balloon free page reporting, as on this project's machines), that
        first touch costs a host page fault: measured, the checkpointer's page copies took ~2 us of
        CPU per ingested doc, 80 % of it in that first write into each new page, against ~0.8 us
        when the pages it writes come from pages just dropped (docs/benchmarks.md, session 5). This
        is what Linux's own RWF_DONTCACHE (6.14) offers streaming writers. Off by default
        (``store.sqlite.drop_behind``) until a benchmark of the default config shows it matters.

        Safe: ``POSIX_FADV_DONTNEED`` never loses data (dirty pages are written back, not dropped;
        the round's checkpoint has normally synced them already); a page read again is cached again.
        Ranges are dealt with once, in file order, so a store whose file has stopped growing (freed
        pages reused under retention, where new rows may land anywhere) drops nothing more.
        """
        if self._fd is None:
            return
        try:
            end = os.fstat(self._fd).st_size - _KEEP_CACHED_BYTES
            if end - self._dropped < _DROP_STEP_BYTES:
                return
            os.posix_fadvise(self._fd, self._dropped, end - self._dropped, os.POSIX_FADV_DONTNEED)
        except OSError:
            return  # only a cache hint: the store works the same without it
        self._dropped = end

    def _round(self, conn: apsw.Connection) -> None:
        # A PASSIVE pass copies the frames that were there when it began. Bulk passes run while the
        # writer goes on, each copying what was added during the one before (fewer each time, as
        # copying outruns writing), until a pass finds a short tail or the WAL has started over.
        before = -1
        for _ in range(_CHECKPOINT_PASSES):
            # (busy, frames in the WAL, frames copied). The PRAGMA, not Connection.wal_checkpoint:
            # that answers -1 on a connection that has not read the file yet, and copies nothing.
            frames = cast(int, conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0][1])
            if frames < before:
                return  # the writer started the WAL over: this round's work is done
            if 0 <= frames - before <= _TAIL_FRAMES:
                break
            before = frames
        # The lock is taken with a timeout, so a stop() from a thread that holds it (close() takes
        # it) is seen; a plain `with` here deadlocked such a close (it joins this thread).
        while not self.write_lock.acquire(timeout=_LOCK_POLL_S):
            if self.stopping:
                return
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            self.write_lock.release()

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()
        self.thread.join()
