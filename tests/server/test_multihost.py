"""Several hosts, for real: three shipper processes, each with its own host name and rotating log,
ship into one server that is SIGKILLed twice mid-stream; every line of every host is stored exactly
once, and `logq --count-by host.name` gives the per-host counts."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO

import orjson
import pytest

from logstore import open_store
from logstore.config import SqliteConfig, StoreConfig
from tests.deploy._support import free_port
from tests.shipper.harness import REPO, LogDir, ShipperProcess, wait_until

TOKEN = "multi-host-test-token-0123456789"
HOSTS = ("web1", "web2", "web3")


class ServerProcess:
    """``logwarden serve`` as a real process on a fixed port, SIGKILLed and restarted on cue."""

    def __init__(self, cfg: Path, url: str, log: IO[bytes]) -> None:
        self.cfg, self.url, self.log = cfg, url, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), "LOG_LEVEL": "WARNING"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "-c", str(self.cfg)],
            env=env,
            stdout=self.log,
            stderr=self.log,
            cwd=str(REPO),
        )
        wait_until(self._up, 30, "the server to answer /healthz")

    def _up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the server exited with {self.proc.returncode}")
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _server_config(tmp: Path, port: int) -> Path:
    cfg = tmp / "server.yaml"
    cfg.write_text(
        f"store:\n  sqlite:\n    path: {tmp / 'server.db'}\n"
        f"server:\n  listen: 127.0.0.1:{port}\n  auth:\n    tokens: [{TOKEN}]\n"
    )
    return cfg


def _host_config(root: Path, host: str, url: str) -> Path:
    cfg = root / "logwarden.yaml"
    cfg.write_text(
        f"""
store:
  server: {{url: "{url}", token: {TOKEN}}}
shipper:
  host_name: {host}
  registry: {root / "registry.db"}
  scan_interval: 200ms
  batch: {{max_docs: 1000, max_wait: 200ms}}
  retry: {{initial: 50ms, max: 1s}}
  inputs:
    - paths: ["{root / "logs"}/app.log*"]
      format: json
      service: app
"""
    )
    return cfg


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_three_hosts_two_server_kills_every_line_once(tmp_path: Path) -> None:
    """3 hosts x 400 lines/s for 12 s with rotations each second; the server SIGKILLed twice and
    restarted: each host's seqs are exactly 0..N-1 once, and logq counts per host agree."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    out = open(tmp_path / "processes.out", "wb")  # noqa: SIM115 - shared by every restart
    server = ServerProcess(_server_config(tmp_path, port), url, out)
    server.start()
    rng = random.Random(16)
    stop = threading.Event()
    logs = {h: LogDir(tmp_path / h / "logs") for h in HOSTS}
    shippers = {h: ShipperProcess(_host_config(tmp_path / h, h, url), out) for h in HOSTS}

    def writer(d: LogDir) -> None:
        d.write("app.log", 0)
        next_t = time.monotonic()
        while not stop.is_set():
            d.append("app.log", 4, pad="x" * 40)
            next_t += 0.01
            time.sleep(max(0.0, next_t - time.monotonic()))  # pacing the writer, not a wait

    def rotator() -> None:
        while not stop.wait(1.0):
            for d in logs.values():
                d.rotate("app.log", rng.choice(["rename", "copytruncate"]))

    threads = [threading.Thread(target=writer, args=(d,), daemon=True) for d in logs.values()]
    threads.append(threading.Thread(target=rotator, daemon=True))
    try:
        for t in threads:
            t.start()
        for s in shippers.values():
            s.start()
        for _ in range(2):
            stop.wait(rng.uniform(3.0, 4.5))
            server.kill()
            stop.wait(rng.uniform(0.3, 1.0))  # down for a moment: the shippers retry meanwhile
            server.start()
        stop.wait(4.0)
        stop.set()
        for t in threads:
            t.join(10)
        written = {h: d.seq for h, d in logs.items()}
        assert all(n > 2000 for n in written.values()), written
        reader = StoreConfig(sqlite=SqliteConfig(path=tmp_path / "server.db"))

        def caught_up() -> bool:
            store = open_store(reader, create=False)
            try:
                return store.count("") >= sum(written.values())
            finally:
                store.close()

        wait_until(caught_up, 90, f"{sum(written.values())} docs on the server")
        for s in shippers.values():
            assert s.terminate() == 0, "SIGTERM must flush and exit 0"
        store = open_store(reader, create=False)
        try:
            seqs: dict[str, list[int]] = {h: [] for h in HOSTS}
            ids = set()
            for hit in store.search(""):
                seqs[hit.source["host"]["name"]].append(
                    int(hit.source["app"]["seq"])
                )  # the "app" input's namespace
                ids.add(hit.id)
        finally:
            store.close()
        assert len(ids) == sum(written.values()), "a duplicate _id"
        for h in HOSTS:
            assert sorted(seqs[h]) == list(range(written[h])), f"{h}: a line missing or doubled"
        assert server.kills == 2
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "logq.cli",
                "-c",
                str(tmp_path / "web1" / "logwarden.yaml"),
                "",
                "--since",
                "1h",
                "--count-by",
                "host.name",
                "-o",
                "json",
            ],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            cwd=str(REPO),
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        rows = [orjson.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        counts = {r["host.name"]: r["count"] for r in rows if "host.name" in r}
        assert counts == written, (counts, written)
    finally:
        stop.set()
        for s in shippers.values():
            s.ensure_stopped()
        server.stop()
        out.close()
