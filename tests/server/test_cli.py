"""``logwarden serve`` as its own process: serves, stores, and on SIGTERM drains before it ends."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from logstore import open_store
from logwarden.config import load_config
from tests.server.http import bulk, call, ndjson

LOGWARDEN = str(Path(sys.executable).parent / "logwarden")


def stored_count(path: Path) -> int:
    store = open_store(load_config(_config(path)).store, create=False)
    try:
        return store.count("")
    finally:
        store.close()


def _config(db: Path) -> Path:
    config = db.parent / "logwarden.yaml"
    config.write_text(yaml.safe_dump({"store": {"sqlite": {"path": str(db)}}}))
    return config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_stores_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """logwarden serve answers _bulk, and SIGTERM stops it after the writer drained ('server stopped')."""
    config = _config(tmp_path / "s.db")
    url = f"http://127.0.0.1:{_free_port()}"
    proc = subprocess.Popen(
        [LOGWARDEN, "serve", "-c", str(config), "--listen", url.removeprefix("http://")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if call(url + "/healthz").status == 200:
                    break
            except OSError:
                time.sleep(0.05)  # not listening yet
        body = ndjson({"create": {"_index": "cli", "_id": "c-1"}}, {"@timestamp": "2026-12-02T10:00:00Z"})
        assert bulk(url, body).json["items"][0]["create"]["status"] == 201
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    # uvicorn re-raises the SIGTERM it handled once shut down: death by SIGTERM is its clean exit.
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert '"msg":"server stopped"' in err
    assert stored_count(tmp_path / "s.db") == 1


def test_a_bad_limit_is_one_line_naming_the_key(tmp_path: Path) -> None:
    """server.limits.request_timeout: 0s is refused before start: exit 2, one line with file, line and key."""
    config = tmp_path / "logwarden.yaml"
    config.write_text("server:\n  limits:\n    request_timeout: 0s\n")
    proc = subprocess.run([LOGWARDEN, "serve", "-c", str(config)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert (
        proc.stderr.strip() == f"logwarden: {config}:3: server.limits.request_timeout: must be more than 0s"
    )
