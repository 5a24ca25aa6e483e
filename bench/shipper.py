"""Shipper benchmark: ``shipper run --once`` on N JSON lines of ~220 bytes. Prints numbers; asserts nothing.

    .venv/bin/python bench/shipper.py [--lines 1000000] [--no-sqlite] [--no-rsyslog] [--workers N]
                                      [--read-chunk BYTES] [--processes N] [--sink-nagle]

Sinks, in one run, on the same generated file (bench/out/shipper-<N>.log, made once):

- ``blackhole``: a stdlib HTTP server on 127.0.0.1 that speaks just enough Elasticsearch (``GET /`` with
  an 8.x body and ``X-Elastic-Product``, 200 to template/ILM/index PUTs, ``_bulk`` answered all-created),
  so the sink is not the bottleneck: this measures the shipper (read, parse every line, build, bulk).
- ``sqlite``: the embedded store (a fresh database each run).
- ``rsyslog`` (peer, when ``rsyslogd`` is installed: ``apt-get install rsyslog rsyslog-elasticsearch``):
  imfile -> omelasticsearch into the same blackhole; config in bench/peers/rsyslog-blackhole.conf.

For each: wall seconds, docs/s, CPU seconds (user+sys of the shipper process and its build
processes, startup included) per 1M docs, docs per CPU-second, and peak memory: the shipper's peak
RSS, or with build processes the sampled peak of the summed PSS of its process tree (pages shared
after the fork counted once).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parent.parent
# This script is bench/shipper.py: with bench/ first on sys.path, `import shipper` would find it,
# not the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from shipper.config import ShipperConfig  # noqa: E402

OUT = REPO / "bench" / "out"
PEERS = REPO / "bench" / "peers"

_INFO = orjson.dumps(
    {
        "name": "blackhole",
        "cluster_name": "blackhole",
        "version": {"number": "8.15.0", "build_flavor": "default", "lucene_version": "9.11.1"},
        "tagline": "You Know, for Search",
    }
)
_ITEM = b'{"create":{"status":201,"result":"created"}}'


def make_lines(path: Path, n: int, seed: int = 1, hostname: str = "web-1") -> None:
    """N bunyan-style JSON lines of ~220 bytes, generated once and kept (another seed, other content)."""
    if path.exists() and path.stat().st_size > 0:
        return
    rng = random.Random(seed)
    tmp = path.with_suffix(".tmp")
    paths = ["/api/v1/users", "/api/v1/orders/12345", "/login", "/static/app.js", "/api/v1/search?q=shoes"]
    with open(tmp, "wb") as f:
        base = 1_795_329_540_000
        for i in range(n):
            ms = base + i
            rec = {
                "time": f"2026-11-22T06:{(ms // 60000) % 60:02d}:{(ms // 1000) % 60:02d}.{ms % 1000:03d}Z",
                "level": rng.choice((30, 30, 30, 40, 50)),
                "name": "shop",
                "hostname": hostname,
                "pid": 4242,
                "req_id": f"{rng.getrandbits(64):016x}",
                "msg": "request completed",
                "path": rng.choice(paths),
                "status": rng.choice((200, 200, 200, 404, 502)),
                "latency_ms": round(rng.random() * 300, 2),
                "seq": i,
            }
            f.write(orjson.dumps(rec) + b"\n")
    tmp.rename(path)


class Blackhole:
    """An Elasticsearch-shaped sink that stores nothing and answers every bulk item 201 created."""

    def __init__(self, nagle: bool = False) -> None:
        self.docs = 0
        self.bytes = 0
        self.lock = threading.Lock()
        hole = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The reply's headers and body are two writes: with Nagle on, the body waits for the
            # client's delayed ACK of the headers (up to 40 ms a request), and the sink becomes the
            # bottleneck it must not be (for every shipper measured).
            disable_nagle_algorithm = not nagle

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _send(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._body()
                self._send(200, _INFO if self.path.split("?")[0] in ("/", "") else b"{}")

            def do_HEAD(self) -> None:
                self._send(200, b"")

            def do_PUT(self) -> None:
                self._body()
                self._send(200, b'{"acknowledged":true}')

            def do_DELETE(self) -> None:
                self._send(200, b'{"acknowledged":true}')

            def do_POST(self) -> None:
                body = self._body()
                if "_bulk" not in self.path:
                    self._send(200, b'{"acknowledged":true}')
                    return
                n = body.count(b"\n") // 2
                with hole.lock:
                    hole.docs += n
                    hole.bytes += len(body)
                items = b",".join([_ITEM] * n)
                self._send(200, b'{"took":1,"errors":false,"items":[' + items + b"]}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        with self.lock:
            self.docs = 0
            self.bytes = 0

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_shipper(
    name: str,
    lines: Path,
    n: int,
    store_yaml: str,
    work: Path,
    hole: Blackhole,
    workers: int = 1,
    read_chunk: int = ShipperConfig().read_chunk,
    processes: int = 0,
) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "logwarden.yaml"
    cfg.write_text(
        f"store:\n{store_yaml}\nshipper:\n  registry: {work / 'registry.db'}\n  workers: {workers}\n"
        f"  read_chunk: {read_chunk}\n  processes: {processes}\n"
        f"  inputs:\n    - paths: [{lines}]\n      format: json\n      service: bench\n"
    )
    hole.reset()
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOG_LEVEL": "WARNING"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed shipper starts from .pyc files (compile_code)
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "--once", "-c", str(cfg)], env=env)
    ps = psutil.Process(proc.pid)
    # The memory of the shipper and its build processes: the sum of their PSS (a page shared after
    # the fork counts once, split among its sharers; RSS would count it in every process).
    tree_peak = 0
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            children = ps.children(recursive=True)
            if children:
                tree_peak = max(tree_peak, sum(p.memory_full_info().pss for p in [ps, *children]))
        except psutil.Error:
            pass
        time.sleep(0.1)  # sampling memory while the shipper runs, not waiting for a condition
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = ru.ru_utime + ru.ru_stime
    return {
        "sink": f"{name} (w={workers},p={processes},rc={read_chunk >> 10}K)",
        "docs": hole.docs if name == "blackhole" else n,
        "exit": proc.returncode,
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_mb": max(ru.ru_maxrss / 1024, tree_peak / 2**20),
    }


def compile_code() -> None:
    """Byte-compile the shipper and store packages once, as an installed package is (pip does it): the
    dev environment sets PYTHONDONTWRITEBYTECODE, which would add ~0.2 CPU-s of compiling to every start."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "shipper"), str(REPO / "logstore")],
        check=False,
        stdout=subprocess.DEVNULL,
    )


def run_rsyslog(lines: Path, n: int, work: Path, hole: Blackhole, timeout: float) -> dict[str, Any] | None:
    rsyslogd = shutil.which("rsyslogd") or (
        "/usr/sbin/rsyslogd" if os.path.exists("/usr/sbin/rsyslogd") else None
    )
    if rsyslogd is None:
        print("rsyslog: skipped (rsyslogd is not installed: apt-get install rsyslog rsyslog-elasticsearch)")
        return None
    import psutil

    work.mkdir(parents=True, exist_ok=True)
    state = work / "state"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir()
    conf = work / "rsyslog.conf"
    text = (PEERS / "rsyslog-blackhole.conf").read_text()
    text = (
        text.replace("{workdir}", str(state)).replace("{file}", str(lines)).replace("{port}", str(hole.port))
    )
    conf.write_text(text)
    hole.reset()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [rsyslogd, "-n", "-f", str(conf), "-i", str(work / "rsyslogd.pid")],
        stdout=subprocess.DEVNULL,
        stderr=open(work / "rsyslogd.err", "wb"),  # noqa: SIM115 - open while the peer runs
    )
    ps = psutil.Process(proc.pid)
    peak = 0
    cpu = 0.0
    deadline = time.monotonic() + timeout
    try:
        while hole.docs < n and time.monotonic() < deadline and proc.poll() is None:
            try:
                peak = max(peak, ps.memory_info().rss)
                t = ps.cpu_times()
                cpu = t.user + t.system
            except psutil.Error:
                break
            time.sleep(0.05)  # sampling the peer's CPU and RSS, not waiting for a condition
        wall = time.perf_counter() - start
        try:
            t = ps.cpu_times()
            cpu = t.user + t.system
        except psutil.Error:
            pass
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if hole.docs < n:
        print(
            f"rsyslog: only {hole.docs} of {n} docs arrived within {timeout:.0f}s (see {work}/rsyslogd.err)"
        )
    return {
        "sink": "rsyslog->blackhole",
        "docs": hole.docs,
        "exit": 0,
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_mb": peak / 2**20,
    }


def report(r: dict[str, Any], n: int) -> None:
    docs = r["docs"]
    per_cpu = docs / r["cpu_s"] if r["cpu_s"] else float("nan")
    print(
        f"{r['sink']:<27} docs={docs:>9} exit={r['exit']} wall={r['wall_s']:7.2f}s "
        f"rate={docs / r['wall_s']:>9,.0f} docs/s  cpu={r['cpu_s']:6.2f}s "
        f"({r['cpu_s'] * 1e6 / max(docs, 1):5.2f} CPU-s per 1M, {per_cpu:>9,.0f} docs/CPU-s)  "
        f"peak RSS={r['rss_mb']:6.1f} MB"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--no-sqlite", action="store_true")
    p.add_argument("--no-rsyslog", action="store_true")
    p.add_argument(
        "--workers", type=int, default=1, help="shipper.workers (0 = deliver on the reader thread)"
    )
    p.add_argument(
        "--read-chunk",
        type=int,
        default=ShipperConfig().read_chunk,
        help="shipper.read_chunk in bytes (default: the config default, 256 KiB)",
    )
    p.add_argument(
        "--sink-nagle",
        action="store_true",
        help="leave Nagle on in the blackhole (the sink of session 1-2: ~40 ms stalls per bulk reply)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=2,
        help="shipper.processes: build processes for the blackhole (Elasticsearch) run (default 2)",
    )
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    lines = OUT / f"shipper-{args.lines}.log"
    make_lines(lines, args.lines)
    size = lines.stat().st_size
    print(
        f"input: {lines} ({args.lines} lines, {size / args.lines:.0f} bytes/line avg, {size / 2**20:.0f} MiB)"
    )
    compile_code()
    hole = Blackhole(nagle=args.sink_nagle)
    work = Path(tempfile.mkdtemp(prefix="bench-shipper-", dir=OUT))
    try:
        es_yaml = f"  elasticsearch:\n    hosts: [http://127.0.0.1:{hole.port}]"
        report(
            run_shipper(
                "blackhole",
                lines,
                args.lines,
                es_yaml,
                work / "es",
                hole,
                args.workers,
                args.read_chunk,
                args.processes,
            ),
            args.lines,
        )
        if not args.no_sqlite:
            db = work / "sqlite" / "store.db"
            report(
                run_shipper(
                    "sqlite",
                    lines,
                    args.lines,
                    f"  sqlite:\n    path: {db}",
                    work / "sqlite",
                    hole,
                    args.workers,
                    args.read_chunk,
                ),
                args.lines,
            )
        if not args.no_rsyslog:
            r = run_rsyslog(lines, args.lines, work / "rsyslog", hole, timeout=max(60.0, args.lines / 5000))
            if r is not None:
                report(r, args.lines)
    finally:
        hole.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
