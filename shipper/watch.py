"""Filesystem events as hints: watchdog (inotify) wakes the reader early; the periodic scan decides.

Guarantees: nothing here changes a file's state. An event only calls ``on_event(rotation)``
(``rotation``: a file was created, moved or deleted, so a scan now beats one at the next interval).
Without watchdog, or past the inotify limits, there is no watcher and polling alone still works.
A directory that is missing at start (or vanishes before it is watched) is simply not watched: the
periodic scan finds it when it appears, and the other directories keep their watches.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from logstore.observe import emit
from shipper.config import InputConfig
from shipper.events import WatchUnavailable
from shipper.files import pattern_dir


def watched_dirs(inputs: Sequence[InputConfig]) -> set[str]:
    """The existing directories the inputs' patterns read from (the deepest part without a glob)."""
    return {base for inp in inputs for p in inp.paths if os.path.isdir(base := pattern_dir(p))}


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
    observer = Observer()
    observer.daemon = True
    try:
        # Started first, so that each schedule starts its own watch: a directory removed since
        # watched_dirs looked then fails alone (at start() it would fail them all).
        observer.start()
        for d in sorted(dirs):
            try:
                observer.schedule(_Wake(), d, recursive=False)
            except FileNotFoundError:
                continue  # the scan finds it if it comes back
        return observer
    except Exception as e:  # inotify limits: the periodic scan still works
        observer.stop()
        emit(WatchUnavailable(error=str(e)))
        return None
