"""The harvester: reads one file identity from an offset, line by line, and notices when it changed.

Guarantees:
- Every byte read is accounted for: each event carries its start offset (the doc id) and an ``end``
  below which everything is shipped once the event is; ``safe_offset`` is where a restart must resume
  (the start of an unfinished line or multiline event). The pipeline commits only up to these.
- A read is trusted only if, *after* it, the file still starts with the identity's fingerprint and is
  not shorter than what was read: otherwise the bytes are dropped unread and ``Changed`` is raised
  (truncation, copytruncate, rewrite), so the copy or the new file is picked up by the next scan.
- A deleted file (no links left) and a ``.gz`` are read to the end, their unterminated last line is
  shipped, and the harvester reports ``final``.
- An unterminated last line of a live file waits for its newline (or ``flush_partial`` in --once).
- A line longer than ``max_line_bytes`` ships its first ``max_line_bytes`` tagged ``truncated``; the
  rest of it is skipped. Empty lines are skipped and counted.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Callable
from typing import IO, cast

from shipper.config import MultilineConfig
from shipper.files import FileState, fingerprint
from shipper.parsers import TRUNCATED

# (start offset, end offset, line bytes without newline, extra tags)
Event = tuple[int, int, bytes, tuple[str, ...]]
_TRUNC = (TRUNCATED,)


def split_lines(data: bytes, start: int, max_line: int, encoding: str | None) -> tuple[list[Event], int]:
    """The complete lines of ``data`` (read from offset ``start``) as events, and how many were empty.

    The bytes after the last newline are not an event: the caller keeps them (see ``Harvester``).
    A line over ``max_line`` ships its first ``max_line`` bytes tagged ``truncated``; ``\\r\\n`` ends a
    line like ``\\n``; with a non-UTF-8 ``encoding`` each line is converted to UTF-8.
    """
    lines = data.split(b"\n")
    lines.pop()
    out: list[Event] = []
    append = out.append
    skipped = 0
    off = start
    for line in lines:
        n = len(line) + 1
        if line and line[-1] == 13:  # \r\n
            line = line[:-1]
        if not line:
            skipped += 1
        elif len(line) > max_line:
            line = line[:max_line]
            append((off, off + n, line.decode(encoding, "replace").encode() if encoding else line, _TRUNC))
        else:
            append((off, off + n, line.decode(encoding, "replace").encode() if encoding else line, ()))
        off += n
    return out, skipped


class Changed(Exception):
    """The identity's content is not under this reader any more; close it and rescan."""


def text_encoding(encoding: str) -> str | None:
    """The encoding lines must be converted from, or None when they are UTF-8 already."""
    return None if encoding.lower().replace("-", "") in ("utf8", "ascii") else encoding


class Harvester:
    def __init__(self, state: FileState, chunk: int, max_line: int, encoding: str = "utf-8") -> None:
        self.state = state
        self.chunk = chunk
        self.max_line = max_line
        self.encoding = text_encoding(encoding)
        self.pos = state.read_offset
        self.buf = b""
        self.skip_from: int | None = None  # start of an over-long line whose rest is being skipped
        self.skipped_empty = 0
        self.final = False
        self.gz: IO[bytes] | None = None
        self.gz_raw: IO[bytes] | None = None
        self.fd = -1
        row = state.row
        if row.gz:
            # Opened by descriptor and checked against the inode the scan matched: rotation renames
            # archives (app.log.2.gz -> app.log.3.gz) all the time, so by the time the path is opened
            # it may name the next archive, whose content read at this file's offset would be shipped
            # under this file's ids (and this file's own tail never).
            try:
                fd = os.open(row.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError as e:
                raise Changed(f"cannot open {row.path}: {e}") from None
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != (row.dev, row.ino):
                os.close(fd)
                raise Changed(f"{row.path} was replaced before it could be opened")
            self.gz_raw = os.fdopen(fd, "rb")  # GzipFile does not close a file object it was given
            try:
                gz = gzip.GzipFile(fileobj=self.gz_raw, mode="rb")
                self.gz = cast(IO[bytes], gz)
                gz.seek(self.pos)
            except (OSError, EOFError, zlib.error) as e:
                self.close()
                raise Changed(f"cannot read {row.path}: {e}") from None
        else:
            try:
                self.fd = os.open(row.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError as e:
                raise Changed(f"cannot open {row.path}: {e}") from None
            st = os.fstat(self.fd)
            if (st.st_dev, st.st_ino) != (row.dev, row.ino):
                self.close()
                raise Changed(f"{row.path} was replaced before it could be opened")

    @property
    def safe_offset(self) -> int:
        if self.skip_from is not None:
            return self.skip_from
        return self.pos - len(self.buf)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.gz is not None:
            try:
                self.gz.close()
            except OSError:
                pass
            self.gz = None
        if self.gz_raw is not None:
            self.gz_raw.close()
            self.gz_raw = None

    def _read_plain(self, size: int) -> bytes:
        data = os.pread(self.fd, size, self.pos)
        row = self.state.row
        if data:
            if self.pos == 0 and len(data) >= row.fp_len:
                head = data[: row.fp_len]
            else:
                head = os.pread(self.fd, row.fp_len, 0)
            if len(head) < row.fp_len or fingerprint(head) != row.fp_hash:
                raise Changed(f"{row.path}: content changed under the reader (truncated or rewritten)")
            return data
        st = os.fstat(self.fd)
        if st.st_size < self.pos:
            raise Changed(f"{row.path}: truncated below the read offset")
        if st.st_nlink == 0:
            self.final = True  # deleted while open: nobody can add to it any more
        return data

    def _read_gz(self, size: int) -> bytes:
        assert self.gz is not None
        try:
            data = self.gz.read(size)
        except (OSError, EOFError, zlib.error) as e:
            # A .gz still being written by the compressor: retry from the same place on the next scan.
            raise Changed(f"{self.state.row.path}: {e}") from None
        if not data:
            self.final = True
        return data

    def read(self) -> list[Event]:
        """Complete lines from the next chunk; [] at the end of the file for now."""
        got = self._next(self.chunk)
        if got is None:
            return self.flush_partial() if self.final else []
        start, data = got
        events, skipped = split_lines(data, start, self.max_line, self.encoding)
        self.skipped_empty += skipped
        return self._tail(events, data[data.rfind(b"\n") + 1 :])

    def read_block(self, size: int) -> tuple[int, bytes, list[Event]]:
        """The next chunk as (start, complete lines, events after them): what ``read`` would return,
        with the lines still unsplit, so a build process can split them (``split_lines``). The events
        after the lines (an over-long unterminated line, a deleted file's last line) go on the usual
        path after the block. (start, b"", events) at the end of the file for now. Reads up to
        ``size`` bytes (a block may be bigger than the chunk ``read`` reads)."""
        got = self._next(size)
        if got is None:
            return self.pos, b"", self.flush_partial() if self.final else []
        start, data = got
        cut = data.rfind(b"\n") + 1
        return start, data[:cut], self._tail([], data[cut:])

    def _next(self, size: int) -> tuple[int, bytes] | None:
        """(offset of data, data): the next chunk after any buffered partial line, or None."""
        data = self._read_gz(size) if self.gz is not None else self._read_plain(size)
        if not data:
            return None
        start = self.pos
        self.pos += len(data)
        if self.skip_from is not None:
            nl = data.find(b"\n")
            if nl < 0:
                return start + len(data), b""
            self.skip_from = None
            start += nl + 1
            data = data[nl + 1 :]
        if self.buf:
            start -= len(self.buf)
            data = self.buf + data
            self.buf = b""
        return start, data

    def _tail(self, out: list[Event], tail: bytes) -> list[Event]:
        """Take what follows the last newline of a chunk (it ends at ``self.pos``)."""
        if len(tail) > self.max_line:
            # The end event's offset stays at the line start until its newline: a restart re-reads it.
            off = self.pos - len(tail)
            line = tail[: self.max_line]
            out.append((off, off, self._enc(line) if self.encoding else line, _TRUNC))
            self.skip_from = off
        else:
            self.buf = tail
        if self.final:
            out.extend(self.flush_partial())
        return out

    def _enc(self, line: bytes) -> bytes:
        assert self.encoding is not None
        return line.decode(self.encoding, "replace").encode("utf-8")

    def flush_partial(self) -> list[Event]:
        """Ship an unterminated last line (the file is final, or --once is at its end)."""
        if not self.buf:
            return []
        off = self.pos - len(self.buf)
        line = self.buf.rstrip(b"\r")
        self.buf = b""
        if not line:
            return []
        return [(off, self.pos, self._enc(line) if self.encoding else line, ())]


class _Pending:
    """The event being joined from several lines: its lines, the first line's offset, the last
    line's end, its size and tags, and when a line last came (for the idle ``timeout``)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.lines: list[bytes] = []
        self.first = 0
        self.end = 0
        self.nbytes = 0
        self.tags: tuple[str, ...] = ()
        self.touched = 0.0

    def _add(self, off: int, end: int, line: bytes, tags: tuple[str, ...]) -> None:
        if not self.lines:
            self.first, self.nbytes, self.tags = off, 0, ()
        self.lines.append(line)
        self.nbytes += len(line) + 1
        self.end = end
        if tags:
            self.tags = tuple(dict.fromkeys((*self.tags, *tags)))

    def _take(self) -> Event:
        ev = (self.first, self.end, b"\n".join(self.lines), self.tags)
        self.lines = []
        return ev

    def flush(self, now: float | None = None) -> list[Event]:
        """The pending event if it is idle past the timeout (or always, with ``now=None``)."""
        if not self.lines or (now is not None and now - self.touched < self.timeout):
            return []
        return [self._take()]

    def safe_offset(self, default: int) -> int:
        return self.first if self.lines else default


class Multiline(_Pending):
    """Joins continuation lines (those not matching ``start``) onto the event before them."""

    def __init__(self, config: MultilineConfig) -> None:
        super().__init__(config.timeout.total_seconds())
        self.start = re.compile(config.start.encode("utf-8"))
        self.max_lines = config.max_lines
        self.max_bytes = config.max_bytes

    def feed(self, events: list[Event], now: float) -> list[Event]:
        out: list[Event] = []
        search = self.start.search
        for off, end, line, tags in events:
            if self.lines and (
                search(line) is not None
                or len(self.lines) >= self.max_lines
                or self.nbytes + len(line) > self.max_bytes
            ):
                out.append(self._take())
            self._add(off, end, line, tags)
        if events:
            self.touched = now
        return out


class Partial(_Pending):
    """Joins container runtime records split by the runtime (``shipper.parsers.container``): a record
    ``is_partial`` says continues into the next one; the joined event is the records separated by
    ``\\n`` (neither format has a raw newline inside a record), from the first record's offset.

    Bounded like ``Multiline``: an event of ``max_bytes`` or more, or idle past ``timeout`` (the runtime
    never wrote the last part), is shipped as it is."""

    def __init__(self, is_partial: Callable[[bytes], bool], max_bytes: int, timeout: float = 5.0) -> None:
        super().__init__(timeout)
        self.is_partial = is_partial
        self.max_bytes = max_bytes

    def feed(self, events: list[Event], now: float) -> list[Event]:
        out: list[Event] = []
        partial = self.is_partial
        for off, end, line, tags in events:
            if not self.lines and not partial(line):
                out.append((off, end, line, tags))
                continue
            self._add(off, end, line, tags)
            if not partial(line) or self.nbytes >= self.max_bytes:
                out.append(self._take())
        if events:
            self.touched = now
        return out
