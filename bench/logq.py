"""logq benchmark: the question after a 502 alert, over 1M access-log docs, logq vs jq on a file.

Builds (once, cached under bench/out/) 1M access-log docs spread over the 24 h before a fixed clock,
written through ``SqliteStore.write`` into a SQLite store, and the same docs as a JSONL file. Then,
in one run, prints:

The store is configured with ``indexed_fields: [status, latency_ms]`` (the fields the question filters
on), so the comparison is what a user who indexes the fields they query gets. Opening the store with
that config builds the two expression indexes once; that build is timed and printed on its own.

1. ``logq 'status:502 AND latency_ms:>500' --since 24h -o json`` versus
   ``jq -c 'select(.status==502 and .latency_ms>500)' FILE`` (Debian jq; skipped with a note when
   missing): wall time of each, the hit counts (they must agree) and the speed-up.
2. ``logq '*' -o json -n 0 | wc -l``: docs/s and the peak RSS of the logq process, on the whole store
   and on a tenth of it (flat memory means the two peaks are about equal).

3. With ``--write-cost N``: what ``indexed_fields`` costs the writer, ``SqliteStore.write`` docs/s of
   N fresh docs into a new store without and with the two indexes (twice each, alternating).

Numbers are printed, never asserted. Usage: ``python bench/logq.py [--docs N] [--rebuild] [--write-cost N]``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from logstore.config import SqliteConfig  # noqa: E402
from logstore.sqlite import SCHEMA_VERSION, SqliteStore  # noqa: E402
from logstore.types import Doc, format_ts  # noqa: E402

NOW = "2026-11-22T00:00:00Z"
NOW_MS = 1_795_305_600_000  # NOW in epoch ms
DAY_MS = 86_400_000
QUERY = "status:502 AND latency_ms:>500"
JQ_FILTER = "select(.status==502 and .latency_ms>500)"
INDEXED = ["status", "latency_ms"]  # store.sqlite.indexed_fields: what the 502 question filters on
SERVICES = ("web", "api", "checkout", "search", "auth")
PATHS = ("/", "/login", "/api/orders", "/api/cart", "/search", "/health", "/static/app.js")
METHODS = ("GET", "GET", "GET", "POST", "PUT")
STATUSES = (200,) * 90 + (301, 304, 400, 401, 403, 404, 404, 500, 502, 503)


def build(out: Path, n: int) -> tuple[Path, Path]:
    """The SQLite store and the JSONL file with the same n docs; reused when already built for n."""
    db = out / f"logq-{n}.db"
    jsonl = out / f"logq-{n}.jsonl"
    marker = out / f"logq-{n}.done"
    # A store built by an older schema would be migrated inside the first timed logq run: rebuild.
    built = marker.read_text().strip() if marker.exists() else ""
    if built == f"{n} v{SCHEMA_VERSION}" and db.exists() and jsonl.exists():
        print(f"reusing {db} and {jsonl}")
        return db, jsonl
    out.mkdir(parents=True, exist_ok=True)
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), jsonl, marker):
        p.unlink(missing_ok=True)
    rng = random.Random(42)
    store = SqliteStore(SqliteConfig(path=db))
    t0 = time.perf_counter()
    step = DAY_MS / n
    with jsonl.open("wb") as fh:
        batch: list[Doc] = []
        for i in range(n):
            ts = NOW_MS - DAY_MS + int(i * step)
            status = rng.choice(STATUSES)
            latency = int(rng.lognormvariate(4.5, 1.0)) + (400 if status >= 500 else 0)
            svc = SERVICES[i % len(SERVICES)]
            path = rng.choice(PATHS)
            method = rng.choice(METHODS)
            doc_id = f"{i:012x}"
            source = {
                "@timestamp": format_ts(ts),
                "event": {"id": doc_id},
                "message": f'10.0.{i % 256}.{i % 7} "{method} {path} HTTP/1.1" {status} {latency}ms',
                "log": {
                    "level": "error" if status >= 500 else "info",
                    "file": {"path": f"/var/log/{svc}/access.log"},
                },
                "service": {"name": svc},
                "host": {"name": f"{svc}-{i % 3}"},
                "http": {"request": {"method": method}},
                "url": {"path": path},
                "status": status,
                "latency_ms": latency,
            }
            raw = orjson.dumps(source)
            fh.write(raw + b"\n")
            batch.append(Doc(doc_id, ts, source, raw))
            if len(batch) == 10_000:
                store.write(batch)
                batch = []
        if batch:
            store.write(batch)
    store.close()
    print(f"built {n:,} docs in {time.perf_counter() - t0:.1f} s -> {db} ({db.stat().st_size / 1e6:.0f} MB)")
    marker.write_text(f"{n} v{SCHEMA_VERSION}")
    return db, jsonl


def index_fields(db: Path) -> None:
    """Open the store with indexed_fields once, so the index build is timed here, not inside logq."""
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    store = SqliteStore(SqliteConfig(path=db, indexed_fields=INDEXED))
    store.close()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(f"indexed_fields {INDEXED}: open + index build {wall:.1f} s wall, {cpu:.1f} s CPU (~0 if built)")


def write_cost(out: Path, n: int) -> None:
    """docs/s of SqliteStore.write into a fresh store, without and with INDEXED (the writer's price)."""
    rng = random.Random(7)
    docs = []
    for i in range(n):
        ts = NOW_MS - DAY_MS + i
        source = {
            "@timestamp": format_ts(ts),
            "event": {"id": f"w{i:011x}"},
            "message": f"GET /x {i}",
            "service": {"name": SERVICES[i % len(SERVICES)]},
            "status": rng.choice(STATUSES),
            "latency_ms": int(rng.lognormvariate(4.5, 1.0)),
        }
        docs.append(Doc(f"w{i:011x}", ts, source, orjson.dumps(source)))
    print(f"\n## 3. SqliteStore.write of {n:,} docs (batches of 10,000), without and with indexed_fields")
    for fields in ([], INDEXED, [], INDEXED):
        db = out / "logq-write-cost.db"
        for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            p.unlink(missing_ok=True)
        store = SqliteStore(SqliteConfig(path=db, indexed_fields=fields))
        t0, cpu0 = time.perf_counter(), time.process_time()
        for k in range(0, n, 10_000):
            store.write(docs[k : k + 10_000])
        store.close()
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        print(f"indexed_fields {fields}: {n / wall:,.0f} docs/s wall, {n / cpu:,.0f} docs per CPU second")
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        p.unlink(missing_ok=True)


def _hwm_kib(pid: int) -> int:
    """Peak resident set of a running process since its exec (VmHWM), in KiB; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child
    lines: int
    rss_kib: int  # peak resident set
    code: int

    def show(self) -> str:
        return (
            f"{self.wall:.2f} s wall, {self.cpu:.2f} s CPU, {self.lines:,} lines, "
            f"peak RSS {self.rss_kib / 1024:.0f} MiB, exit {self.code}"
        )


def timed(cmd: list[str], env: dict[str, str]) -> Run:
    """Run cmd, counting its stdout lines here; wall and CPU time, peak RSS and exit code.

    The peak is VmHWM sampled while the child runs: wait4's ru_maxrss would include the memory this
    (large) parent had when it forked the child.
    """
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    assert p.stdout is not None
    peak = 0
    counted = [0]

    def count() -> None:
        assert p.stdout is not None
        while chunk := p.stdout.read(1 << 20):
            counted[0] += chunk.count(b"\n")

    reader = threading.Thread(target=count)
    reader.start()
    while reader.is_alive():
        peak = max(peak, _hwm_kib(p.pid))
        reader.join(0.02)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    # CPU seconds of the child alone: comparable across runs even when other work shares the cores.
    cpu = usage.ru_utime + usage.ru_stime
    return Run(time.perf_counter() - t0, cpu, counted[0], peak, p.returncode)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--write-cost", type=int, default=0, metavar="N", help="also time writes of N docs")
    a = ap.parse_args()
    if a.rebuild:
        shutil.rmtree(a.out, ignore_errors=True)
    db, jsonl = build(a.out, a.docs)
    cfg = a.out / f"logq-{a.docs}.yaml"
    cfg.write_text(f"store:\n  sqlite:\n    path: {db}\n    indexed_fields: [{', '.join(INDEXED)}]\n")
    index_fields(db)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOGQ_NOW": NOW}
    logq = [sys.executable, "-m", "logq.cli", "-c", str(cfg)]

    print(f"\n## 1. after a 502 alert: {QUERY!r} over {a.docs:,} docs (24 h)")
    print(
        f"load average before: {os.getloadavg()[0]:.2f} (2 cores shared; CPU seconds are the stabler number)"
    )
    plain_cfg = a.out / f"logq-{a.docs}-unindexed.yaml"
    plain_cfg.write_text(f"store:\n  sqlite:\n    path: {db}\n")
    plain = [sys.executable, "-m", "logq.cli", "-c", str(plain_cfg)]
    lq0 = timed([*plain, QUERY, "--since", "24h", "-o", "json"], env)
    print(f"logq, no indexed_fields: {lq0.show()}")
    lq = timed([*logq, QUERY, "--since", "24h", "-o", "json"], env)
    print(f"logq (indexed_fields):   {lq.show()}")
    jq_bin = shutil.which("jq")
    if jq_bin is None:
        print("jq: not installed (apt-get install -y jq); comparison skipped")
    else:
        jq = timed([jq_bin, "-c", JQ_FILTER, str(jsonl)], env)
        print(f"jq -c on the JSONL file: {jq.show()}")
        same = "same hits" if jq.lines == lq.lines else f"HIT COUNTS DIFFER ({lq.lines} vs {jq.lines})"
        print(
            f"logq vs jq: {jq.wall / lq.wall:.1f}x faster by wall time, {jq.cpu / lq.cpu:.1f}x by CPU time "
            f"({same}; target >= 5x)"
        )
        print(f"logq vs jq, no indexed_fields: {jq.wall / lq0.wall:.1f}x wall, {jq.cpu / lq0.cpu:.1f}x CPU")

    print("\n## 2. logq '*' -o json -n 0 | wc -l (streaming rate and memory)")
    for label, since in (("a tenth", f"{int(2.4 * 3600)}s"), ("all", "24h")):
        r = timed([*logq, "*", "-o", "json", "-n", "0", "--since", since], env)
        print(
            f"{label:>8}: {r.lines:,} docs, {r.lines / r.wall:,.0f} docs/s by wall time, "
            f"{r.lines / r.cpu:,.0f} docs/s per CPU second, peak RSS {r.rss_kib / 1024:.0f} MiB "
            "(target >= 100,000 docs/s, flat memory)"
        )
    if a.write_cost:
        write_cost(a.out, a.write_cost)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
