"""logwarden's alerter vs ElastAlert2: four equivalent rules over the same docs in one osmem-server.

Loads ~50k realistic nginx access-log docs (8 services, 1 hour) into ONE index of a private
osmem-server through logwarden's Elasticsearch backend (via the test rig's header-rewriting
FaultProxy), then evaluates the same four rules both ways over the same 1-hour window:

  502-by-service  more than 50 502s per service.name
  avg-latency     avg latency_ms per service above 300
  p95-latency     p95 latency_ms per service above 800
  5xx-percent     more than 5 % 5xx per service (at least 100 requests)

(a) ElastAlert2 (PyPI ``elastalert2`` + ``pytz``, in its own venv under bench/out/elastalert-venv,
    created here on first use; never in .venv). Its pinned 7.x client talks to osmem directly.
    Config and rules: bench/peers/elastalert/. Each round is one ElastAlert2 process that runs every
    rule twice (cold: first connection; warm: timed), each rule timed on its own.
(b) logwarden: the code path of ``alerter run --once`` (the rule files, logwarden.yaml, RuleSet,
    Engine, state and alert docs in Elasticsearch) with the clock pinned to the end of the data, so
    the tick's window is exactly the data's hour: one pass over all four rules (their aggregations
    merged into two searches), all of them in one ``_msearch`` (single-lane: the two-connection
    split by metric or by service, ``max_concurrent_searches``, is gone; it paid off only on osmem).
    Every pass gets a fresh state index, so each one fires and writes its alerts like a first run.

Prints per-rule seconds for ElastAlert2, their sum, logwarden's one-pass time, the ratio (target:
logwarden <= 1/3 of ElastAlert2's sum) and whether the same (rule, service) alerts fired; also the
osmem-server CPU seconds of logwarden's warm passes (less noisy than wall time on a shared machine).
It asserts nothing about time: the machine is shared and noisy.

    .venv/bin/python bench/alerter_vs_elastalert.py                 # 50k docs, 5 rounds
    .venv/bin/python bench/alerter_vs_elastalert.py --docs 10000 --rounds 3
    .venv/bin/python bench/alerter_vs_elastalert.py --rounds 1 --probe 5  # + osmem price of shapes
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from logstore import Doc, open_store  # noqa: E402
from logstore.config import ElasticsearchConfig, StoreConfig  # noqa: E402
from logstore.types import Outcome, datetime_to_ms, format_ts  # noqa: E402

OUT = REPO / "bench" / "out"
PEERS = REPO / "bench" / "peers" / "elastalert"
INDEX = "logs-bench"
WINDOW = timedelta(hours=1)  # equals buffer_time in bench/peers/elastalert/config.yaml

# service: (share of traffic, 502 rate, other 5xx rate, latency median ms, latency sigma)
# web has a 502 storm, api is slow on average, search has a heavy tail, billing fails 10 %.
SERVICES: dict[str, tuple[float, float, float, float, float]] = {
    "web": (0.25, 0.03, 0.003, 40, 0.6),
    "api": (0.20, 0.0005, 0.005, 380, 0.35),
    "search": (0.12, 0.0005, 0.004, 100, 1.4),
    "billing": (0.08, 0.001, 0.10, 90, 0.5),
    "auth": (0.10, 0.0005, 0.002, 25, 0.4),
    "static": (0.12, 0.0, 0.0, 4, 0.5),
    "media": (0.08, 0.0005, 0.003, 60, 0.7),
    "admin": (0.05, 0.001, 0.004, 70, 0.5),
}
PATHS = ["/", "/login", "/api/v1/orders", "/api/v1/users/{n}", "/search?q=shoes", "/static/app.{n}.js",
         "/img/{n}.jpg", "/checkout", "/health", "/admin/reports"]  # fmt: skip
METHODS = (["GET"] * 8) + ["POST", "PUT"]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.5.0",
    "python-requests/2.32.3",
]
LW_RULES: list[dict[str, Any]] = [
    {"name": "502-by-service", "query": "http.response.status_code:502", "condition": {"count": {"gt": 50}}},
    {"name": "avg-latency", "condition": {"metric": {"field": "latency_ms", "agg": "avg", "gt": 300}}},
    {"name": "p95-latency", "condition": {"metric": {"field": "latency_ms", "agg": "p95", "gt": 800}}},
    {
        "name": "5xx-percent",
        "condition": {
            "ratio": {"query": "http.response.status_code:[500 TO 599]", "gt": 0.05, "min_count": 100}
        },
    },
]


def access_docs(n: int, end: datetime) -> Iterator[Doc]:
    """n nginx access-log docs shaped as logwarden's shipper stores them, spread over the hour before end."""
    rng = random.Random(4)
    names = list(SERVICES)
    weights = [SERVICES[s][0] for s in names]
    start_ms = datetime_to_ms(end - WINDOW)
    step = WINDOW.total_seconds() * 1000 / n
    for i in range(n):
        ts = int(start_ms + i * step)
        svc = rng.choices(names, weights)[0]
        _, p502, p5xx, median, sigma = SERVICES[svc]
        r = rng.random()
        status = 502 if r < p502 else rng.choice([500, 503, 504]) if r < p502 + p5xx else 200
        if status == 200 and rng.random() < 0.04:
            status = rng.choice([301, 304, 404, 404, 403])
        latency = round(rng.lognormvariate(0, sigma) * median, 1)
        method = rng.choice(METHODS)
        path = rng.choice(PATHS).format(n=rng.randrange(1000))
        ip = f"10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        host = f"{svc}-{rng.randrange(3)}"
        size = rng.randrange(200, 40000)
        ua = rng.choice(AGENTS)
        stamp = format_ts(ts)
        source = {
            "@timestamp": stamp,
            "message": f'{ip} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {size} "-" "{ua}"',
            "service": {"name": svc},
            "host": {"name": host},
            "log": {"file": {"path": f"/var/log/nginx/{svc}.access.log"}, "offset": i * 180},
            "source": {"ip": ip},
            "http": {
                "request": {"method": method},
                "response": {"status_code": status, "body": {"bytes": size}},
            },
            "url": {"original": path},
            "user_agent": {"original": ua},
            "latency_ms": latency,
        }
        yield Doc(id=f"bench-{i:08d}", ts=ts, source=source)


# ---- ElastAlert2 --------------------------------------------------------------------------------


def ensure_venv(venv: Path) -> str | None:
    """ElastAlert2's own venv (created on first use); None when ready, else the reason it is not."""
    if (venv / "bin" / "elastalert").exists():
        return None
    print(f"creating {venv} with elastalert2 + pytz (once; ~2 min)", flush=True)
    # The base interpreter, not .venv's: ElastAlert2 pins old libraries that must not touch .venv.
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", "elastalert2", "pytz"],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            return f"{' '.join(cmd[:3])} failed: {tail[0]}"
    return None


def prepare_elastalert(venv: Path, work: Path, es_url: str) -> Path:
    """Copy the peer config and rules into work/ (pointed at es_url) and create the writeback indices."""
    host, port = es_url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    conf = yaml.safe_load((PEERS / "config.yaml").read_text())
    conf.update(es_host=host, es_port=int(port), rules_folder=str(work / "rules"))
    shutil.copytree(PEERS / "rules", work / "rules")
    cfg = work / "config.yaml"
    cfg.write_text(yaml.safe_dump(conf))
    with (work / "elastalert.log").open("a") as log:
        # The documented set-up step: the writeback indices (status, silence, errors, past alerts).
        proc = subprocess.run(
            [str(venv / "bin" / "elastalert-create-index"), "--config", str(cfg)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=work,
            timeout=300,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"elastalert-create-index failed (exit {proc.returncode}): {_log_tail(work)}")
    return cfg


def elastalert_round(venv: Path, work: Path, cfg: Path, start: datetime, end: datetime) -> dict[str, Any]:
    """One ElastAlert2 process: pass 1 (cold: first connection) and pass 2 (warm), every rule timed."""
    with (work / "elastalert.log").open("a") as log:
        proc = subprocess.run(
            [str(venv / "bin" / "python"), str(PEERS / "run_pass.py"), str(cfg), iso(start), iso(end), "2"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=work,
            timeout=1800,
        )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"ElastAlert2 run failed (exit {proc.returncode}): {_log_tail(work)}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _log_tail(work: Path) -> str:
    return " | ".join((work / "elastalert.log").read_text().strip().splitlines()[-5:])


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")


# ---- logwarden ----------------------------------------------------------------------------------


# osmem-server's CPU seconds so far (user + system), once main has started it; None without psutil.
_server_cpu: Callable[[], float] | None = None


def _watch_server(pid: int) -> None:
    global _server_cpu
    try:
        import psutil  # a test extra: only for this extra column
    except ImportError:
        return
    proc = psutil.Process(pid)

    def cpu() -> float:
        t = proc.cpu_times()
        return float(t.user + t.system)

    _server_cpu = cpu


def write_logwarden_config(work: Path, proxy_url: str, state_index: str) -> Path:
    rules = work / "lw-rules"
    if not rules.exists():
        rules.mkdir()
        for r in LW_RULES:
            body = {
                "query": "*",
                **r,
                "every": "1m",
                "window": "1h",
                "delay": "0s",
                "group_by": ["service.name"],
            }
            (rules / f"{r['name']}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    cfg = work / f"logwarden-{state_index}.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "store": {
                    "elasticsearch": {
                        "hosts": [proxy_url],
                        "index": INDEX,
                        "template_name": INDEX,
                        "state_index": state_index,
                    }
                },
                "alerter": {"rules": [str(rules)]},
            },
            sort_keys=False,
        )
    )
    return cfg


def logwarden_pass(work: Path, proxy_url: str, end: datetime, n: int | str) -> dict[str, Any]:
    """``alerter run --once`` with the clock pinned to ``end``, on a fresh state index ``bench-state-<n>``."""
    from alerter.cli import _notifier
    from alerter.engine import Engine
    from alerter.runner import RuleSet, Runner
    from alerter.state import open_state
    from logwarden.config import load_config

    config = load_config(str(write_logwarden_config(work, proxy_url, f"bench-state-{n}")))
    ruleset = RuleSet(config)
    store = open_store(config.store)
    try:
        state = open_state(config, store)
        engine = Engine(store, _notifier(config, store), state, config.alerter, config_path=config.source)
        runner = Runner(engine, ruleset, clock=lambda: end)
        cpu0 = _server_cpu() if _server_cpu is not None else 0.0
        t0 = time.perf_counter()
        runner.run_once()
        seconds = time.perf_counter() - t0
        server_cpu = _server_cpu() - cpu0 if _server_cpu is not None else None
        alerted: dict[str, list[str]] = {}
        errors = [f"{m.rule}: {m.last_error}" for m in engine.metas.values() if m.failures]
        for rule, per in engine.instances.items():
            for inst in per.values():
                if inst.state == "firing":
                    alerted.setdefault(rule, []).append(str(inst.group.get("service.name")))
        engine.close()
        state.close()
    finally:
        store.close()
    alerted_sorted = {k: sorted(v) for k, v in alerted.items()}
    return {"seconds": seconds, "server_cpu": server_cpu, "alerted": alerted_sorted, "errors": errors}


def rule_requests(work: Path, proxy_url: str, end: datetime) -> tuple[Any, list[Any]]:
    """The logwarden config of a pass and the aggregation requests its four rules make at ``end``."""
    from alerter.conditions import build_conditions
    from alerter.runner import RuleSet
    from alerter.schedule import window_for
    from logwarden.config import load_config

    config = load_config(str(write_logwarden_config(work, proxy_url, "bench-state-0")))
    ruleset = RuleSet(config)
    ruleset.reload()
    kinds = build_conditions()
    requests = [
        req
        for rule in ruleset.rules()
        for req in kinds[rule.condition.kind].requests(
            rule, window_for(rule, end), config.alerter.group_limit
        )
    ]
    return config, requests


def msearch_seconds(work: Path, proxy_url: str, end: datetime, repeat: int = 3) -> float:
    """Median time of the store round trip alone: the four rules' aggregations in one ``_msearch``."""
    config, requests = rule_requests(work, proxy_url, end)
    store = open_store(config.store)
    try:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            store.aggregate(requests)
            times.append(time.perf_counter() - t0)
    finally:
        store.close()
    return statistics.median(times)


def probe_shapes(es_url: str, start: datetime, end: datetime, reps: int) -> None:
    """osmem-server's price of hand-written search sets (one ``_msearch`` each, sequential), straight to it.

    The search the three ``*`` rules merge into (plus the 502 search) and its pieces: what a
    grouping, a value-reading aggregation or the check for unknown values cost. Prints wall and
    osmem CPU medians over ``reps`` interleaved runs.
    """
    # Long: most of it is the table of search shapes, data read top to bottom, not logic.
    import urllib.request

    services = sorted(SERVICES)
    window = {"range": {"@timestamp": {"gte": datetime_to_ms(start), "lt": datetime_to_ms(end)}}}
    stats = {"stats": {"field": "latency_ms"}}
    pct = {"percentiles": {"field": "latency_ms", "percents": [95.0], "keyed": False}}
    five = {"filter": {"range": {"http.response.status_code": {"gte": 500, "lte": 599}}}}
    every = {"m0": stats, "m1": pct, "m2": five}

    def grouped(values: list[str], aggs: dict[str, Any], query: Any = window, total: bool = False) -> Any:
        terms = {f"k{i}": {"term": {"service.name": v}} for i, v in enumerate(values)}
        known: dict[str, Any] = {"filters": {"filters": terms}}
        if aggs:
            known["aggs"] = aggs
        return {"size": 0, "track_total_hits": total, "query": query, "aggs": {"known": known}}

    s502 = grouped(services, {}, {"bool": {"filter": [{"term": {"http.response.status_code": 502}}, window]}})
    count = {"size": 0, "track_total_hits": True, "query": window}
    unknown = {
        "bool": {
            "filter": [{"exists": {"field": "service.name"}}],
            "must_not": [{"terms": {"service.name": services}}],
        }
    }
    shapes: dict[str, list[Any]] = {
        "the 502 search + the merged one": [s502, grouped(services, every, total=True)],
        "count only": [count],
        "count + unknown-value check": [{**count, "aggs": {"unknown": {"filter": unknown}}}],
        "filters over 8 services": [grouped(services, {})],
        "filters over 8 + stats": [grouped(services, {"m0": stats})],
        "filters over 8 + percentiles": [grouped(services, {"m1": pct})],
        "filters over 8 + 5xx filter": [grouped(services, {"m2": five})],
    }  # fmt: skip

    def msearch(bodies: list[Any]) -> None:
        lines = [line for b in bodies for line in (json.dumps({"index": INDEX}), json.dumps(b))]
        req = urllib.request.Request(
            es_url.rstrip("/") + "/_msearch",
            data=("\n".join(lines) + "\n").encode(),
            method="POST",
            headers={"Content-Type": "application/x-ndjson"},
        )
        with urllib.request.urlopen(req, timeout=300) as resp:
            reply = json.loads(resp.read())
        if any("error" in r for r in reply.get("responses", [])):
            raise RuntimeError(f"probe search failed: {reply}")

    wall: dict[str, list[float]] = {k: [] for k in shapes}
    cpu: dict[str, list[float]] = {k: [] for k in shapes}
    for bodies in shapes.values():
        msearch(bodies)  # warm
    for _ in range(reps):
        for name, bodies in shapes.items():
            c0 = _server_cpu() if _server_cpu is not None else 0.0
            t0 = time.perf_counter()
            msearch(bodies)
            wall[name].append(time.perf_counter() - t0)
            if _server_cpu is not None:
                cpu[name].append(_server_cpu() - c0)
    print(f"\nosmem-server, search sets sent one after the other, {reps} interleaved runs (medians):")
    for name in shapes:
        line = f"  {name:<36} wall {statistics.median(wall[name]):.3f}s"
        if cpu[name]:
            line += f", osmem-server CPU {statistics.median(cpu[name]):.2f}s"
        print(line)


def cli_once_seconds(work: Path, proxy_url: str) -> float:
    """Wall time of the real ``alerter run --once`` process (interpreter start and imports included)."""
    cfg = write_logwarden_config(work, proxy_url, "bench-state-cli")
    t0 = time.perf_counter()
    subprocess.run(
        [str(REPO / ".venv" / "bin" / "alerter"), "run", "--once", "-c", str(cfg), "--log-level", "ERROR"],
        capture_output=True,
        timeout=300,
        cwd=work,
    )
    return time.perf_counter() - t0


# ---- main ---------------------------------------------------------------------------------------


def load(proxy_url: str, n: int, end: datetime) -> int:
    config = StoreConfig(
        elasticsearch=ElasticsearchConfig(hosts=[proxy_url], index=INDEX, template_name=INDEX)
    )
    store = open_store(config)
    try:
        batch: list[Doc] = []
        bad = 0
        for doc in access_docs(n, end):
            batch.append(doc)
            if len(batch) == 2000:
                bad += sum(r.outcome not in (Outcome.CREATED, Outcome.DUPLICATE) for r in store.write(batch))
                batch = []
        if batch:
            bad += sum(r.outcome not in (Outcome.CREATED, Outcome.DUPLICATE) for r in store.write(batch))
        if bad:
            raise RuntimeError(f"{bad} docs were not stored")
        store.refresh()
        return store.count("*", end - WINDOW, end)
    finally:
        store.close()


def main() -> int:
    # Long: the script's steps in order (options, servers, load, rounds, report), each a few lines.
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docs", type=int, default=50_000, help="access-log docs over one hour (default 50000)")
    p.add_argument(
        "--rounds", type=int, default=5, help="rounds; each: one logwarden pass, one ElastAlert2 run"
    )
    p.add_argument(
        "--probe",
        type=int,
        default=0,
        metavar="N",
        help="also time hand-written search sets straight to osmem N times each (what each piece costs)",
    )
    p.add_argument("--venv", type=Path, default=OUT / "elastalert-venv", help="ElastAlert2's own venv")
    p.add_argument("--keep", action="store_true", help="keep the work dir (configs, ElastAlert2 log)")
    args = p.parse_args()
    if args.docs < 1000 or args.rounds < 1:
        p.error("--docs must be >= 1000 and --rounds >= 1")

    from osmem_server import OsmemServer

    from tests.rig.proxy import FaultProxy

    logging.basicConfig(level=logging.ERROR)
    # The rules deliberately notify nobody (ElastAlert2's side uses its log-only `debug` alerter), so
    # the pipeline's "alert not routed to any channel" line would repeat for every alert of every pass.
    logging.getLogger("alerter.notify").setLevel(logging.CRITICAL)
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="alerter-vs-ea-", dir=OUT))
    ea_problem = ensure_venv(args.venv)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - WINDOW
    server = OsmemServer.start(japanese=False)
    _watch_server(server.pid)
    proxy = None
    try:
        proxy = FaultProxy(str(server.url)).start()
        t0 = time.perf_counter()
        stored = load(proxy.url, args.docs, end)
        took = time.perf_counter() - t0
        print(
            f"loaded {stored} docs into osmem index {INDEX} in {took:.1f}s; window {iso(start)} .. {iso(end)}"
        )
        cfg = None
        if ea_problem is None:
            try:
                cfg = prepare_elastalert(args.venv, work, str(server.url))
            except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                ea_problem = str(e)
        # Rounds alternate the two sides, so load from the rest of the machine hits both alike.
        lw: list[dict[str, Any]] = []
        ea: list[dict[str, Any]] = []
        for n in range(args.rounds):
            lw.append(logwarden_pass(work, proxy.url, end, n))
            if cfg is not None and ea_problem is None:
                try:
                    ea.append(elastalert_round(args.venv, work, cfg, start, end))
                except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                    ea_problem = str(e)
            print(f"round {n + 1}/{args.rounds} done", flush=True)
        lw_msearch = msearch_seconds(work, proxy.url, end)
        if args.probe > 0:
            probe_shapes(str(server.url), start, end, args.probe)
        cli = cli_once_seconds(work, proxy.url)
    finally:
        if proxy is not None:
            proxy.stop()
        server.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    report(lw, lw_msearch, cli, ea if ea else None, ea_problem)
    return 0


def report(
    lw: list[dict[str, Any]],
    lw_msearch: float,
    cli: float,
    ea: list[dict[str, Any]] | None,
    ea_problem: str | None,
) -> None:
    # Long: one print per line of the report, in the order they appear.
    warm = [r["seconds"] for r in lw[1:]] or [lw[0]["seconds"]]
    lw_warm = statistics.median(warm)
    lw_alerts = {(rule, g) for rule, gs in lw[-1]["alerted"].items() for g in gs}
    print()
    print(f"logwarden: one pass over {len(LW_RULES)} rules: cold {lw[0]['seconds']:.3f}s, warm median "
          f"{lw_warm:.3f}s (min {min(warm):.3f}s, max {max(warm):.3f}s, {len(warm)} passes)")  # fmt: skip
    cpu = [r["server_cpu"] for r in lw[1:] if r.get("server_cpu") is not None]
    if cpu:
        print(f"osmem-server CPU per warm logwarden pass: median {statistics.median(cpu):.2f}s")
    print(f"logwarden: the 4 rules' aggregations alone (store.aggregate): {lw_msearch:.3f}s (median of 3)")
    print(f"logwarden: `alerter run --once` process wall time (start-up + imports + one pass): {cli:.2f}s")
    for e in lw[-1]["errors"]:
        print(f"logwarden rule error: {e}")
    if not ea:
        print(f"ElastAlert2: NOT RUN: {ea_problem}")
        return
    if ea_problem:
        print(f"ElastAlert2: stopped after {len(ea)} round(s): {ea_problem}")
    head = f"{'rule':<16}{'EA2 cold s':>11}{'EA2 warm s':>11}{'EA2 time_taken':>15}{'EA2 hits':>9}"
    print(f"{head}  alerts (EA2 | logwarden)")
    ea_sum = 0.0
    ea_alerts: set[tuple[str, str]] = set()
    for rule in LW_RULES:
        name = str(rule["name"])
        cold = [r["passes"][0][name] for r in ea if name in r["passes"][0]]
        hot = [r["passes"][-1][name] for r in ea if name in r["passes"][-1]]
        if not hot:
            print(f"{name:<16} missing from ElastAlert2's output")
            continue
        w = statistics.median(h["wall"] for h in hot)
        taken = [h["time_taken"] for h in hot if h["time_taken"] is not None]
        ea_sum += w
        ea_alerts |= {(name, g) for g in hot[-1]["alerted"]}
        lw_groups = ",".join(sorted(g for r, g in lw_alerts if r == name)) or "-"
        print(
            f"{name:<16}{statistics.median(c['wall'] for c in cold):>11.3f}{w:>11.3f}"
            f"{(statistics.median(taken) if taken else float('nan')):>15.3f}{hot[-1]['hits']:>9}  "
            f"{','.join(hot[-1]['alerted']) or '-'} | {lw_groups}"
        )
    print(f"ElastAlert2: summed per-rule time (warm medians over {len(ea)} runs): {ea_sum:.3f}s")
    if ea_sum > 0:
        print(
            f"ratio logwarden / ElastAlert2 = {lw_warm / ea_sum:.2f} "
            f"(ElastAlert2 takes {ea_sum / lw_warm:.1f}x logwarden's time; target ratio <= 0.33)"
        )
    same = ea_alerts == lw_alerts
    print(f"same alerts fired: {'yes' if same else 'NO'} ({len(lw_alerts)} (rule, service) pairs)")
    if not same:
        print(f"  only ElastAlert2: {sorted(ea_alerts - lw_alerts)}")
        print(f"  only logwarden:   {sorted(lw_alerts - ea_alerts)}")
    for e in sorted({e for r in ea for e in r["errors"]}):
        print(f"ElastAlert2 error: {e}")
    disabled = sorted({d for r in ea for d in r["disabled"]})
    if disabled:
        print(f"ElastAlert2 disabled rules: {disabled}")


if __name__ == "__main__":
    sys.exit(main())
