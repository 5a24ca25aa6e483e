"""Rotation, truncation and restarts on a real SQLite store: every line lands exactly once."""

from __future__ import annotations

import os

from tests.shipper.harness import Harness, wait_until


def test_rename_rotation_ships_old_and_new_file(harness: Harness) -> None:
    """logrotate rename + create: the rest of the old file and the new file are both shipped once."""
    logs = harness.logs
    logs.write("app.log", 100)
    harness.start()
    harness.wait_docs(100)
    logs.append("app.log", 50)
    logs.rotate("app.log", "rename")
    logs.append("app.log", 70)
    harness.wait_docs(220)
    harness.stop()
    harness.assert_exactly_once(220)


def test_copytruncate_loses_nothing(harness: Harness) -> None:
    """copytruncate: lines not yet read are finished from the copy; the truncated file starts over."""
    logs = harness.logs
    logs.write("app.log", 200)
    harness.start()
    harness.wait_docs(200)
    for _ in range(3):
        logs.append("app.log", 100)
        logs.rotate("app.log", "copytruncate")
        logs.append("app.log", 10)
    harness.wait_docs(530)
    harness.stop()
    harness.assert_exactly_once(530)


def test_delaycompress_finishes_from_gz(harness: Harness) -> None:
    """A rotated file gzipped before it was fully read is finished from the .gz, not re-read."""
    logs = harness.logs
    logs.write("app.log", 100)
    harness.once()
    assert harness.count() == 100
    logs.append("app.log", 40)  # written while the shipper is stopped
    logs.rotate("app.log", "rename")  # app.log -> app.log.1
    logs.rotate("app.log", "rename")  # app.log.1 -> app.log.2.gz (delaycompress), app.log -> .1
    assert not logs.path("app.log.1").stat().st_size  # the (empty) second generation
    assert logs.path("app.log.2.gz").exists()
    logs.append("app.log", 25)
    harness.once()
    harness.assert_exactly_once(165)


def test_rotation_while_stopped_is_found_by_fingerprint(harness: Harness) -> None:
    """A file rotated while the shipper was down is recognized by its first bytes and resumed."""
    logs = harness.logs
    logs.write("app.log", 100)
    harness.once()
    logs.append("app.log", 30)
    logs.rotate("app.log", "rename", compress=False)
    logs.append("app.log", 20)
    harness.once()
    harness.assert_exactly_once(150)


def test_truncation_restarts_at_zero(harness: Harness) -> None:
    """A file that shrinks below the read offset is a new file: read from 0, old docs kept."""
    logs = harness.logs
    logs.write("app.log", 100)
    harness.start()
    harness.wait_docs(100)
    logs.truncate("app.log")
    logs.append("app.log", 30)
    harness.wait_docs(130)
    harness.stop()
    harness.assert_exactly_once(130)


def test_delete_while_open_reads_to_end(harness: Harness) -> None:
    """A file deleted while open is read to its end, then closed."""
    logs = harness.logs
    logs.write("app.log", 10)
    sh = harness.start()
    harness.wait_docs(10)
    logs.append("app.log", 90)
    logs.delete("app.log")
    harness.wait_docs(100)
    wait_until(lambda: all(s.harvester is None for s in sh.tracker.states.values()), what="file closed")
    harness.stop()
    harness.assert_exactly_once(100)


def test_inode_reuse_is_a_new_file(harness: Harness) -> None:
    """Delete + create at the same path (often the same inode) is a new file, shipped in full."""
    logs = harness.logs
    logs.write("app.log", 50)
    harness.once()
    logs.delete("app.log")
    logs.write("app.log", 80, other="content")
    harness.once()
    harness.assert_exactly_once(130)


def test_idle_file_closed_and_reopened_on_growth(tmp_path: object, harness: Harness) -> None:
    """close_inactive closes an idle file's handle; growth reopens it and nothing is missed."""
    harness.config.shipper.close_inactive = __import__("datetime").timedelta(milliseconds=200)
    logs = harness.logs
    logs.write("app.log", 10)
    sh = harness.start()
    harness.wait_docs(10)
    wait_until(lambda: all(s.harvester is None for s in sh.tracker.states.values()), what="idle close")
    logs.append("app.log", 15)
    harness.wait_docs(25)
    harness.stop()
    harness.assert_exactly_once(25)


def test_bounded_open_files(harness: Harness) -> None:
    """More files than max_open_files are all shipped, never more than the bound open at once."""
    harness.config.shipper.max_open_files = 2
    logs = harness.logs
    for i in range(6):
        logs.write(f"f{i}.log", 20)
    sh = harness.start()
    peak = 0

    def done() -> bool:
        nonlocal peak
        peak = max(peak, sum(1 for s in sh.tracker.states.values() if s.harvester is not None))
        return harness.count() >= 120

    wait_until(done, what="all files shipped")
    harness.stop()
    assert peak <= 2
    harness.assert_exactly_once(120)


def test_restart_resumes_from_committed_offset(harness: Harness) -> None:
    """A stop and start ships only what is new; offsets are committed, not re-read."""
    logs = harness.logs
    logs.write("app.log", 100)
    harness.start()
    harness.wait_docs(100)
    harness.wait_offset("app.log")
    harness.stop()
    logs.append("app.log", 50)
    harness.start()
    harness.wait_docs(150)
    harness.stop()
    harness.assert_exactly_once(150)
    assert harness.committed()[str(logs.path("app.log"))] == os.path.getsize(logs.path("app.log"))


def test_unterminated_line_waits_for_newline(harness: Harness) -> None:
    """A live file's unterminated last line is shipped only once its newline arrives, in one piece."""
    logs = harness.logs
    logs.write("app.log", 5)
    harness.start()
    harness.wait_docs(5)
    logs.append_raw("app.log", b'{"seq": 5, "msg": "par')
    logs.append_raw("app.log", b'tial"}\n')
    harness.wait_docs(6)
    harness.stop()
    assert sorted(harness.seqs()) == list(range(6))
