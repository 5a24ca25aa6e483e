"""Torture: a fast writer, rotations of every kind every second, and SIGKILLs of the shipper.

The store must end up with exactly the written lines, each once (unique ``_id`` and ``seq``).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from logstore import open_store
from logstore.config import SqliteConfig, StoreConfig
from tests.shipper.harness import LogDir, ShipperProcess, wait_until

REPO = Path(__file__).resolve().parents[2]


def _config(tmp: Path, store_yaml: str, workers: int = 1, processes: int = 0) -> Path:
    cfg = tmp / "logwarden.yaml"
    # With build processes, small reads (16 KiB) make most reads blocks for them.
    chunk = f"\n  processes: {processes}\n  read_chunk: 16384" if processes else ""
    cfg.write_text(
        f"""
store:
{store_yaml}
shipper:
  registry: {tmp / "registry.db"}
  scan_interval: 200ms
  workers: {workers}{chunk}
  batch: {{max_docs: 2000, max_wait: 200ms}}
  retry: {{initial: 50ms, max: 1s}}
  inputs:
    - paths: ["{tmp / "logs"}/app.log*"]
      format: json
      service: torture
"""
    )
    return cfg


def _torture(
    tmp: Path, cfg: Path, seconds: float, rate: int, kills: int, faults: object = None
) -> tuple[LogDir, ShipperProcess]:
    logs = LogDir(tmp / "logs")
    logs.write("app.log", 0)
    stop = threading.Event()
    rng = random.Random(7)
    per_tick = max(1, rate // 100)

    def writer() -> None:
        next_t = time.monotonic()
        while not stop.is_set():
            logs.append("app.log", per_tick, pad="x" * 60)
            next_t += 0.01
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the writer itself, not waiting for a condition

    def rotator() -> None:
        while not stop.wait(1.0):
            logs.rotate("app.log", rng.choice(["rename", "copytruncate"]))

    log = open(tmp / "shipper.out", "wb")  # noqa: SIM115 - shared by every restart of the shipper
    proc = ShipperProcess(cfg, log)
    proc.start()
    threads = [threading.Thread(target=writer, daemon=True), threading.Thread(target=rotator, daemon=True)]
    for t in threads:
        t.start()
    started = time.monotonic()
    try:
        kill_every = seconds / (kills + 1)
        for _ in range(kills):
            stop.wait(rng.uniform(0.5, 1.5) * kill_every)
            proc.kill()
            stop.wait(rng.uniform(0.0, 0.5))  # down for a moment: rotations happen meanwhile
            proc.start()
        stop.wait(max(0.0, seconds - (time.monotonic() - started)))
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    return logs, proc


def _diagnose(store: object, written: int, proc: ShipperProcess) -> None:
    """On failure: which seqs are missing, and what the registry says (printed for the test log)."""
    seqs = sorted(int(h.source["torture"]["seq"]) for h in store.search(""))  # type: ignore[attr-defined]
    missing = sorted(set(range(written)) - set(seqs))
    print(
        f"store has {len(seqs)} docs ({len(set(seqs))} distinct), missing {len(missing)}: {missing[:20]}..."
    )
    out = subprocess.run(
        [sys.executable, "-m", "shipper.cli", "status", "-c", str(proc.cfg)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        cwd=str(REPO),
    )
    print(out.stdout.decode())


def _check_store(store_config: StoreConfig, written: int, proc: ShipperProcess, timeout: float) -> None:
    store = open_store(store_config)
    try:

        def caught_up() -> bool:
            store.refresh()
            return store.count("") >= written

        try:
            wait_until(caught_up, timeout, f"{written} docs in the store")
        except AssertionError:
            _diagnose(store, written, proc)
            raise
        finally:
            code = proc.terminate()
        assert code == 0, "SIGTERM must flush and exit 0"
        store.refresh()
        ids: set[str] = set()
        seqs: list[int] = []
        for h in store.search(""):
            ids.add(h.id)
            seqs.append(int(h.source["torture"]["seq"]))
        assert len(seqs) == written, f"store holds {len(seqs)} docs for {written} written lines"
        assert len(ids) == written, "duplicate _id"
        assert sorted(seqs) == list(range(written)), "a line is missing or doubled"
    finally:
        store.close()
        proc.ensure_stopped()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_sigkill_and_rotations_on_sqlite_lose_and_double_nothing(tmp_path: Path) -> None:
    """5,000 lines/s for 30 s, a rotation (rename/copytruncate, compress+delaycompress) each second, 6 kills:
    SQLite holds every line exactly once (with a sender thread, the default)."""
    db = tmp_path / "store.db"
    cfg = _config(tmp_path, f"  sqlite:\n    path: {db}")
    logs, proc = _torture(tmp_path, cfg, seconds=30, rate=5000, kills=6)
    try:
        assert proc.kills >= 5
        assert logs.seq >= 5000 * 25, f"writer too slow: {logs.seq} lines"
        print(f"written={logs.seq} kills={proc.kills} files={sorted(p.name for p in logs.root.iterdir())}")
        _check_store(StoreConfig(sqlite=SqliteConfig(path=db)), logs.seq, proc, timeout=90)
    finally:
        proc.ensure_stopped()


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("processes", [0, 2])
def test_sigkill_rotations_and_store_faults_on_elasticsearch(
    tmp_path: Path, es_proxy: object, es_store_config: StoreConfig, processes: int
) -> None:
    """osmem behind the fault proxy: down for 10 s, 429s, partial bulk failures, rotations, SIGKILLs:
    every line stored exactly once (with inline delivery, workers: 0; and with build processes)."""
    from tests.rig.proxy import FaultProxy

    assert isinstance(es_proxy, FaultProxy)
    es = es_store_config.elasticsearch
    assert es is not None
    store_yaml = (
        f"  elasticsearch:\n    hosts: [{es_proxy.url}]\n    index: '{es.index}'\n"
        f"    template_name: {es.template_name}\n    state_index: {es.state_index}"
    )
    cfg = _config(tmp_path, store_yaml, workers=0, processes=processes)
    faults_done = threading.Event()

    def faults() -> None:
        time.sleep(1.0)  # a fault timeline, not a wait for a condition
        es_proxy.fail_requests(429, 3, "_bulk")
        es_proxy.fail_bulk_items(429, 40, "es_rejected_execution_exception")
        time.sleep(1.0)
        es_proxy.refuse_connections(True)
        time.sleep(10.0)
        es_proxy.refuse_connections(False)
        es_proxy.fail_bulk_items(503, 25, "unavailable_shards_exception")
        es_proxy.fail_requests(502, 2, "_bulk")
        faults_done.set()

    t = threading.Thread(target=faults, daemon=True)
    t.start()
    logs, proc = _torture(tmp_path, cfg, seconds=16, rate=300, kills=3)
    try:
        assert faults_done.wait(10)
        assert proc.kills >= 3
        _check_store(es_store_config, logs.seq, proc, timeout=90)
    finally:
        proc.ensure_stopped()
        es_proxy.reset()
