"""Server benchmark: N JSON lines from 3 concurrent shippers, direct into SQLite vs through the
logwarden server. Prints numbers; asserts nothing.

    .venv/bin/python bench/server.py [--lines 300000] [--shippers 3] [--latency-seconds 20]
                                     [--soak SECONDS] [--no-rsyslog]

In one run, on the same generated files (bench/out/server-<host>-<N>.log, one per shipper, made once):

1. ``direct``: the shippers (``shipper run --once``) write into one SQLite file themselves.
2. ``server``: the same shippers send to ``logwarden serve`` (store: {server: ...}), which writes
   the same kind of file. A 200 means committed, so when the shippers exit every doc is searchable;
   the script checks the count.
   For both: wall seconds, docs/s, and CPU seconds per 1M docs of every process involved (shippers,
   and the server), so the HTTP path's extra CPU per doc is the ratio of the two.
3. ``latency``: a paced client (3 threads, bulk requests of 2,000 docs as the shipper sends) at half
   the server's peak rate from step 2, for --latency-seconds: bulk request p50/p99/max in ms.
4. ``memory``: the server's peak RSS over steps 2-3, and with --soak S, over S seconds of paced load
   at the peak rate (the issue asks for 600).
5. ``rsyslog`` (when rsyslogd and omelasticsearch are installed): the same file through imfile ->
   omelasticsearch into the server, then into the blackhole of bench/shipper.py: docs/s of each.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

OUT = REPO / "bench" / "out"
HOSTS = ("web-1", "web-2", "web-3", "web-4", "web-5", "web-6")


def _bench_shipper() -> Any:
    # bench/shipper.py would shadow the shipper package as a plain import: load it by path.
    spec = importlib.util.spec_from_file_location("bench_shipper", REPO / "bench" / "shipper.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOG_LEVEL": "WARNING"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


class Server:
    """``logwarden serve`` as a process; its CPU and peak RSS sampled while it runs."""

    def __init__(self, work: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = work / "server.db"
        cfg = work / "server.yaml"
        cfg.write_text(f"store:\n  sqlite:\n    path: {self.db}\nserver:\n  listen: 127.0.0.1:{self.port}\n")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "-c", str(cfg)], env=_env(), cwd=str(REPO)
        )
        self.ps = psutil.Process(self.proc.pid)
        self.peak_rss = 0
        self._stop = threading.Event()
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.1)  # polling the server's start, bounded by the deadline
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.peak_rss = max(self.peak_rss, self.ps.memory_info().rss)
            except psutil.Error:
                return

    def cpu(self) -> float:
        return _cpu(self.ps)

    def stop(self) -> None:
        self._stop.set()
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_shippers(files: list[Path], store_yaml: str, work: Path) -> tuple[float, float]:
    """``shipper run --once`` on each file at once: (wall seconds, CPU seconds of all of them)."""
    procs = []
    start = time.perf_counter()
    for i, f in enumerate(files):
        d = work / f"shipper-{i}"
        d.mkdir(parents=True, exist_ok=True)
        cfg = d / "logwarden.yaml"
        cfg.write_text(
            f"store:\n{store_yaml}\nshipper:\n  registry: {d / 'registry.db'}\n  host_name: {HOSTS[i]}\n"
            f"  inputs:\n    - paths: [{f}]\n      format: json\n      service: bench\n"
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "shipper.cli", "run", "--once", "-c", str(cfg)], env=_env()
            )
        )
    cpu = 0.0
    for p in procs:
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            print(f"  a shipper exited {p.returncode}")
        cpu += ru.ru_utime + ru.ru_stime
    return time.perf_counter() - start, cpu


def count(db: Path) -> int:
    from logstore import open_store
    from logstore.config import SqliteConfig, StoreConfig

    store = open_store(StoreConfig(sqlite=SqliteConfig(path=db)), create=False)
    try:
        return store.count("")
    finally:
        store.close()


def bodies(files: list[Path], per_request: int) -> list[bytes]:
    """_bulk bodies of ``per_request`` create actions, from the generated lines (fresh ids each)."""
    out = []
    for f in files:
        lines = f.read_bytes().splitlines()
        for i in range(0, len(lines), per_request):
            chunk = lines[i : i + per_request]
            out.append(b"".join(b'{"create":{}}\n' + ln + b"\n" for ln in chunk))
    return out


def paced_load(url: str, payloads: list[bytes], docs_per_s: float, seconds: float, per: int) -> list[float]:
    """3 threads sending ``payloads`` round-robin at ``docs_per_s`` in all: latencies in ms."""
    import urllib3

    latencies: list[float] = []
    lock = threading.Lock()
    interval = 3 * per / docs_per_s  # each thread's period between requests
    stop_at = time.monotonic() + seconds

    def worker(k: int) -> None:
        http = urllib3.PoolManager(maxsize=1)
        nxt = time.monotonic() + k * interval / 3
        i = k
        while time.monotonic() < stop_at:
            time.sleep(max(0.0, nxt - time.monotonic()))  # pacing, not a wait for a condition
            t0 = time.perf_counter()
            r = http.request(
                "POST",
                url + "/_bulk",
                body=payloads[i % len(payloads)],
                headers={"Content-Type": "application/x-ndjson"},
            )
            ms = (time.perf_counter() - t0) * 1000
            if r.status == 200:
                with lock:
                    latencies.append(ms)
            nxt += interval
            i += 3

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def line(label: str, docs: int, wall: float, cpu: float, extra: str = "") -> None:
    print(
        f"{label:<28} docs={docs:>8} wall={wall:7.2f}s rate={docs / wall:>8,.0f} docs/s "
        f"cpu={cpu:6.2f}s ({cpu * 1e6 / max(docs, 1):5.2f} CPU-s per 1M){extra}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=300_000, help="lines in all (split over the shippers)")
    p.add_argument("--shippers", type=int, default=3, choices=range(1, len(HOSTS) + 1))
    p.add_argument("--latency-seconds", type=float, default=20.0)
    p.add_argument("--soak", type=float, default=0.0, help="seconds of load at the peak rate (RSS)")
    p.add_argument("--no-rsyslog", action="store_true")
    args = p.parse_args()
    bs = _bench_shipper()
    OUT.mkdir(parents=True, exist_ok=True)
    per = args.lines // args.shippers
    files = []
    for i in range(args.shippers):
        f = OUT / f"server-{HOSTS[i]}-{per}.log"
        bs.make_lines(f, per, seed=100 + i, hostname=HOSTS[i])
        files.append(f)
    n = per * args.shippers
    bs.compile_code()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "server")], check=False)
    print(f"input: {args.shippers} files x {per} lines; load average {os.getloadavg()}")
    work = Path(tempfile.mkdtemp(prefix="bench-server-", dir=OUT))
    try:
        db = work / "direct" / "store.db"
        wall, cpu = run_shippers(files, f"  sqlite:\n    path: {db}", work / "direct")
        line("direct (shippers->sqlite)", count(db), wall, cpu)
        direct_per_doc = cpu / n

        server = Server(work)
        try:
            before = server.cpu()
            wall, cpu = run_shippers(files, f"  server:\n    url: {server.url}", work / "via-server")
            server_cpu = server.cpu() - before
            stored = count(server.db)
            line(
                "server (shippers->server)",
                stored,
                wall,
                cpu + server_cpu,
                f"  [shippers {cpu:.2f}s + server {server_cpu:.2f}s]",
            )
            peak = stored / wall
            print(f"HTTP path CPU per doc vs direct: {(cpu + server_cpu) / n / direct_per_doc:.2f}x")

            payloads = bodies(files, 2000)
            rate = peak / 2
            lat = paced_load(server.url, payloads, rate, args.latency_seconds, 2000)
            if lat:
                q = statistics.quantiles(lat, n=100)
                print(
                    f"latency at {rate:,.0f} docs/s (half the peak): {len(lat)} bulk requests, "
                    f"p50={q[49]:.0f} ms p99={q[98]:.0f} ms max={max(lat):.0f} ms"
                )
            if args.soak:
                lat = paced_load(server.url, payloads, peak, args.soak, 2000)
                q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [0.0] * 99
                print(f"soak {args.soak:.0f}s at {peak:,.0f} docs/s: {len(lat)} requests, p99={q[98]:.0f} ms")
            print(f"server peak RSS: {server.peak_rss / 2**20:.1f} MB")
            if not args.no_rsyslog:
                rsyslog(bs, files[0], per, work, server)
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def rsyslog(bs: Any, lines: Path, n: int, work: Path, server: Server) -> None:
    """rsyslog's omelasticsearch, same file, into the server and into the blackhole."""
    if shutil.which("rsyslogd") is None and not os.path.exists("/usr/sbin/rsyslogd"):
        print("rsyslog: skipped (apt-get install rsyslog rsyslog-elasticsearch)")
        return
    hole = bs.Blackhole()
    try:
        r = bs.run_rsyslog(lines, n, work / "rsyslog-hole", hole, timeout=max(60.0, n / 2000))
        if r is not None:
            line("rsyslog->blackhole", r["docs"], r["wall_s"], r["cpu_s"])
    finally:
        hole.stop()
    # The same config, pointed at the server; done when the server holds n more docs.
    target = count(server.db) + n

    class ServerSink:
        port = server.port
        docs = 0

        def reset(self) -> None:
            pass

    sink = ServerSink()
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.2):
            sink.docs = max(0, count(server.db) - (target - n))

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    try:
        r = bs.run_rsyslog(lines, n, work / "rsyslog-server", sink, timeout=max(60.0, n / 2000))
    finally:
        stop.set()
        t.join()
    if r is not None:
        line("rsyslog->server", r["docs"], r["wall_s"], r["cpu_s"], "  (rsyslog's CPU only)")


if __name__ == "__main__":
    main()
