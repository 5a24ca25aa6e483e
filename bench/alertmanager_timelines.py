"""Notification timelines side by side: logwarden's pipeline against a real Prometheus Alertmanager.

Each timeline (alerts firing and resolving, silences, a restart) is played twice with the same
compressed timers (group_wait 2s, group_interval 4s, repeat_interval 12s):

- into Alertmanager 0.25 (Debian's ``prometheus-alertmanager``, started here on loopback with
  clustering off), through its API v2 as Prometheus would send alerts, with a webhook receiver
  recording when each notification arrives;
- into logwarden's NotificationPipeline (SQLite state in a temp dir), on an injected clock stepping
  0.1 s, with a recording sender.

It prints one table row per timeline: the second (from the first alert) at which each message
arrived, and what it said. Run: ``python bench/alertmanager_timelines.py`` (about a minute; the
Alertmanager timelines run side by side). Needs ``/usr/bin/prometheus-alertmanager``.
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerter.config import Channel, NotifyConfig  # noqa: E402
from alerter.events import AlertEvent  # noqa: E402
from alerter.notify import build_notifier  # noqa: E402
from alerter.notify.send import SendResult  # noqa: E402
from alerter.notify.state.sqlite import SqliteNotifyState  # noqa: E402
from alerter.notify.state.types import Silence  # noqa: E402
from logstore.config import StoreConfig  # noqa: E402
from logwarden.config import Config  # noqa: E402

AM = "/usr/bin/prometheus-alertmanager"
GW, GI, RI = 2, 4, 12  # seconds
END = 40

# A timeline: (second, action, argument). Actions: fire HOST, resolve HOST, silence (HOST, until),
# restart.
Step = tuple[float, str, Any]
TIMELINES: dict[str, list[Step]] = {
    "one group": [(0, "fire", "web1"), (20, "resolve", "web1")],
    "three groups 5 s apart": [(0, "fire", "web1"), (5, "fire", "web2"), (10, "fire", "web3")],
    "flapping": [
        (0, "fire", "web1"),
        (6, "resolve", "web1"),
        (9, "fire", "web1"),
        (13, "resolve", "web1"),
        (16, "fire", "web1"),
    ],
    "repeat (40 s firing)": [(0, "fire", "web1")],
    "silence 8..24 s mid-firing": [(0, "fire", "web1"), (8, "silence", ("web1", 24))],
    "resolve during a silence": [(0, "fire", "web1"), (6, "silence", ("web1", 20)), (10, "resolve", "web1")],
    "restart at 10 s": [(0, "fire", "web1"), (10, "restart", None)],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Arrival:
    at: float
    what: str


# ---- Alertmanager ----------------------------------------------------------------------------------


class _Hook:
    """A webhook receiver recording (seconds since start, status and alert count) per message."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.t0 = time.monotonic()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                firing = sum(1 for a in body["alerts"] if a["status"] == "firing")
                resolved = len(body["alerts"]) - firing
                what = f"FIRING:{firing}" if firing else f"RESOLVED:{resolved}"
                hook.arrivals.append(Arrival(time.monotonic() - hook.t0, what))
                self.send_response(200)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Alertmanager:
    def __init__(self, hook_url: str, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        (workdir / "am.yml").write_text(
            "route:\n  receiver: hook\n  group_by: [alertname, host]\n"
            f"  group_wait: {GW}s\n  group_interval: {GI}s\n  repeat_interval: {RI}s\n"
            "receivers:\n  - name: hook\n    webhook_configs:\n"
            f"      - url: '{hook_url}'\n        send_resolved: true\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                AM,
                f"--config.file={self.workdir / 'am.yml'}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",  # no gossip port: loopback only
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("alertmanager did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # it writes its notification log and silences
            self.proc.wait(10)

    def post(self, path: str, body: Any) -> None:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v2/{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=5).read()


def run_alertmanager(steps: list[Step]) -> list[Arrival]:
    hook = _Hook()
    with tempfile.TemporaryDirectory() as tmp:
        am = _Alertmanager(hook.url, Path(tmp))
        am.start()
        started = datetime.now(UTC)
        hook.t0 = time.monotonic()
        firing: dict[str, datetime] = {}

        def alert(host: str, ends: datetime | None) -> dict[str, Any]:
            a: dict[str, Any] = {
                "labels": {"alertname": "errs", "host": host},
                "startsAt": _iso(firing[host]),
            }
            if ends is not None:
                a["endsAt"] = _iso(ends)
            return a

        try:
            for at, action, arg in sorted(steps, key=lambda s: s[0]):
                while time.monotonic() - hook.t0 < at:
                    time.sleep(0.01)
                now = datetime.now(UTC)
                if action == "fire":
                    firing[arg] = now
                    am.post("alerts", [alert(arg, now + timedelta(minutes=5))])
                elif action == "resolve":
                    am.post("alerts", [alert(arg, now)])
                elif action == "silence":
                    host, until = arg
                    am.post(
                        "silences",
                        {
                            "matchers": [{"name": "host", "value": host, "isRegex": False, "isEqual": True}],
                            "startsAt": _iso(now),
                            "endsAt": _iso(started + timedelta(seconds=until)),
                            "createdBy": "bench",
                            "comment": "timeline",
                        },
                    )
                elif action == "restart":
                    am.stop()
                    am.start()
                    # Alerts live in memory only: Prometheus re-sends those still firing.
                    am.post("alerts", [alert(h, now + timedelta(minutes=5)) for h in firing])
            while time.monotonic() - hook.t0 < END:
                time.sleep(0.05)
        finally:
            am.stop()
            hook.stop()
    return hook.arrivals


# ---- logwarden -------------------------------------------------------------------------------------


@dataclass
class _Recorder:
    clock: Callable[[], datetime]
    t0: datetime
    arrivals: list[Arrival] = field(default_factory=list)

    def send(self, channel: Channel, title: str, body: str, kind: str) -> SendResult:
        word = title.split()[1]
        self.arrivals.append(Arrival((self.clock() - self.t0).total_seconds(), word))
        return SendResult(True)


def _event(host: str, state: str, at: datetime, started: datetime) -> AlertEvent:
    group = {"host.name": host}
    return AlertEvent(
        rule="errs",
        fingerprint=hashlib.sha256(host.encode()).hexdigest()[:16],
        state=state,  # type: ignore[arg-type]
        group=group,
        severity="warning",
        labels={},
        channels=("hook",),
        summary=f"errs on {host}",
        value=1.0,
        threshold="> 0",
        window_start=at - timedelta(minutes=1),
        window_end=at,
        started_at=started,
        at=at,
        logq="",
    )


def run_logwarden(steps: list[Step]) -> list[Arrival]:
    t0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    now = [t0]
    recorder = _Recorder(lambda: now[0], t0)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "db.sqlite"
        notify = NotifyConfig.model_validate(
            {
                "channels": [{"name": "hook", "url": "json://127.0.0.1:9/"}],
                "group_by": ["rule", "host.name"],
                "group_wait": f"{GW}s",
                "group_interval": f"{GI}s",
                "repeat_interval": f"{RI}s",
            }
        )
        config = Config(store=StoreConfig.model_validate({"sqlite": {"path": str(db)}}), notify=notify)
        states = [SqliteNotifyState(db)]

        def pipeline(owner: str) -> Any:
            return build_notifier(
                config,
                None,
                clock=lambda: now[0],
                sender=recorder,
                owner=owner,
                state=states[-1],
                rng=random.Random(1),
            )

        p = pipeline("a")
        started: dict[str, datetime] = {}
        pending = sorted(steps, key=lambda s: s[0])
        tick = 0.0
        while tick <= END:
            now[0] = t0 + timedelta(seconds=tick)
            while pending and pending[0][0] <= tick + 1e-9:
                _, action, arg = pending.pop(0)
                if action == "fire":
                    started[arg] = now[0]
                    p.submit([_event(arg, "firing", now[0], now[0])], now[0])
                elif action == "resolve":
                    p.submit([_event(arg, "resolved", now[0], started[arg])], now[0])
                elif action == "silence":
                    host, until = arg
                    states[-1].add_silence(
                        Silence(
                            f"s{tick}",
                            "*",
                            {"host.name": host},
                            now[0],
                            t0 + timedelta(seconds=until),
                            "timeline",
                            "bench",
                            now[0],
                        )
                    )
                elif action == "restart":
                    states.append(SqliteNotifyState(db))
                    p = pipeline("b")
            p.tick(now[0])
            tick = round(tick + 0.1, 1)
        for s in states:
            s.close()
    return recorder.arrivals


def _fmt(arrivals: list[Arrival]) -> str:
    return ", ".join(f"{a.at:.0f}s {a.what.split(':')[0]}" for a in arrivals) or "(nothing)"


def main() -> int:
    if not Path(AM).exists():
        print(f"{AM} not found: apt-get install prometheus-alertmanager", file=sys.stderr)
        return 2
    version = subprocess.run([AM, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"# {version}; timers group_wait {GW}s, group_interval {GI}s, repeat_interval {RI}s; {END}s each")
    with ThreadPoolExecutor(len(TIMELINES)) as pool:
        am = {name: pool.submit(run_alertmanager, steps) for name, steps in TIMELINES.items()}
        ours = {name: run_logwarden(steps) for name, steps in TIMELINES.items()}
        print("| timeline | Alertmanager 0.25 | logwarden |")
        print("|---|---|---|")
        for name in TIMELINES:
            print(f"| {name} | {_fmt(am[name].result())} | {_fmt(ours[name])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
