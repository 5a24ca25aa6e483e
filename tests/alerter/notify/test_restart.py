"""Restart in every pipeline state, on both backends: a new notifier on the same state neither
re-notifies nor loses what was pending (group_wait, sent, retrying, silenced, resolved)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from alerter.notify import NotificationPipeline, build_notifier
from alerter.notify.state import NotifyState, Silence
from alerter.notify.state.elastic import ElasticNotifyState
from alerter.notify.state.sqlite import SqliteNotifyState
from logstore.config import SqliteConfig, StoreConfig
from logwarden.config import Config
from tests.alerter.notify.conftest import T0, Clock, ScriptedSender, make_event, notify_config
from tests.alerter.notify.test_pipeline import run

Factory = Callable[[], NotificationPipeline]


@pytest.fixture(params=["sqlite", "elasticsearch"])
def restartable(
    request: pytest.FixtureRequest, tmp_path: Path, clock: Clock, sender: ScriptedSender
) -> Iterator[tuple[Factory, Callable[[], NotifyState]]]:
    """A pipeline factory (each call = a fresh process on the same state) and a state opener."""
    opened: list[NotifyState] = []
    if request.param == "sqlite":
        store_config = StoreConfig(sqlite=SqliteConfig(path=tmp_path / "lw.db"))

        def open_state() -> NotifyState:
            s = SqliteNotifyState(tmp_path / "lw.db")
            opened.append(s)
            return s
    else:
        store: Any = request.getfixturevalue("es_store")
        store_config = request.getfixturevalue("es_store_config")
        assert store_config.elasticsearch is not None
        index = store_config.elasticsearch.state_index

        def open_state() -> NotifyState:
            return ElasticNotifyState(store.client, index)

    config = Config(store=store_config, notify=notify_config())

    def build() -> NotificationPipeline:
        return build_notifier(
            config, None, clock=clock, sender=sender, owner="a", state=open_state(), rng=random.Random(3)
        )

    yield build, open_state
    for s in opened:
        s.close()


def test_restart_in_group_wait(restartable: Any, clock: Clock, sender: ScriptedSender) -> None:
    """Restarted during group_wait: the group goes out on time, once."""
    build, _ = restartable
    build().submit([make_event()], T0)
    p = build()
    run(p, clock, 29)
    assert sender.sent == []
    run(p, clock, 600, step=5)
    assert len(sender.sent) == 1


def test_restart_after_firing_sent(restartable: Any, clock: Clock, sender: ScriptedSender) -> None:
    """Restarted after the firing message: no repeat before repeat_interval; resolved still arrives."""
    build, _ = restartable
    p = build()
    p.submit([make_event()], T0)
    run(p, clock, 60)
    p = build()
    run(p, clock, 1200, step=10)
    assert len(sender.sent) == 1
    p.submit([make_event(state="resolved", at=clock.now, started_at=T0)], clock.now)
    p = build()
    run(p, clock, 600, step=5)
    assert [s.title.split()[1] for s in sender.sent] == ["FIRING", "RESOLVED"]
    assert build().pending() == []


def test_restart_while_retrying(restartable: Any, clock: Clock, sender: ScriptedSender) -> None:
    """Restarted in the middle of an outage: retries resume, exactly one delivery after recovery."""
    build, _ = restartable
    sender.fail.add("oncall")
    p = build()
    p.submit([make_event()], T0)
    run(p, clock, 60)
    assert build().pending()[0].attempts >= 2
    sender.fail.clear()
    p = build()
    run(p, clock, 600, step=2)
    assert len(sender.to("oncall")) == 1


def test_restart_while_silenced(restartable: Any, clock: Clock, sender: ScriptedSender) -> None:
    """Restarted while an alert is silenced: still quiet until the silence ends, then sent once."""
    build, open_state = restartable
    open_state().add_silence(Silence("s", "*", {}, T0, T0 + timedelta(minutes=10), "c", "me", T0))
    p = build()
    p.submit([make_event()], T0)
    run(p, clock, 120)
    p = build()
    run(p, clock, 470)
    assert sender.sent == []
    run(p, clock, 600, step=5)
    assert len(sender.sent) == 1
