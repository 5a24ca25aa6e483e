"""Alerter benchmarks. Prints numbers; asserts nothing about time (the machine is shared and noisy).

scale: N rules (a mix of every condition kind) over a SQLite store of D docs; one full cycle, i.e.
every rule due on the same tick, evaluated the way ``alerter run`` does (batches of
``alerter.batch_size`` sharing one aggregate call, on ``alerter.workers`` threads, one SQLite
connection per worker). The store is built once under bench/out/ and reused.

    .venv/bin/python bench/alerter.py scale --docs 1000000 --rules 500
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alerter.cases import RecordingNotifier  # noqa: E402
from alerter.config import AlerterConfig  # noqa: E402
from alerter.engine import Engine  # noqa: E402
from alerter.rules.model import Rule  # noqa: E402
from alerter.runner import chunk  # noqa: E402
from alerter.state import MemoryStateStore  # noqa: E402
from logstore import open_store  # noqa: E402
from logstore.config import SqliteConfig, StoreConfig  # noqa: E402
from logstore.types import Doc, datetime_to_ms, format_ts  # noqa: E402

OUT = REPO / "bench" / "out"
# A fixed "now" so a reused store lines up with the windows of every run.
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SERVICES = [f"svc{i:02d}" for i in range(20)]
HOSTS = [f"web{i:02d}" for i in range(50)]
ERRORS = ["Timeout", "KeyError", "ConnectionReset", "ValueError", "OOM"]


def build_store(path: Path, docs: int, span: timedelta) -> None:
    if path.exists():
        print(f"reusing {path}")
        return
    tmp = path.with_suffix(".building")
    for p in tmp.parent.glob(tmp.name + "*"):
        p.unlink()
    store = open_store(StoreConfig(sqlite=SqliteConfig(path=tmp)))
    rng = random.Random(7)
    start_ms = datetime_to_ms(NOW - span)
    step = span.total_seconds() * 1000 / docs
    t0 = time.monotonic()
    batch: list[Doc] = []
    for i in range(docs):
        ts = int(start_ms + i * step)
        status = rng.choices([200, 404, 500, 502, 503], [90, 4, 2, 3, 1])[0]
        level = "error" if status >= 500 else rng.choices(["info", "warn"], [9, 1])[0]
        src = {
            "@timestamp": format_ts(ts),
            "message": f"GET /api/{rng.randrange(100)} {status}",
            "service": {"name": rng.choice(SERVICES)},
            "host": {"name": rng.choice(HOSTS)},
            "log": {"level": level},
            "http": {"response": {"status_code": status}},
            "latency_ms": round(rng.lognormvariate(4, 0.8), 1),
        }
        if level == "error":
            src["error"] = {"type": rng.choice(ERRORS)}
        batch.append(Doc(id=f"b{i:09d}", ts=ts, source=src))
        if len(batch) == 10000:
            store.write(batch)
            batch = []
    if batch:
        store.write(batch)
    store.close()
    for p in tmp.parent.glob(tmp.name + "*"):
        p.rename(path.parent / p.name.replace(".building", ".db"))
    print(f"built {docs} docs in {time.monotonic() - t0:.1f}s -> {path}")


def make_rules(
    n: int, services: list[str] = SERVICES, new_field: str = "error.type", distinct: bool = False
) -> list[Rule]:
    kinds = [
        ("count", "service.name:{s} AND http.response.status_code:502", {"count": {"gt": 50}}, ["host.name"]),
        (
            "ratio",
            "service.name:{s}",
            {"ratio": {"query": "log.level:error", "gt": 0.05, "min_count": 20}},
            [],
        ),
        ("p99", "service.name:{s}", {"metric": {"field": "latency_ms", "agg": "p99", "gt": 500}}, []),
        (
            "avg",
            "service.name:{s}",
            {"metric": {"field": "latency_ms", "agg": "avg", "gt": 200}},
            ["host.name"],
        ),
        ("absence", "service.name:{s}", {"absence": {"lookback": "1h"}}, ["host.name"]),
        ("spike", "service.name:{s} AND log.level:error", {"spike": {"factor": 3}}, []),
        ("new", "service.name:{s}", {"new_value": {"field": new_field, "lookback": "1h"}}, []),
        ("count-lt", "service.name:{s}", {"count": {"lt": 10}}, []),
    ]
    rules = []
    for i in range(n):
        name, query, cond, group_by = kinds[i % len(kinds)]
        s = services[(i // len(kinds)) % len(services)]
        if distinct:
            # Worst case: no two rules share a request (a term that matches nothing, unique per rule).
            query = f"{query} AND NOT host.name:nobody-{i}"
        rules.append(
            Rule.model_validate(
                {
                    "name": f"{name}-{i}",
                    "query": query.format(s=s),
                    "every": "1m",
                    "window": "5m",
                    "condition": cond,
                    "group_by": group_by,
                }
            )
        )
    return rules


def scale(args: argparse.Namespace) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    now = NOW
    if args.store:
        # Someone else's store (e.g. bench/store.py's 10M-doc aggregate store): read its shape.
        import apsw  # the store's SQLite (logstore._sqlite_library): one library per file in a process

        db = Path(args.store)
        conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            count, max_ts = conn.execute("SELECT count(*), max(ts) FROM logstore_events").fetchone() or (0, 0)
            services = [r[0] for r in conn.execute("SELECT DISTINCT service FROM logstore_events LIMIT 50")]
        finally:
            conn.close()
        now = datetime.fromtimestamp(max_ts // 60000 * 60, tz=UTC)
        rules = make_rules(args.rules, [s for s in services if s], args.new_field, args.distinct)
        docs = count
    else:
        db = OUT / f"alerter-scale-{args.docs}-{args.span_hours:g}h.db"
        build_store(db, args.docs, timedelta(hours=args.span_hours))
        rules = make_rules(args.rules, distinct=args.distinct)
        docs = args.docs
    config = StoreConfig(sqlite=SqliteConfig(path=db))
    shapes = len({(r.query, tuple(r.group_by)) for r in rules})
    print(f"scale: {len(rules)} rules ({shapes} distinct query/group_by), {docs} docs in {db.name}, at {now}")
    for workers in args.workers:
        store = open_store(config)
        cfg = AlerterConfig(workers=workers, batch_size=args.batch_size)
        eng = Engine(
            store,
            RecordingNotifier(),
            MemoryStateStore(),
            cfg,
            write_alert_docs=False,
            store_factory=lambda: open_store(config),
        )
        eng.set_rules(rules)
        batches = [[r for r, _ in b] for b in chunk([(r, now) for r in rules], cfg.batch_size)]
        warm: list[float] = []
        # Consecutive ticks, like a running alerter: the first cycle is cold (full lookbacks for
        # absence/new_value), the following ones read only the new slice of their lookbacks.
        for rep in range(args.repeat):
            tick = now - timedelta(minutes=args.repeat - 1 - rep)
            t0 = time.monotonic()
            with ThreadPoolExecutor(max_workers=workers) as pool:
                outs = list(pool.map(lambda b, t=tick, e=eng: e.evaluate([(r, t) for r in b], t), batches))
            elapsed = time.monotonic() - t0
            if rep:
                warm.append(elapsed)
            errors = sum(1 for batch in outs for o in batch if o.error)
            fired = len(eng.notifier.events)  # type: ignore[attr-defined]
            print(
                f"  workers={workers} batch={cfg.batch_size} tick {rep + 1} ({'warm' if rep else 'cold'}): "
                f"cycle {elapsed:.2f}s ({elapsed / len(rules) * 1000:.1f} ms/rule), "
                f"{fired} alerts so far, {errors} errors"
            )
        eng.close()
        store.close()
        if warm:
            print(
                f"  workers={workers}: median warm cycle {statistics.median(warm):.2f}s ({len(warm)} ticks)"
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="bench", required=True)
    s = sub.add_parser("scale", help="N rules over a big SQLite store: one full cycle")
    s.add_argument("--docs", type=int, default=1_000_000)
    s.add_argument("--rules", type=int, default=500)
    s.add_argument("--span-hours", type=float, default=24.0, help="time the docs are spread over")
    s.add_argument("--batch-size", type=int, default=50)
    s.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    s.add_argument("--repeat", type=int, default=4, help="consecutive ticks per worker count")
    s.add_argument("--store", help="use this existing SQLite store instead of building one")
    s.add_argument("--new-field", default="error.type", help="field of the new_value rules")
    s.add_argument("--distinct", action="store_true", help="every rule its own query (no request sharing)")
    args = p.parse_args()
    if args.bench == "scale":
        scale(args)


if __name__ == "__main__":
    main()
