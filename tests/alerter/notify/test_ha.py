"""High availability: two notifiers on one Elasticsearch state index (osmem) send each notification once,
and when one dies holding a claim, the other presumes it delivered (no FIRING twice; the RESOLVED follows)."""

from __future__ import annotations

import random
import threading
from datetime import timedelta
from typing import Any

import pytest

from alerter.config import Channel
from alerter.notify import AppriseSender, NotificationPipeline, build_notifier
from alerter.notify.send import SendResult
from alerter.notify.state.elastic import ElasticNotifyState
from logstore.config import StoreConfig
from logwarden.config import Config
from tests.alerter.notify.conftest import T0, Clock, make_event, notify_config
from tests.alerter.notify.receivers import WebhookReceiver


class Died(BaseException):
    """Stands for a process killed between claiming a slot and delivering it."""


class DyingSender:
    def send(self, channel: Channel, title: str, body: str, kind: str) -> SendResult:
        raise Died


def _pipeline(store: Any, config: StoreConfig, url: str, owner: str, clock: Clock, sender: Any = None) -> Any:
    assert config.elasticsearch is not None
    cfg = Config(store=config, notify=notify_config(channels=[{"name": "oncall", "url": url}]))
    state = ElasticNotifyState(store.client, config.elasticsearch.state_index)
    return build_notifier(
        cfg,
        store,
        clock=clock,
        sender=sender or AppriseSender(),
        owner=owner,
        state=state,
        rng=random.Random(owner),
    )


def _tick_all(ps: list[NotificationPipeline], clock: Clock, seconds: float, step: float = 1.0) -> None:
    end = clock.now + timedelta(seconds=seconds)
    while clock.now < end:
        clock.advance(step)
        for p in ps:
            p.tick(clock.now)


def test_two_alerters_send_each_notification_once(
    es_store: Any, es_store_config: StoreConfig, webhook: WebhookReceiver, clock: Clock
) -> None:
    """Both replicas see the same firing and resolved events; the webhook gets one of each."""
    url = f"json://{webhook.url}/hook"
    a = _pipeline(es_store, es_store_config, url, "A", clock)
    b = _pipeline(es_store, es_store_config, url, "B", clock)
    events = [make_event(group={"host.name": "web1"}), make_event(group={"host.name": "web2"})]
    for p in (a, b):
        p.submit(events, T0)
    _tick_all([a, b], clock, 60)
    assert len(webhook.delivered) == 1
    resolved = [make_event(group={"host.name": "web1"}, state="resolved", at=clock.now, started_at=T0)]
    for p in (a, b):
        p.submit(resolved, clock.now)
    _tick_all([a, b], clock, 900, step=5)
    titles = [d.json()["title"] for d in webhook.delivered]
    assert titles == [
        "[CRITICAL] FIRING:2 nginx-502-storm",
        "[CRITICAL] RESOLVED nginx-502-storm host.name=web1",
    ]


class DeliversThenDies:
    """Stands for a process killed after delivering a message and before recording it (kill -9)."""

    def send(self, channel: Channel, title: str, body: str, kind: str) -> SendResult:
        result = AppriseSender().send(channel, title, body, kind)
        assert result.ok
        raise Died


def _a_delivers_then_dies(es_store: Any, config: StoreConfig, webhook: WebhookReceiver, clock: Clock) -> Any:
    """Replicas A and B get one firing alert; at t=30s A delivers it and dies unrecorded. B is returned."""
    url = f"json://{webhook.url}/hook"
    a = _pipeline(es_store, config, url, "A", clock, sender=DeliversThenDies())
    b = _pipeline(es_store, config, url, "B", clock)
    for p in (a, b):
        p.submit([make_event()], T0)
    clock.advance(30)
    with pytest.raises(Died):
        a.tick(clock.now)
    return b


def test_dead_replicas_claim_is_presumed_delivered_no_firing_twice(
    es_store: Any, es_store_config: StoreConfig, webhook: WebhookReceiver, clock: Clock
) -> None:
    """A delivers FIRING and dies before recording it; after A's lease B does not send FIRING again."""
    b = _a_delivers_then_dies(es_store, es_store_config, webhook, clock)
    assert len(webhook.delivered) == 1
    _tick_all([b], clock, 900, step=5)  # well past the 2m lease, inside the 4h repeat_interval
    assert len(webhook.delivered) == 1


def test_resolved_after_a_dead_replicas_delivery_is_still_sent(
    es_store: Any, es_store_config: StoreConfig, webhook: WebhookReceiver, clock: Clock
) -> None:
    """A delivers FIRING and dies; the alert resolves inside A's lease: B sends the RESOLVED."""
    b = _a_delivers_then_dies(es_store, es_store_config, webhook, clock)
    clock.advance(20)
    b.submit([make_event(state="resolved", at=clock.now, started_at=T0)], clock.now)
    _tick_all([b], clock, 600, step=5)
    titles = [d.json()["title"] for d in webhook.delivered]
    assert titles == [
        "[CRITICAL] FIRING nginx-502-storm host.name=web1",
        "[CRITICAL] RESOLVED nginx-502-storm host.name=web1",
    ]


def test_state_store_outage_delays_but_never_loses_or_doubles(
    es_store: Any, es_store_config: StoreConfig, es_proxy: Any, webhook: WebhookReceiver, clock: Clock
) -> None:
    """Elasticsearch refusing connections at flush time: no crash, retries; after it returns, one delivery."""
    p = _pipeline(es_store, es_store_config, f"json://{webhook.url}/hook", "A", clock)
    p.submit([make_event()], T0)
    es_proxy.refuse_connections(True)
    try:
        _tick_all([p], clock, 90)
        assert webhook.delivered == [] and p.pending()[0].attempts >= 2
    finally:
        es_proxy.refuse_connections(False)
    _tick_all([p], clock, 600, step=2)
    assert len(webhook.delivered) == 1


@pytest.mark.parametrize("backend", ["sqlite", "elasticsearch", "server"])
def test_racing_replicas_deliver_every_alert_exactly_once(
    request: pytest.FixtureRequest, tmp_path: Any, webhook: WebhookReceiver, backend: str
) -> None:
    """Two replicas flushing 30 groups at the same instants, in parallel threads: each alert lands once."""
    from alerter.notify.state import NotifyState
    from alerter.notify.state.sqlite import SqliteNotifyState
    from logstore import get_backend, open_store

    states: list[NotifyState]
    stores: list[Any] = []
    if backend == "sqlite":
        store_config = StoreConfig.model_validate({"sqlite": {"path": str(tmp_path / "lw.db")}})
        states = [SqliteNotifyState(tmp_path / "lw.db"), SqliteNotifyState(tmp_path / "lw.db")]
    elif backend == "server":
        # Two alerters on two hosts, each with its own connection to one logwarden server.
        store_config = request.getfixturevalue("server_store_config")
        stores = [open_store(store_config), open_store(store_config)]
        open_state = get_backend(store_config.backend).open_notify_state
        states = [open_state(s, store_config.settings) for s in stores]
    else:
        store = request.getfixturevalue("es_store")
        store_config = request.getfixturevalue("es_store_config")
        index = store_config.elasticsearch.state_index
        states = [ElasticNotifyState(store.client, index), ElasticNotifyState(store.client, index)]
    notify = notify_config(
        channels=[{"name": "oncall", "url": f"json://{webhook.url}/hook"}],
        group_by=["..."],
        rate_limit={"count": 1000, "per": "1m"},
    )
    config = Config(store=store_config, notify=notify)
    ps = [
        build_notifier(config, None, sender=AppriseSender(), owner=o, state=s, rng=random.Random(o))
        for o, s in zip("AB", states, strict=True)
    ]
    events = [make_event(group={"host.name": f"web{i:02d}"}) for i in range(30)]
    for p in ps:
        p.submit(events, T0)
    barrier = threading.Barrier(2)

    def loop(p: NotificationPipeline) -> None:
        for step in range(1, 200):
            barrier.wait(timeout=30)
            p.tick(T0 + timedelta(seconds=step))

    threads = [threading.Thread(target=loop, args=(p,)) for p in ps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    hosts = sorted(d.json()["title"].split("host.name=")[1] for d in webhook.delivered)
    assert hosts == [f"web{i:02d}" for i in range(30)]
    for s in states:
        s.close()
    for store in stores:
        store.close()
