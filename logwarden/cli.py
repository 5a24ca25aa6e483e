"""What the three command lines (shipper, alerter, logq) share: ``--version``, ``-o json`` rows in
logq's JSON-lines shape, and a quiet end on a closed pipe.

Guarantee: a program wrapped in ``quiet_on_closed_pipe`` whose reader goes away (``alerter schema |
head -1``) stops writing, prints nothing more (no BrokenPipeError traceback, no "Exception ignored"
at interpreter exit) and exits 0, as ``cat`` and ``grep`` do when their reader is ``head``.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec

import orjson

from logstore.types import datetime_to_ms, format_ts
from logwarden import __version__

P = ParamSpec("P")


def add_version(parser: argparse.ArgumentParser) -> None:
    """``--version``: print ``PROG VERSION`` and exit 0."""
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")


def quiet_on_closed_pipe(main: Callable[P, int]) -> Callable[P, int]:
    """Run ``main``; if stdout's reader went away, end quietly with exit 0."""

    @functools.wraps(main)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> int:
        try:
            code = main(*args, **kwargs)
            # Flush here, inside the try: the interpreter's own final flush would raise outside it.
            sys.stdout.flush()
            return code
        except BrokenPipeError:
            _stdout_to_devnull()
            return 0

    return wrapper


def _stdout_to_devnull() -> None:
    # Whatever is still buffered for the closed pipe would fail again at exit: point the file
    # descriptor at /dev/null so that flush succeeds and drops it.
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a test's captured stdout has no descriptor
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def add_output(parser: argparse.ArgumentParser) -> None:
    """``-o table|json`` on a status or list command (``--json`` kept as an alias of ``-o json``)."""
    parser.add_argument(
        "-o",
        "--output",
        choices=("table", "json"),
        default="table",
        help="table (default), or json: one object per line, like logq -o json",
    )
    parser.add_argument("--json", dest="output", action="store_const", const="json", help=argparse.SUPPRESS)


def json_line(row: dict[str, Any]) -> str:
    """One row as logq writes a JSON line: compact, keys in table order, times as RFC 3339 UTC
    with milliseconds (``2026-11-22T06:39:00.123Z``), a missing value as null (never "-" or "")."""
    return orjson.dumps({k: _json_value(v) for k, v in row.items()}).decode()


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_ts(datetime_to_ms(value))
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def human_bytes(n: int) -> str:
    """A size for a table, in binary units as ``ls -h`` and ``du -h`` count: ``512 B``, ``2.8 MiB``
    (-o json gives the exact integer)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
