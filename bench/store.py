"""SQLite store benchmark: ingest rate and window aggregates. Prints numbers; asserts nothing.

    .venv/bin/python bench/store.py [--docs 1000000] [--agg-docs 10000000] [--span-hours 24] [--batch 2000]
        [--api shipper|write] [--ingest-runs 1]

1. Ingest: ``--docs`` realistic nginx access-log docs are written in batches like the shipper sends
   (``Doc.raw`` set, as the shipper serializes once), through the call the shipper makes
   (``write_unless_all_created``; ``--api write`` for the protocol's ``write``). Doc generation is not
   timed; the clock stops when the last doc is searchable by text.
2. Aggregates: a store of ``--agg-docs`` docs spread over ``--span-hours`` (24 h: ~115 docs/s, a busy
   host, ~35k docs per 5 minutes) is built once with a fast path and cached under bench/out/; then,
   over a 5-minute window grouped by service: count, error ratio (count of status >= 500 inside),
   p99 of event.duration (a hot column) and of latency_ms (read from the JSON). Each runs ``--runs``
   times; the median and the best are printed.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from logstore.config import SqliteConfig
from logstore.sqlite import SqliteStore
from logstore.sqlite.store import _INSERT_EVENT, _prepare
from logstore.types import AggRequest, Doc, Metric, Outcome, format_ts
from shipper.build import id_hasher

OUT = Path(__file__).resolve().parent / "out"
# The schema version that last changed the events table, which is all the aggregates read: a cached
# store is upgraded in place on open (v4 only moved the full-text index to a side file), so the
# 10M-doc store is rebuilt only when this changes.
AGG_LAYOUT = 3
START_MS = 1_763_769_600_000  # 2025-11-22T00:00:00Z
DAY_MS = 86_400_000
SERVICES = ["api", "web", "auth", "billing", "search", "media", "admin", "worker"]
PATHS = ["/api/v1/users", "/api/v1/orders", "/login", "/static/app.js", "/api/v1/search", "/healthz", "/cart"]
METHODS = ["GET"] * 8 + ["POST"] * 2 + ["PUT", "DELETE"]
STATUS = [200] * 90 + [201] * 3 + [301, 304, 404, 404, 429, 500, 502, 503]
AGENTS = [
    "curl/8.4.0",
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
    "python-requests/2.31",
    "Go-http-client/1.1",
]


def access_docs(n: int, start_ms: int, span_ms: int, seed: int, batch: int) -> Iterator[list[Doc]]:
    """Batches of nginx access-log docs, timestamps increasing across [start_ms, start_ms + span_ms)."""
    rnd = random.Random(seed)
    ids = id_hasher(f"bench-access-{seed}")
    step = span_ms / max(n, 1)
    out: list[Doc] = []
    for i in range(n):
        ts = start_ms + int(i * step)
        service = rnd.choice(SERVICES)
        status = rnd.choice(STATUS)
        method = rnd.choice(METHODS)
        path = rnd.choice(PATHS) + (f"/{rnd.randrange(100000)}" if rnd.random() < 0.5 else "")
        ip = f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}"
        size = rnd.randrange(100, 50000)
        latency = round(rnd.expovariate(1 / 40.0), 2)
        agent = rnd.choice(AGENTS)
        # The shipper's ids: a function of (file identity, byte offset of the line).
        doc_id = ids.id(i * 180)
        when = format_ts(ts)
        source = {
            "@timestamp": when,
            "message": f'{ip} - - [{when}] "{method} {path} HTTP/1.1" {status} {size} "-" "{agent}"',
            # ECS event.duration is nanoseconds, as the shipper's nginx parser writes $request_time.
            "event": {"id": doc_id, "dataset": "nginx.access", "duration": int(latency * 1_000_000)},
            "service": {"name": service},
            "host": {"name": f"web-{rnd.randrange(8)}"},
            "log": {
                "level": "error" if status >= 500 else "info",
                "file": {"path": "/var/log/nginx/access.log"},
                "offset": i * 180,
            },
            "http": {
                "request": {"method": method},
                "response": {"status_code": status, "body": {"bytes": size}},
            },
            "url": {"path": path},
            "source": {"ip": ip},
            "user_agent": {"original": agent},
            "latency_ms": latency,
        }
        out.append(Doc(doc_id, ts, source, orjson.dumps(source), final=True))
        if len(out) >= batch:
            yield out
            out = []
    if out:
        yield out


def ingest(n: int, batch: int, api: str, runs: int, drop_behind: bool = True) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    # Docs are made first and frozen out of the garbage collector's sight, so neither their making
    # nor GC passes over a million live docs are counted as the store's time.
    batches = list(access_docs(n, START_MS, DAY_MS, seed=1, batch=batch))
    gc.collect()
    gc.freeze()
    for run in range(runs):
        label = f"run {run + 1}/{runs}, {'cold' if run == 0 else 'warm'} process"
        ingest_once(batches, batch, api, label + ("" if drop_behind else ", no drop_behind"), drop_behind)


def ingest_once(batches: list[list[Doc]], batch: int, api: str, label: str, drop_behind: bool = True) -> None:
    """One ingest into a fresh store. The first in a process is "cold": on this VM, memory the process
    or the page cache touches for the first time costs a fault each; later runs reuse it, like a
    shipper that has been running for a while."""
    path = OUT / f"ingest-{os.getpid()}.db"
    store = SqliteStore(SqliteConfig(path=path, drop_behind=drop_behind))
    created = 0
    load = os.getloadavg()[0]
    try:
        t0 = time.perf_counter()
        c0 = time.process_time()  # every thread of this process: the indexer and checkpointer too
        if api == "shipper":
            # The shipper's call: None when every doc was created, per-doc results otherwise.
            for docs in batches:
                some = store.write_unless_all_created(docs)
                created += len(docs) if some is None else sum(r.outcome is Outcome.CREATED for r in some)
        else:
            for docs in batches:
                results = store.write(docs)
                created += sum(r.outcome is Outcome.CREATED for r in results)
        written = time.perf_counter() - t0
        store.refresh()  # until the last doc is searchable by text too
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
    finally:
        store.close()
        for suffix in ("", "-wal", "-shm", ".fts", ".fts-wal", ".fts-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    print(
        f"ingest ({api}; {label}): {created:,} docs in batches of {batch}: {wall:.2f} s until searchable "
        f"-> {created / wall:,.0f} docs/s (write calls alone {written:.2f} s); CPU {cpu:.2f} s "
        f"-> {created / cpu:,.0f} docs per CPU second (load average {load:.1f} -> {os.getloadavg()[0]:.1f})",
        flush=True,
    )


def agg_store(n: int, batch: int, span_ms: int) -> Path:
    name = f"agg-v{AGG_LAYOUT}-{n}-{span_ms // 3_600_000}h"
    path = OUT / f"{name}.db"
    ready = OUT / f"{name}.ready"
    if ready.exists() and path.exists():
        print(f"aggregates: reusing cached store {path}")
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    print(f"aggregates: building a {n:,}-doc store at {path} (cached for later runs)...", flush=True)
    batch = max(batch, 20000)
    t0 = time.perf_counter()
    store = SqliteStore(SqliteConfig(path=path))
    try:
        # Fast path: rows go straight into logstore_events (same row preparation as write(), ids known
        # unique), skipping the FTS index, which no aggregate reads. The ingest number above is what
        # measures write() itself.
        conn = store.conn
        rowid = 0
        for docs in access_docs(n, START_MS, span_ms, seed=2, batch=batch):
            rows = []
            for doc in docs:
                rowid += 1
                row = _prepare(doc)
                row[0] = rowid
                rows.append(row)
            conn.execute("BEGIN")
            conn.executemany(_INSERT_EVENT, rows)
            conn.execute("COMMIT")
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.conn.execute("ANALYZE")
    finally:
        store.close()
    ready.touch()
    print(f"aggregates: built in {time.perf_counter() - t0:.0f} s", flush=True)
    return path


def timed(store: SqliteStore, req: AggRequest, runs: int) -> tuple[float, float, int]:
    samples = []
    rows = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        result = store.aggregate([req])[0]
        samples.append((time.perf_counter() - t0) * 1000)
        rows = len(result.rows)
    return statistics.median(samples), min(samples), rows


def aggregates(n: int, batch: int, runs: int, span_hours: int) -> None:
    span_ms = span_hours * 3_600_000
    path = agg_store(n, batch, span_ms)
    store = SqliteStore(SqliteConfig(path=path))
    try:
        start = datetime.fromtimestamp((START_MS + span_ms // 2) / 1000, tz=UTC)
        end = start + timedelta(minutes=5)
        in_window = store.count("", start, end)
        print(f"aggregates: {n:,}-doc store, 5-minute window holds {in_window:,} docs; {runs} runs each")
        group = ("service.name",)
        errors = Metric("errors", "count", query="http.response.status_code:>=500")
        p99_duration = Metric("p99", "percentile", field="event.duration", percent=99)
        p99_latency = Metric("p99", "percentile", field="latency_ms", percent=99)

        def by_service(*metrics: Metric) -> AggRequest:
            return AggRequest("", start, end, group_by=group, metrics=metrics)

        cases = {
            "count by service": by_service(),
            "error ratio by service": by_service(errors),
            "p99 event.duration by service": by_service(p99_duration),
            # Not a hot column: the JSON of every doc in the window is parsed.
            "p99 latency_ms by service": by_service(p99_latency),
            "all three in one request": by_service(errors, p99_duration),
        }
        for label, req in cases.items():
            median, best, rows = timed(store, req, runs)
            print(f"  {label:<30} median {median:6.1f} ms   best {best:6.1f} ms   ({rows} groups)")
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=1_000_000, help="docs to ingest (default 1M)")
    parser.add_argument("--agg-docs", type=int, default=10_000_000, help="docs in the aggregate store (10M)")
    parser.add_argument("--batch", type=int, default=2000, help="docs per write call (default 2000)")
    parser.add_argument(
        "--api",
        choices=("shipper", "write"),
        default="shipper",
        help="shipper: write_unless_all_created, what the shipper calls (default); write: the Store "
        "protocol's write(), which also builds a result per doc",
    )
    parser.add_argument(
        "--ingest-runs",
        type=int,
        default=1,
        help="ingests of the same docs, each into a fresh store in this process (default 1); runs after "
        "the first measure a warm process",
    )
    parser.add_argument("--runs", type=int, default=7, help="runs per aggregate (default 7)")
    parser.add_argument(
        "--no-drop-behind", action="store_true", help="store.sqlite.drop_behind off (on by default)"
    )
    parser.add_argument(
        "--span-hours",
        type=int,
        default=24,
        help="time span of the aggregate store (default 24: ~35k docs/5 min)",
    )
    args = parser.parse_args()
    if args.docs > 0:
        ingest(args.docs, args.batch, args.api, args.ingest_runs, not args.no_drop_behind)
    if args.agg_docs > 0:
        aggregates(args.agg_docs, args.batch, args.runs, args.span_hours)


if __name__ == "__main__":
    main()
