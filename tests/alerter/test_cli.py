"""The alerter command: exit codes, one-line user errors, the shipped fixture cases, run --once, SIGTERM."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

import pytest

from alerter.cli import main
from tests.alerter.helpers import hook_config, start_alerter_run, write_error, write_yaml

REPO = Path(__file__).parents[2]
CASE_FILES = sorted((REPO / "rules" / "tests").glob("*.yaml"))


def _config(tmp_path: Path, extra: str = "") -> Path:
    rules = write_yaml(
        tmp_path / "rules" / "errors.yaml",
        "name: any-error\nquery: 'log.level:error'\nevery: 1s\nwindow: 1h\ncondition: {count: {gt: 0}}\n",
    )
    return write_yaml(
        tmp_path / "logwarden.yaml",
        f"store:\n  sqlite: {{path: {tmp_path / 'db.sqlite'}}}\nalerter:\n  rules: [{rules.parent}]\n{extra}",
    )


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_shipped_rule_fixtures_pass(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every rules/tests/*.yaml fixture file passes `alerter test`."""
    assert main(["test", str(path)]) == 0, capsys.readouterr().out
    assert " 0 failed" in capsys.readouterr().out


def test_failing_case_is_reported_with_what_happened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A case expecting the wrong time fails with exit 1 and names the expected and actual alerts."""
    rule = write_yaml(tmp_path / "r.yaml", "name: r\nevery: 1m\ncondition: {count: {gt: 0}}\n")
    cases = write_yaml(
        tmp_path / "cases.yaml",
        f"rules: [{rule.name}]\ncases:\n  - name: wrong\n    until: 2m\n"
        "    events: [{at: 0s, doc: {a: 1}}]\n"
        "    expect: [{at: 2m, rule: r, state: firing}]\n",
    )
    assert main(["test", str(cases)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  wrong" in out and "expected r firing  at 2m; got firing at 1m" in out


def test_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """check: 0 and a summary when valid (-c before or after the command); 2 and one line per error."""
    cfg = _config(tmp_path)
    assert main(["check", "-c", str(cfg)]) == 0
    assert "1 rule(s) in 1 file(s) ok" in capsys.readouterr().out
    assert main(["-c", str(cfg), "check"]) == 0, "-c before the command works too"
    assert "1 rule(s) in 1 file(s) ok" in capsys.readouterr().out
    (tmp_path / "rules" / "bad.yaml").write_text(
        "name: b\nevery: 1m\ncondition: {count: {gt: 1}}\nwindow: 5x\n"
    )
    assert main(["check", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"{tmp_path / 'rules' / 'bad.yaml'}:4: window: expected a duration like 14d, 30s, 5m or 1h"
    ]


def test_check_rejects_a_channel_url_apprise_cannot_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """check: a channel URL apprise does not understand is one line with file and line, without the URL."""
    cfg = _config(tmp_path, "notify:\n  channels:\n    - name: x\n      url: 'nosuchscheme://tok3n'\n")
    assert main(["check", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"{cfg}:8: notify.channels[0].url: apprise does not understand")
    assert "tok3n" not in err[0]


def test_bad_config_and_bad_args_exit_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken logwarden.yaml or an unknown option is one line on stderr and exit 2, no traceback."""
    cfg = write_yaml(tmp_path / "logwarden.yaml", "alerter:\n  workers: many\n")
    assert main(["status", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "logwarden.yaml:2: alerter.workers:" in err
    with pytest.raises(SystemExit) as exc:
        main(["run", "--bogus"])
    assert exc.value.code == 2
    assert main(["test", "no-such-rule", "-c", str(_config(tmp_path)), "--since", "1h"]) == 2


def test_schema_is_json_with_the_rule_fields(capsys: pytest.CaptureFixture[str]) -> None:
    """schema prints a JSON Schema naming the rule's keys (with `for`, not `for_`)."""
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"name", "query", "every", "cron", "condition", "for", "keep_firing_for"} <= set(
        schema["properties"]
    )
    assert schema["additionalProperties"] is False


def test_run_once_then_status_and_backtest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """run --once fires on an error line; status shows it firing; a backtest prints the chart."""
    cfg = _config(tmp_path)
    write_error(cfg, 30)
    assert main(["run", "--once", "-c", str(cfg)]) == 0
    assert main(["status", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "any-error" in out and "firing" in out
    assert main(["status", "--json", "-c", str(cfg)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["rule"], r["state"], r["value"]) for r in rows] == [("any-error", "firing", 1)]
    assert main(["test", "any-error", "-c", str(cfg), "--since", "2m"]) == 0
    out = capsys.readouterr().out
    assert "rule any-error:" in out and "threshold > 0" in out


def test_run_serves_health_and_stops_on_sigterm(tmp_path: Path) -> None:
    """alerter run serves /healthz and /metrics when metrics.port is set, and exits 0 on SIGTERM."""
    cfg = _config(tmp_path, "  metrics: {host: 127.0.0.1, port: 0}\n")
    proc, port = start_alerter_run(cfg)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert resp.status == 200 and json.loads(resp.read())["status"] == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            assert b"alerter_evaluations_total" in resp.read()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_once_delivers_through_the_notification_pipeline(tmp_path: Path) -> None:
    """run --once with a json:// channel: the local webhook receives the alert with its logq command."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    bodies: list[dict[str, object]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            bodies.append(json.loads(self.rfile.read(length) or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        cfg = hook_config(tmp_path, f"json://127.0.0.1:{port}/hook", notify="  group_wait: 30s\n")
        write_error(cfg, 30)
        assert main(["run", "--once", "-c", str(cfg)]) == 0
        assert len(bodies) == 1, "flushed despite group_wait: --once does not wait"
        text = json.dumps(bodies[0])
        assert "any-error" in text and "logq -c" in text
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_run_once_exits_1_and_says_when_a_delivery_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """run --once whose only channel refuses the connection: exit 1, a stderr line naming the channel
    and the retry time; the alert stays pending and the next run --once tries it again."""
    from tests.alerter.notify.receivers import WebhookReceiver, free_port

    port = free_port()
    cfg = hook_config(tmp_path, f"json://127.0.0.1:{port}/hook")
    write_error(cfg, 30)
    assert main(["run", "--once", "-c", str(cfg)]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("alerter run:")]
    assert len(err) == 1 and "delivery to channel 'hook' failed" in err[0], err
    assert "1 alert(s) kept" in err[0] and "retries at 20" in err[0] and "attempt 2" in err[0]
    receiver = WebhookReceiver(port=port).start()
    try:
        assert main(["run", "--once", "-c", str(cfg)]) == 0, "the next run delivers what was kept"
        assert len(receiver.delivered) == 1 and "any-error" in receiver.delivered[0].body.decode()
    finally:
        receiver.stop()
