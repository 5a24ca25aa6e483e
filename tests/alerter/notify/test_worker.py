"""Delivery runs off the scheduler: a hanging channel never delays rule evaluation."""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from alerter.notify.worker import DeliveryWorker
from tests.alerter.helpers import start_alerter_run, write_error
from tests.alerter.notify.conftest import Clock, PipelineFactory, ScriptedSender, make_event, notify_config
from tests.alerter.notify.receivers import wait_until

REPO = Path(__file__).parents[3]


class _Hang:
    """A webhook that holds every request until released (at most ``seconds``)."""

    def __init__(self, seconds: float) -> None:
        self.release = threading.Event()
        self.requests = 0
        hang = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hang.requests += 1
                hang.release.wait(seconds)
                self.send_response(200)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def hanging() -> Iterator[_Hang]:
    h = _Hang(30)
    try:
        yield h
    finally:
        h.stop()


def _evaluations(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(float(v) for v in re.findall(r'^alerter_evaluations_total\{result="\w+"\} (\S+)$', text, re.M))


def test_rules_keep_their_schedule_while_a_channel_hangs_for_30s(tmp_path: Path, hanging: _Hang) -> None:
    """alerter run: while the only channel holds its request for 30 s, the every-1s rule still evaluates."""

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "name: any-error\nquery: 'log.level:error'\nevery: 1s\nwindow: 1h\nnotify: [hook]\n"
        "condition: {count: {gt: 0}}\n"
    )
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(
        f"store:\n  sqlite: {{path: {tmp_path / 'db.sqlite'}}}\n"
        f"alerter:\n  rules: [{rules}]\n  metrics: {{host: 127.0.0.1, port: 0}}\n"
        "notify:\n  group_wait: 0s\n  channels:\n"
        f"    - {{name: hook, url: 'json://127.0.0.1:{hanging.port}/hook', timeout: 30s}}\n"
    )
    write_error(cfg, 0)
    proc, port = start_alerter_run(cfg)
    try:
        wait_until(lambda: hanging.requests >= 1, 20, "the notification to reach the hanging channel")
        before = _evaluations(port)
        time.sleep(4)  # the channel is still hanging: it holds requests for 30 s
        after = _evaluations(port)
        assert not hanging.release.is_set()
        assert after - before >= 3, f"only {after - before} evaluations in 4 s while the channel hung"
    finally:
        proc.kill()
        proc.wait()


def test_flush_hands_queued_events_over_and_sends_them(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """submit returns at once; flush waits until the queued event is delivered; close stops the thread."""
    worker = DeliveryWorker(make_pipeline(notify_config(group_wait="0s")), clock=clock)
    try:
        worker.submit([make_event()], clock())
        worker.flush(clock())
        assert [s.channel for s in sender.sent] == ["oncall"]
    finally:
        worker.close(timeout=5)
    assert not worker._thread.is_alive()


def test_close_persists_queued_events_as_pending_groups(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """Events still queued at close are handed to the pipeline, so a restart finds them pending."""
    worker = DeliveryWorker(make_pipeline(), clock=clock)
    worker.submit([make_event()], clock())
    worker.close(timeout=5)
    assert sender.sent == []
    restarted = make_pipeline()
    assert [g.channel for g in restarted.pending()] == ["oncall"]
