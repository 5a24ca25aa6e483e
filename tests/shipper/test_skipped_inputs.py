"""Files and directories the shipper cannot read are never skipped silently (issue #15, items 6 and 7):
an error in ``check``, a rate-limited warning and a metric in ``run``, a row with the reason in ``status``.

CI runs as root, who reads every file: the permission tests run the shipper as ``nobody``
(tests/unprivileged.py), in directories that user may enter.
"""

from __future__ import annotations

import io
import json
import os
import signal
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from prometheus_client import REGISTRY

from logstore import open_store
from logstore.config import SqliteConfig, StoreConfig
from shipper.cli import main
from shipper.config import InputConfig
from shipper.files import Tracker
from shipper.registry import Registry
from tests.shipper.harness import LogDir, wait_until
from tests.shipper.test_cli import _config, _running
from tests.unprivileged import as_unprivileged, shared_dir


def _main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _skipped(reason: str) -> float:
    return REGISTRY.get_sample_value("shipper_files_skipped_total", {"reason": reason}) or 0.0


def _dirs_missing() -> float:
    return REGISTRY.get_sample_value("shipper_input_dirs_missing_total") or 0.0


def _logs_with_a_secret(top: Path) -> tuple[Path, Path]:
    """logs/a.log (readable, 20 lines) and logs/secret.log (0600, root's: not readable by nobody)."""
    logs = LogDir(top / "logs")
    logs.write("a.log", 20)
    logs.write("secret.log", 5)
    os.chmod(top / "logs", 0o755)
    os.chmod(logs.path("a.log"), 0o644)
    os.chmod(logs.path("secret.log"), 0o600 if os.geteuid() == 0 else 0o000)
    return logs.path("a.log"), logs.path("secret.log")


def test_check_reports_an_unreadable_file_and_exits_2() -> None:
    """`shipper check` as a user who cannot read a matched file: listed as unreadable, an error line
    on stderr naming it and the missing permission, exit 2."""
    with shared_dir("shipper-unreadable-") as top:
        a, secret = _logs_with_a_secret(top)
        cfg = _config(top)
        code, out, err = as_unprivileged(lambda: _main("check", "-c", str(cfg)))
        assert code == 2, (out, err)
        assert f"  {a}\n" in out
        assert f"  {secret} (unreadable: permission denied: no read permission on the file)" in out
        assert (
            err
            == f"shipper check: {secret}: cannot read: permission denied: no read permission on the file\n"
        )


def test_run_warns_counts_and_status_shows_an_unreadable_file() -> None:
    """`shipper run --once` ships the readable file, warns about the unreadable one (path and reason),
    counts it as skipped (reason unreadable); `status` then lists it with the reason, also as JSON."""
    with shared_dir("shipper-unreadable-") as top:
        a, secret = _logs_with_a_secret(top)
        cfg = _config(top)

        def run() -> tuple[int, str, float]:
            before = _skipped("unreadable")
            code, _, err = _main("run", "--once", "-c", str(cfg), "--log-level", "WARNING")
            return code, err, _skipped("unreadable") - before

        code, err, counted = as_unprivileged(run)
        assert code == 0, err
        warnings = [json.loads(line) for line in err.splitlines()]
        unreadable = [w for w in warnings if w.get("path") == str(secret)]
        assert len(unreadable) == 1 and unreadable[0]["level"] == "warning", warnings
        assert unreadable[0]["msg"].startswith("file not readable; skipped")
        assert unreadable[0]["error"] == "permission denied: no read permission on the file"
        assert counted == 1
        store = open_store(StoreConfig(sqlite=SqliteConfig(path=top / "store.db")), create=False)
        try:
            assert store.count("") == 20
        finally:
            store.close()

        code, out, _ = _main("status", "-c", str(cfg))
        assert code == 0
        row = next(line for line in out.splitlines() if "secret.log" in line)
        assert "skipped" in row and "permission denied: no read permission on the file" in row
        assert "1 skipped" in out
        code, out, _ = _main("status", "-o", "json", "-c", str(cfg))
        rows = {r["path"]: r for r in map(json.loads, out.splitlines())}
        assert rows[str(secret)] == {
            "identity": None,
            "path": str(secret),
            "size": None,
            "committed": None,
            "lag": None,
            "state": "skipped",
            "reason": "permission denied: no read permission on the file",
        }
        assert rows[str(a)]["state"] == "tracked" and rows[str(a)]["lag"] == 0
        assert rows[str(a)]["size"] == rows[str(a)]["committed"] == os.path.getsize(a)


def test_unreadable_file_warning_repeats_at_most_once_a_minute() -> None:
    """A scan warns about an unreadable file at once, not again 30 s later, again after a minute; a
    missing input directory likewise, but at most once an hour."""
    with shared_dir("shipper-unreadable-") as top:
        _logs_with_a_secret(top)
        inputs = [InputConfig(paths=[f"{top}/logs/*.log"]), InputConfig(paths=[f"{top}/nowhere/*.log"])]

        def scans() -> list[tuple[float, float]]:
            reg = Registry(top / "registry.db")
            tracker = Tracker(reg, inputs, 1024)
            seen = []
            try:
                for now in (1000.0, 1030.0, 1061.0, 1200.0, 4601.0):
                    files, dirs = _skipped("unreadable"), _dirs_missing()
                    tracker.scan(now, 3600.0)
                    seen.append((_skipped("unreadable") - files, _dirs_missing() - dirs))
            finally:
                reg.close()
            return seen

        assert as_unprivileged(scans) == [(1, 1), (0, 0), (1, 0), (1, 0), (1, 1)]


def test_check_fails_on_a_pattern_whose_directory_is_missing(tmp_path: Path) -> None:
    """`shipper check` with a glob whose directory does not exist: the pattern and directory named on
    stderr, exit 2 (a glob there would silently match nothing)."""
    cfg = _config(tmp_path)  # its input reads tmp_path/logs/*.log, which does not exist
    code, out, err = _main("check", "-c", str(cfg))
    assert code == 2
    missing = tmp_path / "logs"
    assert f"  {missing}/*.log: directory {missing}: no such directory" in out
    assert err == f"shipper check: {missing}/*.log: directory {missing}: no such directory\n"
    # The systemd unit's pre-start step: the config alone, so the shipper starts and waits for it.
    assert _main("check", "--config-only", "-c", str(cfg)) == (
        0,
        f"{cfg}: ok (store: sqlite, 1 input(s))\n",
        "",
    )


def test_run_warns_about_a_missing_directory_then_ships_it_when_it_appears(tmp_path: Path) -> None:
    """`shipper run` whose input directory is missing warns once, keeps running, and ships the file of
    the directory once it appears (the periodic scan finds it; the file watcher does not fail on it)."""
    cfg = _config(tmp_path)
    with _running(cfg) as proc:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = json.loads(raw)
            if line.get("msg") == "input directory not there; watching for it to appear":
                break
        assert line["directory"] == str(tmp_path / "logs") and line["error"] == "no such directory"
        assert line["pattern"] == f"{tmp_path / 'logs'}/*.log" and line["level"] == "warning"
        logs = LogDir(tmp_path / "logs")
        logs.write("a.log", 30)

        def shipped() -> bool:
            if not (tmp_path / "store.db").exists():
                return False
            store = open_store(StoreConfig(sqlite=SqliteConfig(path=tmp_path / "store.db")), create=False)
            try:
                return store.count("") == 30
            finally:
                store.close()

        wait_until(shipped, 20, "30 docs from the directory that appeared")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        rest = proc.stderr.read().decode()
        assert "input directory not there" not in rest, "said once, not at every scan"
