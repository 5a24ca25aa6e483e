"""Filesystem events as hints: watchdog (inotify) wakes the reader early; the periodic scan decides.

Guarantees: nothing here changes a file's state. An event only calls ``on_event(rotation)``
(``rotation``: a file was created, moved or deleted, so a scan now beats one at the next interval).
Without watchdog, or past the inotify limits, there is no watcher and polling alone still works.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from logstore.observe import emit
from shipper.config import InputConfig
from shipper.events import WatchUnavailable


def watched_dirs(inputs: Sequence[InputConfig]) -> set[str]:
    """The existing directories the inputs' patterns read from (the deepest part without a glob)."""
    dirs: set[str] = set()
    for inp in inputs:
        for pattern in inp.paths:
            base = os.path.dirname(os.path.expanduser(pattern)) or "."
            while any(c in base for c in "*?["):
                base = os.path.dirname(base) or "."
            if os.path.isdir(base):
                dirs.add(base)
    return dirs


def watch(inputs: Sequence[InputConfig], on_event: Callable[[bool], None]) -> Any | None:
    """A started watchdog observer of the inputs' directories (``stop()``, ``join()`` it), or None."""
    try:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:
        return None

    class _Wake(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            kind = event.event_type
            if kind != "opened" and kind != "closed_no_write":
                on_event(kind in ("created", "moved", "deleted"))

    dirs = watched_dirs(inputs)
    if not dirs:
        return None
    try:
        observer = Observer()
        for d in sorted(dirs):
            observer.schedule(_Wake(), d, recursive=False)
        observer.daemon = True
        observer.start()
        return observer
    except Exception as e:  # inotify limits: the periodic scan still works
        emit(WatchUnavailable(error=str(e)))
        return None
