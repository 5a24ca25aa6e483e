"""examples/demo.py (`make run`): bad configs exit 2; end to end, a 502 storm becomes a mail."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import psutil
import pytest

from logstore import open_store
from logwarden.config import load_config
from tests.deploy._support import EXAMPLES, ROOT, wait_until

DEMO = EXAMPLES / "demo.py"


def mail_text(path: Path) -> str:
    """Subject and decoded plain-text body of a stored mail (bodies are quoted-printable)."""
    msg = message_from_bytes(path.read_bytes(), policy=policy.default)
    body = msg.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else ""
    return f"{msg.get('subject', '')}\n{text}"


def announced_port(log: Path) -> int | None:
    """The HTTP port a service logged at startup (a JSON log line with a ``port`` field)."""
    if not log.exists():
        return None
    for line in log.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("port"), int):
            return int(rec["port"])
    return None


def field(doc: dict[str, Any], dotted: str) -> Any:
    """A field of a hit, whether the output nests objects or keeps dotted keys."""
    if dotted in doc:
        return doc[dotted]
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def test_demo_refuses_a_broken_config_with_one_line_and_exit_2(tmp_path: Path) -> None:
    """A config with an unknown key stops the demo before any child starts: one file:line line, exit 2."""
    bad = tmp_path / "logwarden.yaml"
    bad.write_text("store:\n  sqlite:\n    path: x.db\nshipper:\n  inptus: []\n")
    proc = subprocess.run(
        [sys.executable, str(DEMO), "-c", str(bad), "--data", str(tmp_path / "data"), "--duration", "5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{bad}:5: shipper.inptus: unknown key" in lines[0]
    assert not (tmp_path / "data" / "proc" / "shipper.log").exists()


def test_demo_never_deletes_a_directory_it_did_not_make(tmp_path: Path) -> None:
    """--data pointing at a non-empty directory that is not a demo run's is refused (exit 2), left intact."""
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    proc = subprocess.run(
        [sys.executable, str(DEMO), "--data", str(tmp_path), "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "is not a demo data directory" in proc.stderr
    assert precious.read_text() == "keep me"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-c", "nope.yaml"], "nope.yaml: no such config file"),
        (["--storm-every", "soon"], "expected a duration like 30s"),
    ],
)
def test_demo_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    """A missing config file or a malformed duration is a usage error (exit 2) naming it, not a traceback."""
    proc = subprocess.run(
        [sys.executable, str(DEMO), "--data", str(tmp_path), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def _server_url(lines: list[str]) -> str | None:
    """The server URL the demo prints at start (``  server        http://127.0.0.1:PORT ...``)."""
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "server" and parts[1].startswith("http://"):
            return parts[1]
    return None


@pytest.mark.timeout(150)
def test_demo_end_to_end_a_502_storm_arrives_as_mail_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    """The server shape: two hosts' traffic->shipper->server, alerter->aiosmtpd: a 502 mail arrives,
    logq over the server counts 502s per host, Ctrl-C exits 0 and every line is stored once."""
    data = tmp_path / "demo"
    out_lines: list[str] = []
    proc = subprocess.Popen(
        [
            sys.executable,
            str(DEMO),
            "--data",
            str(data),
            "--duration",
            "120",
            "--storm-offset",
            "2s",
            "--rate",
            "30",
            "--rotate-every",
            "8s",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out_lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    children: list[psutil.Process] = []
    try:

        def mail_with_502() -> Path | None:
            if proc.poll() is not None:
                raise AssertionError("demo exited early:\n" + "".join(out_lines[-40:]))
            for f in sorted((data / "mailbox").glob("*.eml")):
                if "502" in mail_text(f):
                    return f
            return None

        def all_six_children() -> list[psutil.Process] | None:
            kids = psutil.Process(proc.pid).children()
            return kids if len(kids) >= 6 else None

        children.extend(wait_until(all_six_children, 30, what="server, 2 traffic, 2 shippers, alerter"))
        mail = wait_until(mail_with_502, 90, interval=0.5, what="a 502 alert mail")
        assert "nginx-502-storm" in mail_text(mail)
        assert any("=== ALERT" in line for line in out_lines), "the console shows the notification"

        # Shippers and the alerter serve /healthz (ok) and /metrics on the port their log line names.
        for name in ("shipper-web-1", "shipper-web-2", "alerter"):
            log = data / "proc" / f"{name}.log"
            port = wait_until(functools.partial(announced_port, log), 20, what=f"{name} port")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
                assert r.status == 200 and json.loads(r.read())["status"] == "ok"
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                assert f"{name.split('-')[0]}_".encode() in r.read()

        # The command the demo prints: 502s per host, across both hosts, from the one server.
        url = _server_url(out_lines)
        assert url is not None, "the demo prints the server's URL"
        env = dict(
            os.environ,
            LOGWARDEN_DEMO_DIR=str(data),
            PYTHONPATH=str(ROOT),
            DEMO_SERVER_PORT=url.rsplit(":", 1)[1],
        )
        bindir = Path(sys.executable).parent
        q = subprocess.run(
            [
                str(bindir / "logq"),
                "-c",
                str(EXAMPLES / "host.yaml"),
                "service.name:nginx",
                "--since",
                "15m",
                "--count-by",
                "host.name",
                "-o",
                "json",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert q.returncode == 0, q.stderr
        hosts = {json.loads(line)["host.name"] for line in q.stdout.splitlines()}
        assert hosts == {"web-1", "web-2"}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C: the children sit in their own process groups
        try:
            code = proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            for p in [*children, psutil.Process(proc.pid)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            raise
        reader.join(timeout=5)
    assert code == 0, "".join(out_lines[-40:])
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == [], f"children left running: {alive}"
    assert any("[demo] stopped." in line for line in out_lines)

    # Stopped in pipeline order (traffic, shippers, alerter, server), the shippers have flushed:
    # every line each host wrote across the rotations is in the server's store exactly once.
    config = load_config(EXAMPLES / "server.yaml", {"LOGWARDEN_DEMO_DIR": str(data)})
    store = open_store(config.store, create=False)
    try:
        for host in ("web-1", "web-2"):
            written = json.loads((data / "proc" / f"traffic-{host}.log").read_text().splitlines()[-1])[
                "lines"
            ]
            assert store.count(f"service.name:shop AND host.name:{host}") == written["app.log"], host
            assert store.count(f"service.name:nginx AND host.name:{host}") == written["access.log"], host
    finally:
        store.close()


def test_demo_stops_cleanly_on_sigterm_sent_twice_as_make_and_timeout_do(tmp_path: Path) -> None:
    """`timeout`/`kill` on `make run`: SIGTERM reaches the demo twice (the process group, and make
    forwarding it); the demo still stops every child gracefully, prints no kill line and exits 0."""
    data = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, str(DEMO), "--one-host", "--data", str(data), "--duration", "60", "--rate", "20"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like make's under `timeout`
    )
    out_lines: list[str] = []
    reader = threading.Thread(target=lambda: out_lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    children: list[psutil.Process] = []
    try:
        children.extend(
            wait_until(lambda: psutil.Process(proc.pid).children() or None, 15, what="the demo's children")
        )
        for name in ("shipper", "alerter"):  # up: both serve HTTP (their SIGTERM handlers are set)
            log = data / "proc" / f"{name}.log"
            wait_until(functools.partial(announced_port, log), 15, what=f"{name} up")
        children[:] = psutil.Process(proc.pid).children()
        os.killpg(proc.pid, signal.SIGTERM)  # timeout signals the whole group ...
        os.kill(proc.pid, signal.SIGTERM)  # ... and make forwards its own SIGTERM to the demo
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            for p in [*children, psutil.Process(proc.pid)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            proc.wait()
        reader.join(timeout=5)
    text = "".join(out_lines)
    assert "did not stop after SIGTERM" not in text, text[-2000:]
    assert code == 0 and "[demo] stopped." in text, text[-2000:]
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == [], f"children left running: {alive}"
