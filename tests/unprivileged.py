"""Run test code as an unprivileged user: CI runs as root, and root reads and writes any file, so a
permission test forks a child that first becomes ``nobody`` (when this is root) and runs there."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

NOBODY = 65534

T = TypeVar("T")


def as_unprivileged(fn: Callable[[], T]) -> T:
    """``fn()`` in a forked child that, when this is root, first becomes nobody: permissions then
    apply. Its result (or its exception, re-raised here) comes back pickled."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read_fd)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            try:
                answer: tuple[bool, object] = (True, fn())
            except BaseException as e:  # carried to the parent, which raises it
                answer = (False, RuntimeError(f"in the unprivileged child: {e!r}\n{traceback.format_exc()}"))
            with os.fdopen(write_fd, "wb") as f:
                f.write(pickle.dumps(answer))
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        got = f.read()
    os.waitpid(pid, 0)
    ok, value = pickle.loads(got)
    if not ok:
        raise value  # type: ignore[misc]
    return value  # type: ignore[no-any-return]


@contextmanager
def shared_dir(prefix: str) -> Iterator[Path]:
    """A fresh temporary directory the unprivileged user may enter and write (pytest's ``tmp_path``
    sits under a 0700 directory of root's), removed after."""
    top = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(top, 0o777)
    try:
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)
