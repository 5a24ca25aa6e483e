"""Timeline helpers for alerter tests: docs at relative times, rules from YAML text, a fixed t=0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from alerter.config import AlerterConfig
from alerter.engine import Engine
from alerter.events import AlertEvent
from alerter.rules.model import Rule
from alerter.state import open_state
from logstore.config import StoreConfig
from logstore.protocol import Store
from logstore.types import Doc, datetime_to_ms, format_ts
from logwarden.config import Config

# A round epoch minute, so every-30s ticks land on whole offsets from it.
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rule(text: str) -> Rule:
    return Rule.model_validate(yaml.safe_load(text))


def events(store: Store, start_s: float, count: int, every_s: float, prefix: str, **fields: Any) -> None:
    """Write ``count`` docs from t=start_s, one every ``every_s`` seconds; ids unique per prefix."""
    docs = []
    for i in range(count):
        ms = datetime_to_ms(at(start_s + i * every_s))
        source: dict[str, Any] = {"@timestamp": format_ts(ms), "message": fields.pop("message", "x")}
        source.update(fields)
        docs.append(Doc(id=f"{prefix}-{i}", ts=ms, source=source))
    results = store.write(docs)
    assert all(r.outcome.delivered for r in results), results[:3]
    store.refresh()


class Recorder:
    """A notifier at the seam: remembers what the engine announced."""

    def __init__(self) -> None:
        self.events: list[AlertEvent] = []
        self.ticks = 0

    def submit(self, events: list[AlertEvent] | Any, now: datetime) -> None:
        self.events.extend(events)

    def tick(self, now: datetime) -> None:
        self.ticks += 1

    def states(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(e.rule, e.state, e.group) for e in self.events]


def engine_for(store_config: StoreConfig, store: Store, notifier: Recorder, **alerter: Any) -> Engine:
    config = Config(store=store_config, alerter=AlerterConfig.model_validate(alerter))
    return Engine(
        store, notifier, open_state(config, store), config.alerter, config_path="/etc/logwarden.yaml"
    )


def write_yaml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def hook_config(tmp_path: Path, url: str, notify: str = "", alerter: str = "") -> Path:
    """logwarden.yaml on a SQLite store with one rule, any-error (every 1s over 1h), notifying the
    channel ``hook`` at ``url``; ``notify``/``alerter`` add indented lines to those sections."""
    rules = write_yaml(
        tmp_path / "rules" / "errors.yaml",
        "name: any-error\nquery: 'log.level:error'\nevery: 1s\nwindow: 1h\nnotify: [hook]\n"
        "condition: {count: {gt: 0}}\n",
    )
    return write_yaml(
        tmp_path / "logwarden.yaml",
        f"store:\n  sqlite: {{path: {tmp_path / 'db.sqlite'}}}\n"
        f"alerter:\n  rules: [{rules.parent}]\n{alerter}"
        f"notify:\n{notify}  channels:\n    - {{name: hook, url: '{url}'}}\n",
    )


def start_alerter_run(cfg: Path) -> tuple[subprocess.Popen[str], int]:
    """``alerter run -c cfg`` as a real process, and the HTTP port its startup line announces.
    The caller kills it (in a finally)."""
    repo = Path(__file__).parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "alerter.cli", "run", "-c", str(cfg)],
        cwd=repo,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if "serving /healthz" in line:
            return proc, int(json.loads(line)["port"])
    proc.kill()
    proc.wait()
    raise AssertionError("no /healthz line in the log")


def write_error(db_config: Path, seconds_ago: float) -> None:
    """One `log.level: error` line, ``seconds_ago`` old, into the store ``db_config`` names."""
    from logstore import open_store
    from logwarden.config import load_config

    store = open_store(load_config(db_config, env={}).store)
    ms = datetime_to_ms(datetime.now(UTC)) - int(seconds_ago * 1000)
    source = {"@timestamp": format_ts(ms), "message": "boom", "log": {"level": "error"}}
    store.write([Doc(id="e1", ts=ms, source=source)])
    store.close()
