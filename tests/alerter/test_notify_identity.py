"""A notification's identity is the same on every backend and replica: repeats repeat, replicas agree."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from alerter.engine import Engine
from alerter.notify import build_notifier
from alerter.state import MemoryStateStore
from logstore import open_store
from logstore.config import StoreConfig
from logwarden.config import Config
from tests.alerter.helpers import at, events, rule
from tests.alerter.notify.conftest import Clock, ScriptedSender, notify_config

# Evaluation runs a little after its tick, at a time with microseconds (Elasticsearch keeps ms).
LATE = timedelta(microseconds=123_456)

RULE = "name: errs\nquery: 'log.level:error'\nevery: 30s\nwindow: 1m\ndelay: 0s\nnotify: [oncall]\n"
RULE += "condition: {count: {gt: 0}}\n"


def _notify() -> Any:
    return notify_config(group_wait="0s", group_interval="10s", repeat_interval="1m")


def _replay(store: Any, config: StoreConfig, seconds: int, skews: tuple[timedelta, ...]) -> ScriptedSender:
    """One engine + pipeline per skew on one state; every second each ticks (evaluating on every 30th,
    ``skew`` + LATE after the scheduled tick); what the webhook channel was sent."""
    r = rule(RULE)
    clock = Clock(at(0))
    sender = ScriptedSender()
    cfg = Config(store=config, notify=_notify())
    replicas = []
    for i, skew in enumerate(skews):
        p = build_notifier(cfg, store, clock=clock, sender=sender, owner=f"r{i}", rng=random.Random(1))
        e = Engine(store, p, MemoryStateStore(), write_alert_docs=False)
        e.set_rules([r])
        replicas.append((e, p, skew))
    for t in range(seconds):
        for e, p, skew in replicas:
            clock.now = at(t) + skew + LATE
            if t % 30 == 0:
                e.evaluate([(r, at(t))], clock.now)
            p.tick(clock.now)
    return sender


def test_one_alerter_repeats_every_repeat_interval_on_each_backend(store_config: StoreConfig) -> None:
    """Firing for 3 minutes with repeat_interval 1m: the FIRING message, then 2 repeats (both backends)."""
    store = open_store(store_config)
    try:
        events(store, -60, 240, 1, "e", **{"log": {"level": "error"}})
        sender = _replay(store, store_config, 179, (timedelta(0),))
        assert len(sender.to("oncall")) == 3, [s.title for s in sender.sent]
    finally:
        store.close()


def test_two_replicas_evaluating_one_tick_send_one_notification(store_config: StoreConfig) -> None:
    """Two engines on one state, evaluating the same ticks milliseconds apart: one FIRING in all."""
    store = open_store(store_config)
    try:
        events(store, -60, 120, 1, "e", **{"log": {"level": "error"}})
        sender = _replay(store, store_config, 50, (timedelta(milliseconds=1), timedelta(milliseconds=3)))
        assert len(sender.to("oncall")) == 1, [s.title for s in sender.sent]
    finally:
        store.close()


def test_a_repeat_carries_the_latest_evaluation(store_config: StoreConfig) -> None:
    """Fired at t=0 on 5 lines; by the repeat at t=60 the window holds 35: the repeat says 35 (its window)."""
    store = open_store(store_config)
    try:
        events(store, -50, 5, 10, "a", **{"log": {"level": "error"}})
        events(store, 20, 35, 1, "b", **{"log": {"level": "error"}})
        first, repeat = _replay(store, store_config, 75, (timedelta(0),)).to("oncall")
        assert "value: 5 " in first.body, first.body
        assert "value: 35 " in repeat.body, repeat.body
        assert "--from 2026-03-01T12:00:00" in repeat.body and "--to 2026-03-01T12:01:00" in repeat.body
    finally:
        store.close()
