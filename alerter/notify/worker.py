"""Delivery off the scheduler: one thread owns the notification pipeline; evaluation only enqueues.

Alertmanager's dispatcher never blocks on a receiver; neither does ours. ``submit`` puts events on
a queue and returns at once, and ``tick`` only wakes the delivery thread, so a channel that hangs
(an SMTP server that never answers) delays notifications on that thread and nothing else: rules
keep their schedule.

Guarantees:
- Events are handed to the pipeline in the order they were submitted; the pipeline persists them
  in pending groups as soon as the delivery thread takes them (normally within milliseconds). An
  event still in the queue when the process is killed is lost, like one the engine had not yet
  announced (the engine saves state before it announces: the next tick does not repeat it).
- ``flush`` (``run --once``) and ``close`` hand every queued event to the pipeline before they
  return; ``flush`` also sends what is pending, waiting for that as long as delivery takes.
- The pipeline's timers run on the delivery thread at least once a second, and at once on ``tick``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from alerter.events import AlertEvent
from alerter.notify.pipeline import NotificationPipeline
from alerter.observed import DeliveryFailed
from logstore.observe import emit
from logstore.types import Health


@dataclass(frozen=True, slots=True)
class _Submit:
    events: tuple[AlertEvent, ...]
    now: datetime


@dataclass(frozen=True, slots=True)
class _Update:
    events: tuple[AlertEvent, ...]
    now: datetime


@dataclass(frozen=True, slots=True)
class _Flush:
    now: datetime
    done: threading.Event


_STOP = object()


class DeliveryWorker:
    """A ``Notifier`` that runs ``pipeline`` on a thread of its own."""

    def __init__(self, pipeline: NotificationPipeline, clock: Callable[[], datetime] | None = None) -> None:
        self.pipeline = pipeline
        self._clock = clock or (lambda: datetime.now(UTC))
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="alerter-delivery", daemon=True)
        self._thread.start()

    # -- Notifier (called from evaluation workers and the scheduler: never blocks) ---------------

    def submit(self, events: Sequence[AlertEvent], now: datetime) -> None:
        self._queue.put(_Submit(tuple(events), now))

    def update(self, events: Sequence[AlertEvent], now: datetime) -> None:
        self._queue.put(_Update(tuple(events), now))

    def tick(self, now: datetime) -> None:
        # Only a wake-up: the delivery thread reads its own clock, so a tick that arrives while a
        # send is hanging is simply folded into the next one.
        if self._queue.empty():
            self._queue.put(None)

    def health(self) -> Health:
        return self.pipeline.health()

    # -- callers that want to wait ---------------------------------------------------------------

    def flush(self, now: datetime | None = None) -> None:
        """Hand over every queued event, then send all that is pending; return when done."""
        done = threading.Event()
        self._queue.put(_Flush(now or self._clock(), done))
        while not done.wait(0.5):
            if not self._thread.is_alive():
                return

    def close(self, timeout: float | None = None) -> None:
        """Hand queued events to the pipeline (they are persisted there), then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    # -- the delivery thread ----------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=1.0)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            try:
                self._handle(item)
            except Exception as e:  # the thread must outlive any one failure: it is the only sender
                emit(DeliveryFailed(error=f"{type(e).__name__}: {e}"))
            finally:
                if isinstance(item, _Flush):
                    item.done.set()

    def _handle(self, item: object) -> None:
        if isinstance(item, _Submit):
            batch = [item]
            # Take every submission already queued before ticking: one persist per group.
            while True:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(nxt, _Submit):
                    self._queue.put(nxt)  # a flush or stop keeps its turn after these submissions
                    break
                batch.append(nxt)
            for sub in batch:
                self.pipeline.submit(sub.events, sub.now)
            self.pipeline.tick(self._clock())
        elif isinstance(item, _Update):
            self.pipeline.update(item.events, item.now)
        elif isinstance(item, _Flush):
            self.pipeline.flush(item.now)
        else:
            self.pipeline.tick(self._clock())
