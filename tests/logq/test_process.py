"""The installed `logq` console script: exit codes, one-line errors, closed pipes and Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from logstore import open_store
from logstore.config import SqliteConfig, StoreConfig
from tests.logq.conftest import NOW, NOW_MS, access_doc, corpus, write_all

LOGQ = str(Path(sys.executable).parent / "logq")
# The repo root first on the path: an editable install made before the packages had __init__.py
# maps them as namespace packages, which would shadow the real ones in a child process.
ROOT = str(Path(__file__).resolve().parents[2])
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A logwarden.yaml whose SQLite store holds the corpus plus 3,000 more docs (enough to fill a pipe)."""
    db = tmp_path / "data" / "logwarden.db"
    s = open_store(StoreConfig(sqlite=SqliteConfig(path=db)))
    try:
        write_all(s, corpus() + [access_doc(10_000 + i, NOW_MS - 1_800_000 + i) for i in range(3000)])
    finally:
        s.close()
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(f"store:\n  sqlite:\n    path: {db}\nqueries:\n  502s: 'status:502'\n")
    return cfg


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LOGQ, "--now", NOW, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**ENV, **(env or {})},
    )


def test_console_script_searches_with_config_file(config_file: Path) -> None:
    """`logq -c FILE @saved --count` loads the config, expands the saved query and exits 0."""
    r = run("-c", str(config_file), "@502s", "--count")
    assert (r.returncode, r.stdout, r.stderr) == (0, "464\n", "")


def test_config_from_environment(config_file: Path) -> None:
    """$LOGWARDEN_CONFIG finds the config when -c is not given; no match exits 1."""
    r = run("status:999", env={"LOGWARDEN_CONFIG": str(config_file)})
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "")


def test_closed_pipe_ends_quietly(config_file: Path) -> None:
    """`logq ... | head -1` prints one line and logq ends quietly with 0, no traceback."""
    p1 = subprocess.Popen(
        [LOGQ, "--now", NOW, "-c", str(config_file), "*", "-n", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    p2 = subprocess.Popen(["head", "-1"], stdin=p1.stdout, stdout=subprocess.PIPE)
    assert p1.stdout is not None and p1.stderr is not None
    p1.stdout.close()  # head owns the read end now; when it exits the pipe closes
    out, _ = p2.communicate(timeout=60)
    err = p1.stderr.read()
    assert p1.wait(timeout=60) == 0
    assert len(out.splitlines()) == 1 and err == b""


def test_ctrl_c_in_follow_exits_0_quietly(config_file: Path) -> None:
    """SIGINT while following ends with exit 0 and nothing on stderr."""
    p = subprocess.Popen(
        [LOGQ, "--now", NOW, "-c", str(config_file), "status:502", "-f", "--poll-interval", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    assert p.stdout is not None
    assert p.stdout.readline().startswith(b"{")  # it is up and printing
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 0 and err == b""


def test_bad_query_exit_2_with_caret(config_file: Path) -> None:
    """A bad query: exit 2, the caret message, no traceback."""
    r = run("-c", str(config_file), "status:[500 TO")
    assert r.returncode == 2 and r.stdout == ""
    assert (
        r.stderr.startswith("logq: query error at column") and "^" in r.stderr and "Traceback" not in r.stderr
    )


def test_bad_config_exit_2_names_file_line_key(tmp_path: Path) -> None:
    """A bad config: exit 2 with file:line: key.path: message in one line."""
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text("store:\n  sqlite:\n    path: x.db\n    retention: forever\n")
    r = run("-c", str(cfg))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and f"{cfg}:4: store.sqlite.retention:" in r.stderr


def test_store_error_exit_2_one_line(tmp_path: Path) -> None:
    """An unusable store (the database path is a directory) is one line naming it, exit 2."""
    bad = tmp_path / "db-is-a-dir"
    bad.mkdir()
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(f"store:\n  sqlite:\n    path: {bad}\n")
    r = run("-c", str(cfg))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr.startswith("logq: store error: ") and str(bad) in r.stderr


def test_unreachable_elasticsearch_one_line(tmp_path: Path) -> None:
    """An Elasticsearch store nobody listens on: one line naming the URL, exit 2."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free once closed: nothing listens there
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(f"store:\n  elasticsearch:\n    hosts: http://127.0.0.1:{port}\n    request_timeout: 2s\n")
    r = run("-c", str(cfg), "error")
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1
    assert r.stderr.startswith("logq: store error: ") and f"127.0.0.1:{port}" in r.stderr


def test_help_says_naive_times_are_utc() -> None:
    """--help documents the time forms and that a time without an offset is UTC."""
    r = subprocess.run([LOGQ, "--help"], capture_output=True, text=True, timeout=30, env=ENV)
    assert r.returncode == 0
    assert "without an offset is UTC" in r.stdout and "now-1h/h" in r.stdout and "@502s" in r.stdout
