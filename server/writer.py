"""The one writer in front of the SQLite store: a bounded queue and the thread that drains it.

Guarantees:
- A request's docs are committed in SQLite before its future resolves, so the handler answers
  ``created`` only for durable docs. The fsync policy is the store's: WAL with
  ``synchronous=NORMAL``, so a committed transaction survives the server's crash or ``kill -9``;
  an OS crash or power loss may lose the last commits before the next checkpoint.
- The queue is bounded (``server.limits.queue`` requests): ``submit`` raises ``Overloaded`` when it
  is full, and the handler answers 429, which every Elasticsearch shipper backs off from and
  retries. Nothing is buffered without bound.
- Group commit: the thread takes every request waiting when it is free (up to ``GROUP_DOCS`` docs)
  and writes them in one transaction, so a burst of small requests costs one commit, not one each.
  Each request still gets its own results, in its own order; a doc whose id an earlier request of
  the group stored is a duplicate, exactly as if the requests had been written one after another.
  A ``StoreError`` fails every request of the group (none of them is acknowledged).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future

from logstore.protocol import FastWrite, Store
from logstore.types import Doc, WriteResult
from server import metrics

# Docs per transaction, at most: a group stops growing here (one request may be larger on its own).
GROUP_DOCS = 50_000

# A request's results: None when every doc was created (no per-doc results on the hot path).
Results = list[WriteResult] | None


class Overloaded(Exception):
    """The writer's queue is full."""


_Item = tuple[Sequence[Doc], "Future[Results]"]


class Writer:
    def __init__(self, store: Store, depth: int) -> None:
        self._store = store
        self._depth = depth
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="server-writer", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._depth

    def submit(self, docs: Sequence[Doc]) -> Future[Results]:
        """Queue ``docs`` for the next transaction; ``Overloaded`` when the queue is full."""
        future: Future[Results] = Future()
        try:
            self._queue.put_nowait((docs, future))
        except queue.Full:
            raise Overloaded from None
        metrics.QUEUED.set(self._queue.qsize())
        return future

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:  # close()
                return
            group = [item]
            size = len(item[0])
            closing = False
            while size < GROUP_DOCS:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    closing = True
                    break
                group.append(more)
                size += len(more[0])
            metrics.QUEUED.set(self._queue.qsize())
            self._commit(group)
            if closing:
                return

    def _commit(self, group: list[_Item]) -> None:
        live = [(docs, f) for docs, f in group if f.set_running_or_notify_cancel()]
        if not live:
            return
        docs: Sequence[Doc] = live[0][0] if len(live) == 1 else [d for docs, _ in live for d in docs]
        started = time.perf_counter()
        try:
            if isinstance(self._store, FastWrite):
                results = self._store.write_unless_all_created(docs)
            else:
                results = self._store.write(docs)
        except BaseException as e:  # StoreError (and anything else) goes to every waiting handler
            for _, future in live:
                future.set_exception(e)
            return
        metrics.COMMIT.observe(time.perf_counter() - started)
        start = 0
        for part, future in live:
            end = start + len(part)
            future.set_result(None if results is None else results[start:end])
            start = end

    def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()
