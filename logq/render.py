"""Output formats for hits: json, raw, pretty, table, csv. One small class per format, one Protocol.

Guarantees: memory is constant in the number of hits (table keeps only its first ``SAMPLE_ROWS``
rows to size its columns); bytes go to a binary stream in chunks, so a million hits cost a few
thousand ``write`` calls, not a million; ``flush()`` pushes everything written so far (follow mode
calls it after each poll). Values are whatever the store (or ``--jq``) produced: a dict for a
stored document, any JSON value from a jq filter.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import islice
from typing import Any, BinaryIO, Protocol

import orjson

from logq.keys import HIDDEN_KEYS, KeyChoice, flatten, get_path
from logstore.types import format_ts

CHUNK_BYTES = 1 << 16
SAMPLE_ROWS = 200
DEFAULT_COLUMNS = ("@timestamp", "log.level", "service.name", "message")

_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_CYAN = "\x1b[36m"
_BOLD = "\x1b[1m"
_LEVEL_COLORS = {
    "FATAL": "\x1b[1;31m",
    "CRIT": "\x1b[1;31m",
    "ERROR": "\x1b[31m",
    "ERR": "\x1b[31m",
    "WARN": "\x1b[33m",
    "WARNING": "\x1b[33m",
    "INFO": "\x1b[32m",
    "DEBUG": "\x1b[34m",
    "TRACE": "\x1b[2;34m",
}


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        # Integers beyond 64 bits and other oddities orjson refuses; the stdlib writes them.
        import json

        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def cell(value: Any) -> str:
    """A value as text for a human or a CSV cell: strings as-is, missing as empty, the rest as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return dumps(value).decode()


class Sink(Protocol):
    def write_all(self, values: Iterable[Any]) -> int:
        """Write every value; returns how many were written."""
        ...

    def flush(self) -> None: ...


class _Buffered:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.buf: list[bytes] = []
        self.size = 0

    def push(self, data: bytes) -> None:
        self.buf.append(data)
        self.size += len(data)
        if self.size >= CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.out.write(b"".join(self.buf))
            self.buf.clear()
            self.size = 0
        self.out.flush()


class JsonSink(_Buffered):
    """One compact JSON value per line (orjson): the stored doc, or each jq output."""

    def write_all(self, values: Iterable[Any]) -> int:
        # The hot loop of `logq '*' -o json -n 0`: serialize a chunk with map() (no Python-level
        # work per value), join it, one write per chunk.
        out = self.out
        it = iter(values)
        n = 0
        while chunk := list(islice(it, 2048)):
            try:
                lines = list(map(orjson.dumps, chunk))
            except TypeError:
                lines = [dumps(v) for v in chunk]
            lines.append(b"")
            out.write(b"\n".join(lines))
            n += len(chunk)
        return n

    def write_lines(self, lines: Iterable[bytes]) -> int:
        """Write JSON lines that are already serialized (a store's raw docs), a chunk per write."""
        out = self.out
        it = iter(lines)
        n = 0
        while chunk := list(islice(it, 2048)):
            chunk.append(b"")
            out.write(b"\n".join(chunk))
            n += len(chunk) - 1
        return n


class RawSink(_Buffered):
    """The message only (a jq string output as-is, like ``jq -r``)."""

    def __init__(self, out: BinaryIO, keys: KeyChoice) -> None:
        super().__init__(out)
        self.keys = keys

    def write_all(self, values: Iterable[Any]) -> int:
        n = 0
        for value in values:
            if isinstance(value, dict):
                key = self.keys.pick(value)[3]
                text = cell(get_path(value, key)) if key else dumps(value).decode()
            else:
                text = cell(value)
            self.push(text.encode("utf-8", "surrogateescape") + b"\n")
            n += 1
        return n


def _format_time(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return cell(value)
    if isinstance(value, (int, float)):
        # Epoch seconds or milliseconds: which one by magnitude (ms since 1970 passed 1e12 in 2001).
        ms = int(value if value > 1e11 else value * 1000)
        return format_ts(ms)
    if isinstance(value, str):
        return value
    return cell(value)


class PrettySink(_Buffered):
    """``time LEVEL service message key=value ...`` for people; colors only when asked."""

    def __init__(self, out: BinaryIO, keys: KeyChoice, color: bool) -> None:
        super().__init__(out)
        self.keys = keys
        self.color = color

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.color and text else text

    def line(self, doc: Any) -> str:
        if not isinstance(doc, dict):
            return cell(doc)
        tkey, lkey, skey, mkey = self.keys.pick(doc)
        parts: list[str] = []
        if tkey:
            parts.append(self._paint(_DIM, _format_time(get_path(doc, tkey))))
        if lkey:
            level = cell(get_path(doc, lkey)).upper()
            parts.append(self._paint(_LEVEL_COLORS.get(level, _BOLD), f"{level:<5}"))
        if skey:
            parts.append(self._paint(_CYAN, cell(get_path(doc, skey))))
        rest = ""
        if mkey:
            # A multiline message (a traceback) prints as lines: its first on the doc's line, the
            # others below it, after the key=value extras, so each doc still starts with its time.
            first, _, rest = cell(get_path(doc, mkey)).partition("\n")
            parts.append(first.rstrip("\r"))
        shown = {k for k in (tkey, lkey, skey, mkey) if k}
        extras = []
        for path, value in flatten(doc):
            if path in shown or path in HIDDEN_KEYS:
                continue
            text = cell(value)
            if not text or any(c in text for c in ' \t\n"='):
                text = dumps(text).decode() if isinstance(value, str) else text
            extras.append(f"{self._paint(_DIM, path + '=')}{text}")
        if extras:
            parts.append(" ".join(extras))
        return " ".join(parts) + ("\n" + rest.replace("\r\n", "\n") if rest else "")

    def write_all(self, values: Iterable[Any]) -> int:
        n = 0
        for value in values:
            self.push(self.line(value).encode("utf-8", "surrogateescape") + b"\n")
            n += 1
        return n


def _row(value: Any, columns: Sequence[str]) -> list[str]:
    if not isinstance(value, dict):
        return [cell(value)] + [""] * (len(columns) - 1)
    return [cell(get_path(value, c)).replace("\n", "\\n") for c in columns]


class TableSink(_Buffered):
    """Aligned columns. The first ``SAMPLE_ROWS`` rows size the columns; later rows stream."""

    def __init__(self, out: BinaryIO, columns: Sequence[str], color: bool) -> None:
        super().__init__(out)
        self.columns = list(columns)
        self.color = color
        self.pending: list[list[str]] | None = []  # None once the widths are fixed
        self.widths: list[int] = []

    def _emit(self, row: list[str], header: bool = False) -> None:
        cells = [c.ljust(w) for c, w in zip(row[:-1], self.widths, strict=False)] + [row[-1]]
        text = "  ".join(cells).rstrip()
        if header and self.color:
            text = f"{_BOLD}{text}{_RESET}"
        self.push(text.encode("utf-8", "surrogateescape") + b"\n")

    def _fix_widths(self) -> None:
        rows = self.pending or []
        self.widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(self.columns)]
        self._emit([c.upper() for c in self.columns], header=True)
        for r in rows:
            self._emit(r)
        self.pending = None

    def write_all(self, values: Iterable[Any]) -> int:
        n = 0
        for value in values:
            row = _row(value, self.columns)
            if self.pending is not None:
                self.pending.append(row)
                if len(self.pending) >= SAMPLE_ROWS:
                    self._fix_widths()
            else:
                self._emit(row)
            n += 1
        return n

    def flush(self) -> None:
        if self.pending:
            self._fix_widths()
        super().flush()


class CsvSink(_Buffered):
    """RFC 4180 CSV with a header row; nested values as JSON."""

    def __init__(self, out: BinaryIO, columns: Sequence[str]) -> None:
        super().__init__(out)
        self.columns = list(columns)
        self.text = io.StringIO()
        self.writer = csv.writer(self.text, lineterminator="\n")
        self.header = False

    def write_all(self, values: Iterable[Any]) -> int:
        if not self.header:
            self.writer.writerow(self.columns)
            self.header = True
        n = 0
        for value in values:
            if isinstance(value, dict):
                self.writer.writerow([cell(get_path(value, c)) for c in self.columns])
            else:
                self.writer.writerow([cell(value)])
            n += 1
            if self.text.tell() >= CHUNK_BYTES:
                self._drain()
        self._drain()
        return n

    def _drain(self) -> None:
        self.push(self.text.getvalue().encode("utf-8", "surrogateescape"))
        self.text.seek(0)
        self.text.truncate()


def make_sink(
    fmt: str,
    out: BinaryIO,
    *,
    columns: Sequence[str] | None,
    keys: KeyChoice,
    color: bool,
) -> Sink:
    if fmt == "json":
        return JsonSink(out)
    if fmt == "raw":
        return RawSink(out, keys)
    if fmt == "pretty":
        return PrettySink(out, keys, color)
    if fmt == "table":
        return TableSink(out, columns or DEFAULT_COLUMNS, color)
    if fmt == "csv":
        return CsvSink(out, columns or DEFAULT_COLUMNS)
    raise ValueError(f"unknown output format {fmt!r}")


def utc_label(ms: int) -> str:
    """A bucket start as ``2026-11-22 06:05:00`` (UTC, seconds precision) for tables and charts."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
