"""Secrets never print: URL passwords, Authorization values and channel tokens are masked everywhere."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from logstore.redact import SecretFilter, redact_text, url_secrets
from tests.alerter.notify.receivers import WebhookReceiver, free_port

REPO = Path(__file__).parents[2]
PASSWORD = "S3cretPASSWORD"


def test_redact_text_masks_url_passwords_and_authorization_values() -> None:
    """The password of user:pw@ in any URL, and Authorization header values, become ***."""
    text = f"elasticsearch at http://elastic:{PASSWORD}@es:9200, https://u:p%40ss@h/x: refused"
    assert redact_text(text) == "elasticsearch at http://elastic:***@es:9200, https://u:***@h/x: refused"
    assert (
        redact_text("headers={'Authorization': 'Bearer abc.def'}")
        == "headers={'Authorization': 'Bearer ***'}"
    )
    assert redact_text("no secrets here") == "no secrets here"


def test_channel_url_secrets_cover_tokens_in_host_path_and_query() -> None:
    """dingtalk://TOKEN/, wecombot://KEY, json://host/path?token=... give their tokens, not host names."""
    assert "a1b2c3d4e5f6" in url_secrets("dingtalk://a1b2c3d4e5f6/")
    assert {"SECRETPATH1", "SECRETQUERY", "TOKEN4HEADER"} <= url_secrets(
        "json://127.0.0.1:9000/hook/SECRETPATH1?token=SECRETQUERY&+Authorization=Bearer%20TOKEN4HEADER"
    )
    assert "alerts" not in url_secrets("json://127.0.0.1:9/alerts")  # a word, not a token: logs keep it
    mail = url_secrets("mailtos://user:PASSWORD9@smtp.example.com?to=a@b.c")
    assert "PASSWORD9" in mail and "smtp.example.com" not in mail and "hook" not in mail


def test_filter_masks_messages_arguments_and_extra_fields() -> None:
    """A record's message, %-arguments and extra fields pass through the mask."""
    f = SecretFilter()
    f.add_secrets(["tok-123456"])
    record = logging.LogRecord("apprise", logging.DEBUG, "", 0, "POST to %s", ("https://x/tok-123456",), None)
    record.url = f"http://a:{PASSWORD}@h"
    assert f.filter(record)
    assert record.getMessage() == "POST to https://x/***"
    assert record.url == "http://a:***@h"


def _rules(tmp_path: Path) -> Path:
    """A rules directory with one rule that fires on any line and notifies the channel `hook`."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "name: errs\nquery: '*'\nevery: 1m\ncondition: {count: {gt: 0}}\nnotify: [hook]\n"
    )
    return rules


def _run(args: list[str], cwd: Path, timeout: float = 60) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO), "LOG_LEVEL": "DEBUG"},
        check=False,
    )
    return proc.stdout + proc.stderr


def test_no_output_of_a_failing_run_contains_the_password_or_a_channel_token(tmp_path: Path) -> None:
    """logq, shipper, alerter (run --once at DEBUG, status) against an unreachable cluster with a
    password in its URL, notifying a token-bearing webhook: neither secret appears in any output."""
    port = free_port()
    hook = WebhookReceiver().start()
    try:
        token = "HOOKTOKEN987654"
        (tmp_path / "app.log").write_text('{"msg": "boom", "level": "error"}\n')
        rules = _rules(tmp_path)
        cfg = tmp_path / "logwarden.yaml"
        cfg.write_text(
            f'store:\n  elasticsearch:\n    hosts: ["http://elastic:{PASSWORD}@127.0.0.1:{port}"]\n'
            "    request_timeout: 2s\n"
            f"shipper:\n  registry: {tmp_path / 'reg.db'}\n  shutdown_timeout: 2s\n"
            f"  inputs:\n    - paths: [{tmp_path / 'app.log'}]\n      format: json\n"
            f"alerter:\n  rules: [{rules}]\n"
            f"notify:\n  channels:\n    - name: hook\n      url: 'json://{hook.url}/{token}?+Authorization=Bearer%20{token}'\n"
        )
        outputs = {
            "logq": _run(["logq.cli", "-c", str(cfg), "*"], tmp_path),
            "shipper": _run(["shipper.cli", "-c", str(cfg), "run", "--once"], tmp_path),
            "alerter run": _run(["alerter.cli", "-c", str(cfg), "run", "--once"], tmp_path),
            "alerter status": _run(["alerter.cli", "-c", str(cfg), "status"], tmp_path),
        }
    finally:
        hook.stop()
    for name, out in outputs.items():
        assert "127.0.0.1" in out, f"{name} did not report the failing store: {out[-500:]}"
        assert PASSWORD not in out, f"{name} printed the password"
        assert token not in out, f"{name} printed the channel token"
    assert "elastic:***@127.0.0.1" in outputs["logq"]


def test_apprise_debug_lines_never_show_channel_tokens(tmp_path: Path) -> None:
    """alerter run --once at DEBUG sends with a token in an Authorization header; apprise's own debug
    lines (which print the whole service URL) show it masked."""
    from logstore import open_store
    from logstore.config import SqliteConfig, StoreConfig
    from logstore.types import Doc, datetime_to_ms, format_ts

    token = "HOOKTOKEN987654"
    hook = WebhookReceiver().start()
    try:
        store = open_store(StoreConfig(sqlite=SqliteConfig(path=tmp_path / "db.sqlite")))
        ms = datetime_to_ms(datetime.now(UTC)) - 30_000  # inside the window, past the rule's delay
        store.write([Doc(id="e1", ts=ms, source={"@timestamp": format_ts(ms), "message": "boom"})])
        store.close()
        rules = _rules(tmp_path)
        cfg = tmp_path / "logwarden.yaml"
        cfg.write_text(
            f"store:\n  sqlite: {{path: {tmp_path / 'db.sqlite'}}}\nalerter:\n  rules: [{rules}]\n"
            f"notify:\n  channels:\n    - name: hook\n      url: 'json://{hook.url}/?+Authorization=Bearer%20{token}'\n"
        )
        out = _run(["alerter.cli", "-c", str(cfg), "run", "--once"], tmp_path)
        assert len(hook.delivered) == 1, out[-2000:]
    finally:
        hook.stop()
    assert '"logger":"apprise"' in out, "no apprise debug line to check"
    assert token not in out
