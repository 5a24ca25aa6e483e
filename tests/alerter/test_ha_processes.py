"""Two real `alerter run` processes on one Elasticsearch state send each notification once, kill -9 too."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from logstore.config import StoreConfig
from logstore.types import Doc, datetime_to_ms, format_ts
from tests.alerter.helpers import start_alerter_run, write_yaml
from tests.alerter.notify.receivers import WebhookReceiver

REPEAT_S = 8


def _drain(proc: subprocess.Popen[str]) -> None:
    # The test reads only the startup line; the rest must not fill the pipe and block the process.
    assert proc.stderr is not None
    threading.Thread(target=proc.stderr.read, daemon=True).start()


def _start(cfg: Path) -> subprocess.Popen[str]:
    proc, _ = start_alerter_run(cfg)
    _drain(proc)
    return proc


def _firing_docs(es_store: Any, seconds: int) -> None:
    now = datetime_to_ms(datetime.now(UTC))
    docs = []
    for i in range(seconds):
        ms = now - 30_000 + i * 1000
        src = {"@timestamp": format_ts(ms), "message": "upstream failed", "service": {"name": "web"}}
        docs.append(Doc(id=f"e{i}", ts=ms, source=src))
    assert all(r.outcome.delivered for r in es_store.write(docs))
    es_store.refresh()


def test_two_replicas_deliver_each_notification_once_through_a_kill_9(
    tmp_path: Path, es_store: Any, es_store_config: StoreConfig
) -> None:
    """A rule fires for ~40 s with repeat_interval 8s; replica B is killed -9 and restarted midway: the
    webhook gets the FIRING and its repeats, never two inside repeat_interval, and at least one repeat."""
    es = es_store_config.elasticsearch
    assert es is not None
    _firing_docs(es_store, 90)
    hook = WebhookReceiver().start()
    rules = write_yaml(
        tmp_path / "rules" / "r.yaml",
        "name: upstream-errors\nquery: 'service.name:web'\nevery: 2s\nwindow: 2m\nnotify: [hook]\n"
        "condition: {count: {gt: 0}}\n",
    )
    cfg = write_yaml(
        tmp_path / "logwarden.yaml",
        f"store:\n  elasticsearch:\n    hosts: [{es.hosts[0]}]\n    index: '{es.index}'\n"
        f"    template_name: {es.template_name}\n    state_index: {es.state_index}\n"
        f"alerter:\n  rules: [{rules.parent}]\n  metrics: {{host: 127.0.0.1, port: 0}}\n"
        f"notify:\n  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: {REPEAT_S}s\n"
        "  claim_lease: 5s\n"
        f"  channels:\n    - {{name: hook, url: 'json://{hook.url}/hook'}}\n",
    )
    procs: list[subprocess.Popen[str]] = []
    arrivals: list[float] = []
    seen = 0
    try:
        a, b = _start(cfg), _start(cfg)
        procs += [a, b]
        started = time.monotonic()
        while time.monotonic() - started < 40:
            if len(hook.delivered) > seen:
                arrivals += [time.monotonic()] * (len(hook.delivered) - seen)
                seen = len(hook.delivered)
            if b.poll() is None and time.monotonic() - started > 14:
                os.kill(b.pid, signal.SIGKILL)
                b.wait()
                procs.append(_start(cfg))
            time.sleep(0.05)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        hook.stop()
    titles = {d.json()["title"] for d in hook.delivered}
    assert titles == {"[WARNING] FIRING upstream-errors"}, titles
    assert len(arrivals) >= 2, "no repeat in 40 s"
    gaps = [round(y - x, 1) for x, y in pairwise(arrivals)]
    assert all(g >= REPEAT_S - 1.5 for g in gaps), f"two messages inside repeat_interval: gaps {gaps}"
