"""The shipper command: check, run --once, status, dlq list/replay, metrics, SIGTERM, user errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from logstore import open_store
from logstore.config import SqliteConfig, StoreConfig
from shipper.cli import main
from shipper.registry import Registry
from tests.shipper.harness import LogDir, wait_until

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def _running(cfg: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``shipper run -c cfg`` as a process, stderr piped; killed if still running, and reaped, after."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stderr=subprocess.PIPE,
        cwd=str(REPO),
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def _config(tmp: Path, extra: str = "") -> Path:
    cfg = tmp / "logwarden.yaml"
    cfg.write_text(
        f"""store:
  sqlite:
    path: {tmp / "store.db"}
shipper:
  registry: {tmp / "registry.db"}
  batch: {{max_wait: 50ms}}
  inputs:
    - paths: ["{tmp / "logs"}/*.log"]
      format: json
      service: cli
{extra}"""
    )
    return cfg


def test_config_error_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown key in the shipper section exits 2 with file:line: key.path: message, no traceback."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("shipper:\n  inputs:\n    - paths: [a.log]\n      formatt: json\n")
    assert main(["check", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"{cfg}:4: shipper.inputs[0].formatt: unknown key"


def test_bad_format_and_regex_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad format or multiline regex names its key and line."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("shipper:\n  inputs:\n    - paths: [a.log]\n      multiline: {start: '('}\n")
    assert main(["run", "--once", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{cfg}:4: shipper.inputs[0].multiline.start: not a valid regular expression")


def test_no_inputs_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """run without any input exits 2 with one line."""
    cfg = tmp_path / "empty.yaml"
    cfg.write_text(f"store:\n  sqlite:\n    path: {tmp_path / 's.db'}\n")
    assert main(["run", "-c", str(cfg)]) == 2
    assert "no inputs configured" in capsys.readouterr().err


def test_unknown_command_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Bad arguments exit 2 with one line."""
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_check_lists_matched_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """check validates and shows which files each input matches."""
    logs = LogDir(tmp_path / "logs")
    logs.write("a.log", 1)
    logs.write("b.log", 1)
    assert main(["check", "-c", str(_config(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "ok" in out and str(logs.path("a.log")) in out and str(logs.path("b.log")) in out


def test_once_then_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """run --once ships everything and exits 0; status shows each file committed to its size, lag 0,
    in human sizes (13.0 KiB); -o json gives the exact byte counts."""
    logs = LogDir(tmp_path / "logs")
    logs.write("a.log", 300)
    cfg = _config(tmp_path)
    assert main(["run", "--once", "-c", str(cfg), "--log-level", "WARNING"]) == 0
    store = open_store(StoreConfig(sqlite=SqliteConfig(path=tmp_path / "store.db")))
    try:
        assert store.count("") == 300
    finally:
        store.close()
    capsys.readouterr()
    assert main(["status", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    size = os.path.getsize(logs.path("a.log"))
    assert 10 << 10 < size < 100 << 10, "the human size below is in KiB"
    human = f"{size / 1024:.1f} KiB"
    row = next(line for line in out.splitlines() if "a.log" in line)
    assert row.count(f" {human} ") == 2 and "│ 0 B " in row and str(size) not in row
    assert main(["status", "-o", "json", "-c", str(cfg)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert ", " not in line and '": ' not in line, "compact, like logq -o json"
    assert json.loads(line) == {
        "identity": json.loads(line)["identity"],
        "path": str(logs.path("a.log")),
        "size": size,
        "committed": size,
        "lag": 0,
        "state": "tracked",
        "reason": None,
    }


def test_dlq_list_and_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Dead letters are listed with their reason; replay delivers them and empties the table."""
    cfg = _config(tmp_path)
    reg = Registry(tmp_path / "registry.db")
    src = {"@timestamp": "2026-11-22T06:39:00.000Z", "message": "m", "event": {"id": "dead1"}}
    reg.dlq_add(
        [("dead1", "f", 7, "/x.log", "mapper_parsing_exception: bad", orjson.dumps(src), 1795329540000)]
    )
    reg.close()
    assert main(["dlq", "list", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "/x.log:7" in out and "mapper_parsing_exception" in out
    assert main(["dlq", "list", "-o", "json", "-c", str(cfg)]) == 0
    row = json.loads(capsys.readouterr().out)
    created = row.pop("created")
    assert row == {
        "id": 1,
        "path": "/x.log",
        "offset": 7,
        "doc_id": "dead1",
        "attempts": 1,
        "reason": "mapper_parsing_exception: bad",
        "ts": "2026-11-22T06:39:00.000Z",
    }
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", created)
    assert main(["dlq", "replay", "-c", str(cfg)]) == 0
    assert "1 delivered" in capsys.readouterr().out
    reg = Registry(tmp_path / "registry.db")
    try:
        assert reg.dlq_count() == 0
    finally:
        reg.close()


def test_metrics_health_and_sigterm(tmp_path: Path) -> None:
    """run serves /metrics and /healthz when a port is set, and SIGTERM flushes and exits 0."""
    logs = LogDir(tmp_path / "logs")
    logs.write("a.log", 50)
    cfg = _config(tmp_path, "  metrics: {host: 127.0.0.1, port: 0}\n")
    with _running(cfg) as proc:
        assert proc.stderr is not None
        port = None
        for raw in proc.stderr:
            rec = json.loads(raw)
            if rec.get("msg") == "metrics and health endpoint up":
                port = rec["port"]
                break
        assert port
        base = f"http://127.0.0.1:{port}"

        def shipped() -> bool:
            with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
                text = r.read().decode()
            return "shipper_events_sent_total 50.0" in text

        wait_until(shipped, 20, "50 docs in metrics")
        with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
            assert r.status == 200 and json.loads(r.read())["status"] == "ok"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_run_waits_for_a_store_that_is_down_at_start(
    tmp_path: Path, es_proxy: object, es_store_config: StoreConfig
) -> None:
    """The sidecar started before its Elasticsearch waits and retries, then ships once the store is up."""
    from tests.rig.proxy import FaultProxy

    assert isinstance(es_proxy, FaultProxy)
    es = es_store_config.elasticsearch
    assert es is not None
    logs = LogDir(tmp_path / "logs")
    logs.write("a.log", 20)
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(
        f"store:\n  elasticsearch:\n    hosts: [{es_proxy.url}]\n    index: '{es.index}'\n"
        f"    template_name: {es.template_name}\n    state_index: {es.state_index}\n"
        f"shipper:\n  registry: {tmp_path / 'registry.db'}\n  batch: {{max_wait: 50ms}}\n"
        f"  inputs:\n    - paths: ['{tmp_path / 'logs'}/*.log']\n      format: json\n"
    )
    es_proxy.refuse_connections(True)
    store = None
    with _running(cfg) as proc:
        try:
            assert proc.stderr is not None
            for raw in proc.stderr:
                if json.loads(raw).get("msg") == "store unavailable; retrying":
                    break
            es_proxy.refuse_connections(False)
            store = open_store(es_store_config)

            def shipped() -> bool:
                store.refresh()
                return store.count("") >= 20

            wait_until(shipped, 40, "20 docs after the store came up")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
        finally:
            es_proxy.reset()
            if store is not None:
                store.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again at once: nothing listens there


def _get(url: str) -> tuple[int, dict[str, object]]:
    import urllib.error

    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_health_endpoints_come_up_before_the_store(tmp_path: Path) -> None:
    """`shipper run` whose Elasticsearch is unreachable serves at once: /healthz 200 (the process is
    alive and waiting), /readyz 503 with the store's error as the reason."""
    store_port = _free_port()
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(
        f"store:\n  elasticsearch:\n    hosts: ['http://127.0.0.1:{store_port}']\n"
        f"shipper:\n  registry: {tmp_path / 'registry.db'}\n  metrics: {{host: 127.0.0.1, port: 0}}\n"
        f"  inputs:\n    - paths: ['{tmp_path}/*.log']\n      format: json\n"
    )
    with _running(cfg) as proc:
        assert proc.stderr is not None
        port, retries = None, 0
        for raw in proc.stderr:
            line = json.loads(raw)
            if line.get("msg") == "metrics and health endpoint up":
                port = line["port"]
            elif line.get("msg") == "store unavailable; retrying":
                retries += 1
                if port is not None or retries == 2:
                    break
        assert port is not None, "no endpoint while the store is down"
        base = f"http://127.0.0.1:{port}"
        assert _get(base + "/healthz") == (200, {"status": "ok", "detail": "starting: waiting for the store"})
        code, body = _get(base + "/readyz")
        assert code == 503 and body["status"] == "degraded", body
        assert str(body["detail"]).startswith(f"store: elasticsearch at http://127.0.0.1:{store_port}"), body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_readyz_once_running_says_store_reachable_and_registry_writable(tmp_path: Path) -> None:
    """A running shipper on a reachable store: /healthz 200 "shipper loop alive", /readyz 200."""
    LogDir(tmp_path / "logs").write("a.log", 5)
    cfg = _config(tmp_path, "  metrics: {host: 127.0.0.1, port: 0}\n")
    with _running(cfg) as proc:
        assert proc.stderr is not None
        port = next(
            json.loads(raw)["port"] for raw in proc.stderr if b"metrics and health endpoint up" in raw
        )
        base = f"http://127.0.0.1:{port}"

        def alive() -> bool:
            return _get(base + "/healthz") == (200, {"status": "ok", "detail": "shipper loop alive"})

        wait_until(alive, 20, "the loop to turn")
        assert _get(base + "/readyz") == (
            200,
            {"status": "ok", "detail": "store reachable, registry writable"},
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_unreachable_store_whose_url_contains_401_is_waited_for(tmp_path: Path) -> None:
    """Only a real 401/403 stops the sidecar: a down store whose URL happens to contain "401" is retried."""
    port = _free_port()
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(
        f"store:\n  elasticsearch:\n    hosts: ['http://127.0.0.1:{port}/logs401']\n"
        f"shipper:\n  registry: {tmp_path / 'registry.db'}\n"
        f"  inputs:\n    - paths: ['{tmp_path}/*.log']\n      format: json\n"
    )
    with _running(cfg) as proc:
        assert proc.stderr is not None
        for raw in proc.stderr:  # the client's own warnings may come first
            line = json.loads(raw)
            if line.get("logger") == "shipper":
                break
        assert line.get("msg") == "store unavailable; retrying", line
        assert "401" in line["reason"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
