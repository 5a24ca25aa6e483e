"""Detection latency: a burst of nginx 502s written to a file -> ``shipper run`` -> SQLite ->
``alerter run`` (a rule ``every: 5s``) -> apprise ``json://`` -> a local webhook receiver.

Everything lives in a temp dir; both daemons are the real console scripts from .venv, started with one
logwarden.yaml and stopped (SIGTERM) at the end. The webhook receiver is stdlib http.server on
127.0.0.1. Each burst uses its own URL path and the rule groups by ``url.original``, so every burst is
a new alert (no waiting for the previous one to resolve); the notification groups per alert instance
with ``group_wait: 0s``. Between bursts the script pauses a random 0-5 s (seeded) so the bursts land
at different phases of the 5 s schedule.

Per burst it prints the seconds from the write of the lines (after flush) to the doc being queryable
in SQLite (polled) and to the webhook POST; then the median and max. Target: median <= 10 s.
It asserts nothing about time: the machine is shared and noisy.

    .venv/bin/python bench/detection_latency.py             # 5 bursts of 20 lines
    .venv/bin/python bench/detection_latency.py --bursts 10 --lines 50
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from logstore import open_store  # noqa: E402
from logstore.config import SqliteConfig, StoreConfig  # noqa: E402

BIN = REPO / ".venv" / "bin"
T = TypeVar("T")


class Webhook:
    """A json:// receiver: records (receive time, body) of every POST and answers 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[float, bytes]] = []
        self.cond = threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received = time.time()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with hook.cond:
                    hook.posts.append((received, body))
                    hook.cond.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, needle: str, deadline: float) -> float | None:
        """Receive time of the first POST whose body mentions needle, or None at the deadline."""
        with self.cond:
            while True:
                for at, body in self.posts:
                    if needle.encode() in body:
                        return at
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_until(probe: Callable[[], T | None], deadline: float, every: float = 0.05) -> T | None:
    """probe() until it answers something truthy or the deadline passes."""
    stop = threading.Event()
    while True:
        got = probe()
        if got:
            return got
        if time.time() >= deadline:
            return None
        stop.wait(every)


def nginx_lines(path: str, n: int, now: datetime) -> bytes:
    stamp = now.strftime("%d/%b/%Y:%H:%M:%S +0000")
    line = f'10.0.0.7 - - [{stamp}] "GET {path} HTTP/1.1" 502 157 "-" "curl/8.5.0" 0.004\n'
    return (line * n).encode()


def write_config(work: Path, hook_port: int, every: str, window: str) -> Path:
    rules = work / "rules"
    rules.mkdir()
    rule = {
        "name": "burst-502",
        "query": "http.response.status_code:502",
        "every": every,
        "window": window,
        "delay": "0s",
        "condition": {"count": {"gte": 5}},
        "group_by": ["url.original"],
        "severity": "critical",
        "notify": ["hook"],
    }
    (rules / "burst-502.yaml").write_text(yaml.safe_dump(rule, sort_keys=False))
    config = {
        "store": {"sqlite": {"path": str(work / "logwarden.db")}},
        "shipper": {
            "inputs": [{"paths": [str(work / "logs" / "*.log")], "format": "nginx", "service": "nginx"}],
            "registry": str(work / "shipper-registry.db"),
        },
        "alerter": {"rules": [str(rules)]},
        "notify": {
            "channels": [{"name": "hook", "url": f"json://127.0.0.1:{hook_port}/hook"}],
            # One message per alert instance, sent at once: the latency measured is the pipeline's,
            # not a grouping delay someone chose (the defaults wait 30 s to batch siblings).
            "group_by": ["rule", "..."],
            "group_wait": "0s",
            "send_resolved": False,
        },
    }
    cfg = work / "logwarden.yaml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    return cfg


def start(name: str, cfg: Path, work: Path) -> subprocess.Popen[bytes]:
    log = (work / f"{name}.log").open("wb")
    return subprocess.Popen(
        [str(BIN / name), "run", "-c", str(cfg), "--log-level", "WARNING"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=work,
    )


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bursts", type=int, default=5, help="measured bursts (default 5)")
    p.add_argument(
        "--lines", type=int, default=20, help="502 lines per burst (default 20; the rule fires at 5)"
    )
    p.add_argument("--every", default="5s", help="the rule's schedule (default 5s)")
    p.add_argument("--window", default="30s", help="the rule's window (default 30s)")
    p.add_argument("--timeout", type=float, default=60.0, help="give up on one burst after this many seconds")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true", help="keep the temp dir (config, daemon logs, database)")
    args = p.parse_args()
    if args.bursts < 1 or args.lines < 5:
        p.error("--bursts must be >= 1 and --lines >= 5")

    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="detection-latency-"))
    (work / "logs").mkdir()
    log = work / "logs" / "access.log"
    log.touch()
    hook = Webhook()
    cfg = write_config(work, hook.port, args.every, args.window)
    tag = f"{int(time.time())}"
    results: list[tuple[float, float | None, float | None]] = []
    codes: list[int] = []
    procs: list[subprocess.Popen[bytes]] = []
    # Opened first, so the schema exists before either daemon starts; also the probe for "in SQLite".
    store = open_store(StoreConfig(sqlite=SqliteConfig(path=work / "logwarden.db")))
    try:
        procs += [start("shipper", cfg, work), start("alerter", cfg, work)]
        with log.open("ab") as out:

            def burst(path: str) -> float:
                out.write(nginx_lines(path, args.lines, datetime.now(UTC)))
                out.flush()
                return time.time()

            # Warm-up (not measured): repeat until the whole chain answers once, so start-up (imports,
            # the shipper's first scan, apprise's plugin table) is not counted as detection latency.
            warm_deadline = time.time() + 120
            warm = None
            while warm is None and time.time() < warm_deadline:
                if any(pr.poll() is not None for pr in procs):
                    break
                burst("/burst/warmup")
                warm = hook.wait_for("/burst/warmup", min(warm_deadline, time.time() + 5))
            if warm is None:
                print("the warm-up burst never reached the webhook; daemon logs follow")
                for name in ("shipper", "alerter"):
                    print(f"--- {name}\n{(work / f'{name}.log').read_text()[-2000:]}")
                return 1
            print(f"pipeline up; {args.bursts} bursts of {args.lines} 502s, rule every {args.every}")

            for i in range(args.bursts):
                # A random phase against the 5 s schedule; this pause is the experiment, not a wait.
                threading.Event().wait(rng.uniform(0, 5))
                path = f"/burst/{tag}-{i}"
                written = burst(path)
                deadline = written + args.timeout
                since = datetime.now(UTC) - timedelta(minutes=2)
                query = f'url.original:"{path}"'

                def landed(q: str = query, s: datetime = since) -> float | None:
                    return time.time() if store.count(q, s, None) >= args.lines else None

                stored = wait_until(landed, deadline)
                posted = hook.wait_for(path, deadline)
                to_store = None if stored is None else stored - written
                to_hook = None if posted is None else posted - written
                results.append((written, to_store, to_hook))
                print(
                    f"burst {i + 1}: in SQLite after {_fmt(to_store)} s, webhook after {_fmt(to_hook)} s",
                    flush=True,
                )
    finally:
        store.close()
        for pr in procs:
            codes.append(stop(pr))
        hook.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    got = [r[2] for r in results if r[2] is not None]
    stored_s = [r[1] for r in results if r[1] is not None]
    print()
    print(f"bursts: {len(results)}, notified: {len(got)}, exit codes shipper/alerter: {codes}")
    if stored_s:
        print(f"write -> SQLite:  median {statistics.median(stored_s):.2f} s, max {max(stored_s):.2f} s")
    if got:
        med = statistics.median(got)
        print(f"write -> webhook: median {med:.2f} s, max {max(got):.2f} s (target median <= 10 s)")
    return 0


def _fmt(v: float | None) -> str:
    return "never" if v is None else f"{v:.2f}"


if __name__ == "__main__":
    sys.exit(main())
