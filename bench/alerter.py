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
from alerter.engine import Engine  # noqa: E402
from alerter.rules.model import Rule  # noqa: E402
from alerter.runner import chunk  # noqa: E402
from alerter.state import MemoryStateStore  # noqa: E402
from logstore import open_store  # noqa: E402
from logstore.config import SqliteConfig, StoreConfig  # noqa: E402
from logstore.config.alerter import AlerterConfig  # noqa: E402
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
        import sqlite3

        db = Path(args.store)
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            count, max_ts = conn.execute("SELECT count(*), max(ts) FROM logstore_events").fetchone()
            services = [r[0] for r in conn.execute("SELECT DISTINCT service FROM logstore_events LIMIT 50")]
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


# ---- side by side with ElastAlert2 ------------------------------------------------------------

EA_SERVICES = ["api", "web", "auth", "billing", "search", "media", "admin", "worker"]


def ea_docs(n: int, end: datetime, span: timedelta) -> list[Doc]:
    """~n nginx-like docs over `span` ending at `end`: web has a 502 storm, api is slow and failing."""
    rng = random.Random(11)
    start_ms = datetime_to_ms(end - span)
    step = span.total_seconds() * 1000 / n
    docs = []
    for i in range(n):
        ts = int(start_ms + i * step)
        svc = EA_SERVICES[i % len(EA_SERVICES)]
        status = rng.choices([200, 404, 500, 502], [95, 3, 1, 1])[0]
        latency = rng.lognormvariate(3.5, 0.6)
        if svc == "web" and rng.random() < 0.05:
            status = 502
        if svc == "api":
            latency *= 6
            if rng.random() < 0.08:
                status = 503
        src = {
            "@timestamp": format_ts(ts),
            "message": f"GET /p/{i % 97} {status}",
            "service": {"name": svc},
            "host": {"name": f"web-{i % 5}"},
            "http": {"response": {"status_code": status}},
            "latency_ms": round(latency, 2),
        }
        docs.append(Doc(id=f"ea{i:08d}", ts=ts, source=src))
    return docs


LW_RULES = [
    {"name": "502-by-service", "query": "http.response.status_code:502", "condition": {"count": {"gt": 50}}},
    {
        "name": "avg-latency",
        "query": "*",
        "condition": {"metric": {"field": "latency_ms", "agg": "avg", "gt": 100}},
    },
    {
        "name": "p95-latency",
        "query": "*",
        "condition": {"metric": {"field": "latency_ms", "agg": "p95", "gt": 250}},
    },
    {
        "name": "5xx-percent",
        "query": "*",
        "condition": {
            "ratio": {"query": "http.response.status_code:[500 TO 599]", "gt": 0.05, "min_count": 100}
        },
    },
]

EA_RULES = {
    "502-by-service": {
        "type": "frequency",
        "num_events": 51,
        "timeframe": {"hours": 1},
        "filter": [{"term": {"http.response.status_code": 502}}],
    },
    "avg-latency": {
        "type": "metric_aggregation",
        "metric_agg_key": "latency_ms",
        "metric_agg_type": "avg",
        "max_threshold": 100,
    },
    "p95-latency": {
        "type": "metric_aggregation",
        "metric_agg_key": "latency_ms",
        "metric_agg_type": "percentiles",
        "percentile_range": 95,
        "max_threshold": 250,
    },
    "5xx-percent": {
        "type": "percentage_match",
        "match_bucket_filter": [{"range": {"http.response.status_code": {"gte": 500, "lte": 599}}}],
        "max_percentage": 5,
        "min_denominator": 100,
    },
}

EA_DRIVER = r"""
import json, sys, time, logging
from datetime import datetime
logging.disable(logging.CRITICAL)
from elastalert.elastalert import ElastAlerter
from elastalert.util import lookup_es_key
cfg, start, end = sys.argv[1], sys.argv[2], sys.argv[3]
ea = ElastAlerter(["--config", cfg, "--debug"])
parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
captured = []
ea.alert = lambda matches, rule, **kw: captured.extend(matches)
out = {}
for rule in ea.rules:
    times = []
    groups = []
    for attempt in range(2):  # the first run pays for the client connection; the second is timed warm
        rule["type"] = type(rule["type"])(rule, None)
        rule["processed_hits"] = {}
        captured.clear()
        t0 = time.perf_counter()
        ea.run_rule(rule, parse(end), parse(start))
        times.append(time.perf_counter() - t0)
        groups = sorted(str(lookup_es_key(m, rule.get("query_key") or "")) for m in captured)
    hits = ea.thread_data.cumulative_hits
    out[rule["name"]] = {"cold": times[0], "warm": times[1], "groups": groups, "hits": hits}
print(json.dumps(out))
"""


class _TimedStore:
    """Delegates to the store, adding up the time spent in aggregate (the server's share)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "")
        self.spent = 0.0

    def aggregate(self, requests: object) -> object:
        t0 = time.perf_counter()
        try:
            return self.inner.aggregate(requests)  # type: ignore[attr-defined]
        finally:
            self.spent += time.perf_counter() - t0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def elastalert(args: argparse.Namespace) -> None:
    import json
    import shutil
    import subprocess

    import yaml
    from osmem_server import OsmemServer

    from logstore.config import ElasticsearchConfig

    venv = OUT / "ea-venv" / "bin" / "python"
    if not venv.exists():
        sys.exit(
            f"{venv}: missing; create it with: python3 -m venv {venv.parents[1]} && "
            f"{venv.parent}/pip install elastalert2 pytz"
        )
    work = OUT / "ea"
    shutil.rmtree(work, ignore_errors=True)
    (work / "rules").mkdir(parents=True)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    span = timedelta(hours=1)
    from tests.rig.proxy import FaultProxy

    server = OsmemServer.start(japanese=False)
    # The 9.x client sends compatible-with=9 media types osmem refuses; the test rig's proxy translates
    # (it injects no faults unless told to). ElastAlert2's 7.x client talks to osmem directly.
    proxy = FaultProxy(str(server.url)).start()
    try:
        url = str(server.url).rstrip("/")
        host, port = url.split("//", 1)[1].split(":")
        config = StoreConfig(
            elasticsearch=ElasticsearchConfig(hosts=[proxy.url], index="logs-{service.name}-%Y.%m.%d")
        )
        store = open_store(config)
        docs = ea_docs(args.docs, end, span)
        for i in range(0, len(docs), 5000):
            store.write(docs[i : i + 5000])
        store.refresh()
        n = store.count("*", end - span, end)
        print(f"elastalert side by side: {n} docs in osmem ({url}), window {span}")

        # logwarden: one pass = every rule due on one tick, one aggregate round trip (_msearch).
        rules = [
            Rule.model_validate({**r, "every": "1m", "window": "1h", "group_by": ["service.name"]})
            for r in LW_RULES
        ]
        lw_times = []
        agg_times: list[float] = []
        fired: dict[str, list[str]] = {}
        timed = _TimedStore(store)
        for _ in range(args.repeat):
            rec = RecordingNotifier()
            eng = Engine(timed, rec, MemoryStateStore(), AlerterConfig(), write_alert_docs=False)  # type: ignore[arg-type]
            timed.spent = 0.0
            eng.set_rules(rules)
            t0 = time.perf_counter()
            eng.evaluate([(r, end) for r in rules], end)
            lw_times.append(time.perf_counter() - t0)
            agg_times.append(timed.spent)
            fired = {}
            for e in rec.events:
                fired.setdefault(e.rule, []).append(str(e.group.get("service.name")))
        store.close()

        (work / "config.yaml").write_text(
            yaml.safe_dump(
                {
                    "rules_folder": str(work / "rules"),
                    "run_every": {"minutes": 1},
                    "buffer_time": {"hours": 1},
                    "es_host": host,
                    "es_port": int(port),
                    "writeback_index": "elastalert_status",
                    "alert_time_limit": {"days": 1},
                }
            )
        )
        for name, body in EA_RULES.items():
            rule = {
                "name": name,
                "index": "logs-*",
                "timestamp_field": "@timestamp",
                "query_key": "service.name",
                "alert": ["debug"],
                "realert": {"minutes": 0},
                **body,
            }
            (work / "rules" / f"{name}.yaml").write_text(yaml.safe_dump(rule))
        (work / "driver.py").write_text(EA_DRIVER)
        runs = []
        for _ in range(args.repeat):
            proc = subprocess.run(
                [
                    str(venv),
                    str(work / "driver.py"),
                    str(work / "config.yaml"),
                    format_ts(datetime_to_ms(end - span)),
                    format_ts(datetime_to_ms(end)),
                ],
                capture_output=True,
                text=True,
                timeout=900,
                cwd=work,
            )
            if proc.returncode != 0:
                print(proc.stderr[-3000:])
                sys.exit("elastalert driver failed")
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    finally:
        proxy.stop()
        server.close()

    ea = {
        name: {
            "seconds": [r[name]["warm"] for r in runs],
            "cold": [r[name]["cold"] for r in runs],
            "groups": runs[-1][name]["groups"],
            "hits": runs[-1][name]["hits"],
        }
        for name in runs[0]
    }
    ea_sum = sum(statistics.median(v["seconds"]) for v in ea.values())
    lw = statistics.median(lw_times)
    print(f"{'rule':<16} {'EA2 warm s':>10} {'EA2 cold s':>10} {'EA2 hits':>9}  {'logwarden fired':<22} EA2")
    for r in LW_RULES:
        name = str(r["name"])
        got = ea.get(name, {"seconds": [float("nan")], "cold": [float("nan")], "hits": 0, "groups": []})
        print(
            f"{name:<16} {statistics.median(got['seconds']):>10.3f} {statistics.median(got['cold']):>10.3f} "
            f"{got['hits']:>9}  {','.join(sorted(fired.get(name, []))) or '-':<22} "
            f"{','.join(got['groups']) or '-'}"
        )
    print(f"elastalert2: summed median per-rule time (warm) {ea_sum:.3f}s ({args.repeat} runs per rule)")
    print(
        f"logwarden:   one pass over all {len(rules)} rules {lw:.3f}s (median of {len(lw_times)}) "
        f"-> {lw / ea_sum * 100:.0f}% of elastalert2 (target <= 33%)"
    )
    print(f"             of which in store.aggregate (one _msearch): {statistics.median(agg_times):.3f}s")


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
    e = sub.add_parser("elastalert", help="four equivalent rules: logwarden vs ElastAlert2 on one osmem")
    e.add_argument("--docs", type=int, default=50_000)
    e.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    if args.bench == "scale":
        scale(args)
    elif args.bench == "elastalert":
        elastalert(args)


if __name__ == "__main__":
    main()
