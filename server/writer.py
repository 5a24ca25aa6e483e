"""The one writer in front of the SQLite store: a bounded queue and the thread that drains it.

Guarantees:
- A request's docs are committed in SQLite before its future resolves, so the handler answers
  ``created`` only for durable docs (WAL with ``synchronous=NORMAL``: a committed transaction
  survives the server's crash or ``kill -9``; an OS crash or power loss may lose the last ones).
- The queue is bounded: ``submit`` raises ``Overloaded`` when it is full, and the handler answers
  429, which every Elasticsearch shipper backs off from and retries. Nothing is buffered without
  bound.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from logstore.protocol import Store
from logstore.types import Doc, WriteResult


class Overloaded(Exception):
    """The writer's queue is full."""


_Item = tuple[Sequence[Doc], "Future[list[WriteResult]]"]


class Writer:
    def __init__(self, store: Store, depth: int) -> None:
        self._store = store
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="server-writer", daemon=True)
        self._thread.start()

    def submit(self, docs: Sequence[Doc]) -> Future[list[WriteResult]]:
        future: Future[list[WriteResult]] = Future()
        try:
            self._queue.put_nowait((docs, future))
        except queue.Full:
            raise Overloaded from None
        return future

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:  # close()
                return
            docs, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._store.write(docs))
            except BaseException as e:  # StoreError (and anything else) goes to the waiting handler
                future.set_exception(e)

    def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()
