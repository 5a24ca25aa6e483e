"""The harvester and the multiline stage: offsets, long lines, empty lines, joins, and change detection."""

from __future__ import annotations

import gzip
import os
from datetime import timedelta
from pathlib import Path

import pytest

from shipper.config import MultilineConfig
from shipper.files import FileState, fid_hasher, fingerprint
from shipper.reader import Changed, Harvester, Multiline
from shipper.registry import FileRow


def _state(path: Path, offset: int = 0, fp_len: int = 8) -> FileState:
    st = os.stat(path)
    head = path.read_bytes()[:fp_len]
    row = FileRow(
        "fid", str(path), st.st_dev, st.st_ino, False, len(head), fingerprint(head), offset, 0, 0, 0.0
    )
    return FileState(row, offset, fid_hasher("fid"))


def test_lines_offsets_crlf_and_empty_lines(tmp_path: Path) -> None:
    """Each line carries its start and end offset; CRLF is trimmed; empty lines are skipped and counted."""
    p = tmp_path / "a.log"
    p.write_bytes(b"one\r\n\ntwo\nthr")
    h = Harvester(_state(p), 4096, 100)
    assert h.read() == [(0, 5, b"one", ()), (6, 10, b"two", ())]
    assert h.skipped_empty == 1
    assert h.safe_offset == 10  # the unterminated 'thr' waits for its newline
    assert h.read() == []
    assert h.flush_partial() == [(10, 13, b"thr", ())]
    h.close()


def test_long_line_is_truncated_and_tagged_and_rest_skipped(tmp_path: Path) -> None:
    """A line over max_line_bytes ships its first bytes tagged truncated; the rest of it is skipped."""
    p = tmp_path / "a.log"
    p.write_bytes(b"short\n" + b"x" * 300 + b"\nafter\n")
    h = Harvester(_state(p), 64, 100)
    events = []
    for _ in range(20):
        events.extend(h.read())
    assert events[0] == (0, 6, b"short", ())
    assert events[1] == (6, 6, b"x" * 100, ("truncated",))
    assert events[2] == (307, 313, b"after", ())
    assert h.safe_offset == 313
    h.close()


def test_small_chunks_give_same_events_as_one_read(tmp_path: Path) -> None:
    """Chunk boundaries never change the events (doc ids are stable across re-reads)."""
    p = tmp_path / "a.log"
    p.write_bytes(b"".join(b"line %d %s\n" % (i, b"y" * (i % 37)) for i in range(200)))
    whole = Harvester(_state(p), 1 << 20, 1000).read()
    small = Harvester(_state(p), 7, 1000)
    events = []
    for _ in range(5000):
        events.extend(small.read())
    assert events == whole and len(whole) == 200


def test_truncation_under_reader_raises_changed(tmp_path: Path) -> None:
    """A file truncated and rewritten under an open reader is detected before any new byte is used."""
    p = tmp_path / "a.log"
    p.write_bytes(b"first content line\n")
    h = Harvester(_state(p, fp_len=16), 4096, 100)
    assert len(h.read()) == 1
    with open(p, "r+b") as f:
        f.truncate(0)
        f.write(b"other content that is longer than before\n")
    with pytest.raises(Changed):
        h.read()
    h.close()


def test_reader_resumes_mid_file(tmp_path: Path) -> None:
    """Opening at a committed offset reads from there."""
    p = tmp_path / "a.log"
    p.write_bytes(b"aaaa\nbbbb\n")
    h = Harvester(_state(p, offset=5), 4096, 100)
    assert h.read() == [(5, 10, b"bbbb", ())]


def test_encoding_is_converted_to_utf8(tmp_path: Path) -> None:
    """A latin-1 input is decoded with its encoding and shipped as UTF-8."""
    p = tmp_path / "a.log"
    p.write_bytes("café\n".encode("latin-1"))
    h = Harvester(_state(p, fp_len=4), 4096, 100, encoding="latin-1")
    assert h.read() == [(0, 5, "café".encode(), ())]


def test_multiline_joins_continuations_and_holds_safe_offset() -> None:
    """Lines not matching start join the event before; the pending event holds the safe offset."""
    m = Multiline(MultilineConfig(start=r"^\d{4}-", timeout=timedelta(seconds=1)))
    out = m.feed(
        [
            (0, 20, b"2026-11-22 boom", ()),
            (20, 40, b"  at a.b(c.java:1)", ()),
            (40, 60, b"  at d.e(f.java:2)", ()),
            (60, 80, b"2026-11-22 next", ()),
        ],
        now=10.0,
    )
    assert out == [(0, 60, b"2026-11-22 boom\n  at a.b(c.java:1)\n  at d.e(f.java:2)", ())]
    assert m.safe_offset(80) == 60
    assert m.flush(now=10.5) == []  # not idle long enough
    assert m.flush(now=11.5) == [(60, 80, b"2026-11-22 next", ())]
    assert m.safe_offset(80) == 80


def test_multiline_max_lines_splits_deterministically() -> None:
    """An event reaching max_lines is closed; the next continuation starts a new event."""
    m = Multiline(MultilineConfig(start="^S", max_lines=2))
    out = m.feed([(i, i + 1, b"S" if i == 0 else b" c", ()) for i in range(5)], now=0.0)
    assert [e[0] for e in out] == [0, 2]
    assert m.flush() == [(4, 5, b" c", ())]


def test_gz_reader_refuses_the_next_archive_renamed_onto_its_path(tmp_path: Path) -> None:
    """A .gz whose path now names another archive (rotation renamed them) is not read as this file."""
    mine, other = tmp_path / "app.log.2.gz", tmp_path / "app.log.3.gz"
    with gzip.open(mine, "wb") as f:
        f.write(b"mine 1\nmine 2\n")
    st = os.stat(mine)
    head = gzip.decompress(mine.read_bytes())[:8]
    row = FileRow("gzfid", str(mine), st.st_dev, st.st_ino, True, 8, fingerprint(head), 7, 0, 0, 0.0)
    state = FileState(row, 7, fid_hasher("gzfid"))
    # The scan matched the archive at app.log.2.gz; before the reader opens it, logrotate shifts it
    # to .3.gz and the next archive takes .2.gz.
    mine.rename(other)
    with gzip.open(mine, "wb") as f:
        f.write(b"next 1\nnext 2\n")
    with pytest.raises(Changed, match="replaced"):
        Harvester(state, 4096, 100)
    row.path = str(other)
    h = Harvester(state, 4096, 100)
    try:
        assert [line for _, _, line, _ in h.read()] == [b"mine 2"]
    finally:
        h.close()
