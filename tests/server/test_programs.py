"""The programs over a logwarden server, unchanged: with ``store: {server: ...}`` the shipper ships
through it, logq reads it, the alerter fires from it and keeps its state on it (two alerters, one
notification); a wrong token is one line and a non-zero exit, never a retry loop."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from logq.cli import Io
from logq.cli import run as logq_run
from logstore.types import datetime_to_ms, format_ts
from shipper.cli import main as shipper_main
from tests.alerter.helpers import write_yaml
from tests.alerter.notify.receivers import WebhookReceiver
from tests.server.harness import Running, serve, server_config

REPO = Path(__file__).resolve().parents[2]
TOKEN = "programs-token-0123456789"
LINES = 300
ERRORS = 3  # lines with level error, among LINES


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    home = tmp_path / "server"
    home.mkdir()
    with serve(server_config(home, {"auth": {"tokens": [TOKEN]}})) as srv:
        yield srv


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver().start()
    try:
        yield hook
    finally:
        hook.stop()


def _client_config(home: Path, url: str, hook_url: str, token: str = TOKEN) -> Path:
    """A host's logwarden.yaml: the server as its store, one JSON log input, one rule, one channel."""
    rules = write_yaml(
        home / "rules" / "errors.yaml",
        "name: any-error\nquery: 'log.level:error'\nevery: 1m\nwindow: 1h\nnotify: [hook]\n"
        "condition: {count: {gt: 0}}\n",
    )
    return write_yaml(
        home / "logwarden.yaml",
        f"store:\n  server: {{url: '{url}', token: {token}}}\n"
        f"shipper:\n  registry: {home / 'registry.db'}\n  batch: {{max_wait: 50ms}}\n"
        f"  inputs:\n    - {{paths: ['{home / 'logs'}/*.log'], format: json, service: web}}\n"
        f"alerter:\n  rules: [{rules.parent}]\n"
        f"notify:\n  channels:\n    - {{name: hook, url: 'json://{hook_url}/hook'}}\n",
    )


def _log_file(home: Path) -> None:
    """LINES JSON lines of the last few minutes, ERRORS of them at level error."""
    now = datetime_to_ms(datetime.now(UTC) - timedelta(minutes=5))
    lines = []
    for i in range(LINES):
        level = "error" if i % (LINES // ERRORS) == 0 else "info"
        lines.append(
            json.dumps({"@timestamp": format_ts(now + i), "level": level, "message": f"request {i}"})
        )
    (home / "logs").mkdir(parents=True)
    (home / "logs" / "app.log").write_text("\n".join(lines) + "\n")


def _logq(cfg: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.BytesIO(), io.StringIO()
    code = logq_run(["-c", str(cfg), *args], Io(out, err, False, {}))
    return code, out.getvalue().decode(), err.getvalue()


def _alerter(cfg: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "alerter.cli", "run", "--once", "-c", str(cfg)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_shipper_logq_and_two_alerters_work_through_the_server(
    tmp_path: Path, running: Running, webhook: WebhookReceiver
) -> None:
    """shipper run --once ships a file through the server; logq counts every line and the errors;
    two `alerter run --once` processes on two hosts fire on it, and the webhook gets one message."""
    host_a, host_b = tmp_path / "a", tmp_path / "b"
    cfg = _client_config(host_a, running.url, webhook.url)
    _log_file(host_a)
    assert shipper_main(["run", "--once", "-c", str(cfg)]) == 0
    assert _logq(cfg, "*", "--count") == (0, f"{LINES}\n", "")
    assert _logq(cfg, "log.level:error", "--count") == (0, f"{ERRORS}\n", "")
    lines = _logq(cfg, "log.level:error", "-o", "json")[1].splitlines()  # the raw path: docs as stored
    assert [json.loads(line)["message"] for line in lines] == [f"request {i}" for i in (0, 100, 200)]
    procs = [_alerter(cfg), _alerter(_client_config(host_b, running.url, webhook.url))]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    titles = [d.json()["title"] for d in webhook.delivered]
    assert titles == ["[WARNING] FIRING any-error"], titles


def test_logq_prints_the_servers_query_error_as_it_does_over_sqlite(tmp_path: Path, running: Running) -> None:
    """A query only the store refuses (a bad regex): logq prints the same lines over the server as over
    SQLite, the caret included, and exits 2."""
    over_server = _client_config(tmp_path / "a", running.url, "127.0.0.1:9")
    db = running.config.store.settings.path  # type: ignore[attr-defined]
    over_sqlite = write_yaml(tmp_path / "local.yaml", f"store:\n  sqlite: {{path: {db}}}\n")
    server_says = _logq(over_server, "host.name:/[/", "--count")
    sqlite_says = _logq(over_sqlite, "host.name:/[/", "--count")
    assert server_says == sqlite_says
    assert server_says[0] == 2 and server_says[2].splitlines()[2].strip() == "^"


def test_a_wrong_token_is_one_line_and_a_non_zero_exit(tmp_path: Path, running: Running) -> None:
    """With a token the server refuses, `shipper run` (not --once) exits 2 at once with one line naming
    the auth problem instead of retrying forever; logq says it in one line too."""
    cfg = _client_config(tmp_path, running.url, "127.0.0.1:9", token="wrong-token-0123456789")
    _log_file(tmp_path)
    shipper = subprocess.run(
        [sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shipper.returncode == 2
    assert shipper.stderr.count("\n") == 1 and "the token was refused (HTTP 401" in shipper.stderr
    code, out, err = _logq(cfg, "*", "--count")
    assert (code, out) == (2, "")
    assert err.startswith(f"logq: store error: server at {running.url}: the token was refused (HTTP 401")
    assert err.count("\n") == 1 and "wrong-token" not in err + shipper.stderr


def test_a_token_refused_mid_run_stops_the_shipper_with_one_line(tmp_path: Path, running: Running) -> None:
    """The server starts refusing the token after the shipper opened it (revoked while running): the
    shipper stops with exit 2 and one line instead of retrying forever, and its offsets stay where
    the last acknowledged batch left them, so a restart with a good token ships every line."""
    from tests.rig.proxy import FaultProxy

    proxy = FaultProxy(running.url)
    proxy.start()
    try:
        cfg = _client_config(tmp_path, proxy.url, "127.0.0.1:9")
        _log_file(tmp_path)
        proxy.fail_requests(401, 1000, "_bulk")
        shipper = subprocess.run(
            [sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), "LOG_LEVEL": "CRITICAL"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shipper.returncode == 2, shipper.stderr
        assert shipper.stderr.count("\n") == 1 and "401" in shipper.stderr
        proxy.reset()
        assert shipper_main(["run", "--once", "-c", str(cfg)]) == 0
        code, out, _ = _logq(cfg, "*", "--count", "--since", "1h")
        assert (code, out.strip()) == (0, str(LINES))
    finally:
        proxy.stop()
