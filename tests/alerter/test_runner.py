"""The loop: a slow rule never blocks others, overlapping runs are skipped, broken edits keep the old rule."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from alerter.engine import Engine
from alerter.runner import RuleSet, Runner
from alerter.state import MemoryStateStore, RuleMeta
from logstore.config import SqliteConfig, StoreConfig
from logstore.protocol import Store
from logstore.types import AggRequest, AggResult
from logwarden.config import Config
from tests.alerter.helpers import Recorder, at, write_yaml


def wait_until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.01)


class GatedStore:
    """Delegates to the real store; aggregate calls for the 'slow' query wait for a gate to open."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.name = inner.name
        self.gate = threading.Event()

    def aggregate(self, requests: Sequence[AggRequest]) -> list[AggResult]:
        if any("slow" in r.query for r in requests):
            self.gate.wait(20)
        return self.inner.aggregate(requests)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _setup(tmp_path: Path) -> tuple[Config, RuleSet]:
    write_yaml(
        tmp_path / "rules" / "slow.yaml",
        "name: slow\nquery: 'service.name:slow'\nevery: 1m\ncondition: {count: {gt: 0}}\n",
    )
    write_yaml(
        tmp_path / "rules" / "fast.yaml",
        "name: fast\nquery: 'service.name:fast'\nevery: 1m\ncondition: {count: {gt: 0}}\n",
    )
    config = Config(store=StoreConfig(sqlite=SqliteConfig(path=tmp_path / "db.sqlite")))
    config.alerter.rules = [str(tmp_path / "rules")]
    return config, RuleSet(config)


def test_slow_rule_runs_alone_and_its_overlapping_tick_is_skipped(tmp_path: Path) -> None:
    """While 'slow' hangs, 'fast' evaluates on two ticks; slow's second tick is skipped and counted."""
    from logstore import open_store

    config, ruleset = _setup(tmp_path)
    inner = open_store(config.store)
    store = GatedStore(inner)
    clock = Clock(at(0))
    eng = Engine(store, Recorder(), MemoryStateStore(), config.alerter)  # type: ignore[arg-type]
    eng.metas["slow"] = RuleMeta("slow", last_duration=60.0)  # known slow: gets a batch of its own
    runner = Runner(eng, ruleset, clock=clock)
    try:
        runner.reload(at(0), force=True)
        clock.now = at(60)
        runner.dispatch(at(60))
        wait_until(lambda: eng.metas.get("fast") is not None and eng.metas["fast"].last_eval == at(60))
        assert "slow" in runner.running
        clock.now = at(120)
        runner.dispatch(at(120))
        wait_until(lambda: eng.metas["fast"].last_eval == at(120))
        assert eng.metas["slow"].skipped == 1
        store.gate.set()
        wait_until(lambda: not runner.running)
        assert eng.metas["slow"].last_eval == at(60)  # the run that hung, finished; no second run
    finally:
        store.gate.set()
        runner.pool.shutdown(wait=True)
        inner.close()


def test_broken_edit_keeps_the_previous_rule(tmp_path: Path) -> None:
    """A rule file edited into invalid YAML keeps the old version and reports; fixing it loads the new one."""
    _, ruleset = _setup(tmp_path)
    assert ruleset.reload()
    fast = tmp_path / "rules" / "fast.yaml"
    fast.write_text("name: fast\nevery: 1m\ncondition: {count: {gt: nope}}\n")
    os.utime(fast, (time.time() + 5, time.time() + 5))
    assert ruleset.reload() is False
    assert sorted(r.name for r in ruleset.rules()) == ["fast", "slow"]
    assert "condition.count.gt" in ruleset.errors[fast][0]
    fast.write_text("name: fast\nevery: 2m\ncondition: {count: {gt: 1}}\n")
    os.utime(fast, (time.time() + 10, time.time() + 10))
    assert ruleset.reload() is True
    assert fast not in ruleset.errors
    assert {r.name: r.every for r in ruleset.rules()}["fast"].total_seconds() == 120


def test_batches_keep_rules_over_one_query_together() -> None:
    """Rules sharing query and grouping land in the same batch, so their requests can be merged."""
    from alerter.runner import chunk
    from tests.alerter.helpers import rule

    rules = [
        rule(f"name: r{i}\nquery: 'service.name:s{i % 2}'\nevery: 1m\ncondition: {{count: {{gt: {i}}}}}")
        for i in range(6)
    ]
    batches = chunk([(r, at(60)) for r in rules], 3)
    assert [sorted(r.query for r, _ in b) for b in batches] == [
        ["service.name:s0"] * 3,
        ["service.name:s1"] * 3,
    ]


class _ReadOnlyState(MemoryStateStore):
    def save(self, instances: Sequence[Any], metas: Sequence[RuleMeta]) -> None:
        raise OSError("attempt to write a readonly database")


def test_live_is_the_loop_turning_and_ready_is_store_and_state(tmp_path: Path, monkeypatch: Any) -> None:
    """live: ok while run() turns, not ok once it stopped turning; ready: not ok while state cannot
    be saved, whatever the channels do."""
    import alerter.runner as runner_module
    from logstore import open_store

    config, ruleset = _setup(tmp_path)
    store = open_store(config.store)
    eng = Engine(store, Recorder(), _ReadOnlyState(), config.alerter)
    runner = Runner(eng, ruleset)
    thread = threading.Thread(target=runner.run, daemon=True)
    try:
        assert runner.live().ok and runner.ready().ok
        thread.start()
        wait_until(lambda: runner.live().detail == "scheduler loop alive")
        with contextlib.suppress(OSError):  # the evaluation itself reports it in the log
            eng.evaluate([(ruleset.rules()[0], at(0))], at(0))
        ready = runner.ready()
        assert not ready.ok and "alert state not writable: OSError" in ready.detail
        assert runner.live().ok, "a state outage is not a liveness failure"
        runner.stop()
        thread.join(timeout=10)
        monkeypatch.setattr(runner_module, "LOOP_STALLED_AFTER", 0.0)
        assert not runner.live().ok and "has not turned" in runner.live().detail
    finally:
        runner.stop()
        thread.join(timeout=10)
        store.close()
