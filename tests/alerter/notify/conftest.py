"""Fixtures for notification tests: an injected clock, an event factory, a scripted sender (the only
fake, at the apprise seam), pipelines on SQLite state in a temp dir, and local webhook/SMTP receivers.
Elasticsearch state uses the rig's ``es_store`` (osmem behind the proxy)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerter.config import Channel, NotifyConfig
from alerter.events import AlertEvent
from alerter.notify import NotificationPipeline, build_notifier
from alerter.notify.send import SendResult
from alerter.notify.state import NotifyState
from alerter.notify.state.sqlite import SqliteNotifyState
from logstore.config import SqliteConfig, StoreConfig
from logwarden.config import Config

T0 = datetime(2026, 11, 22, 6, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def make_event(
    rule: str = "nginx-502-storm",
    state: str = "firing",
    group: dict[str, Any] | None = None,
    *,
    at: datetime = T0,
    started_at: datetime | None = None,
    severity: str = "critical",
    labels: dict[str, str] | None = None,
    channels: tuple[str, ...] = ("oncall",),
    value: float | None = 62,
    samples: tuple[dict[str, Any], ...] = (),
) -> AlertEvent:
    group = {"host.name": "web1"} if group is None else group
    fp = hashlib.sha256(f"{rule}{sorted(group.items())}".encode()).hexdigest()[:16]
    return AlertEvent(
        rule=rule,
        fingerprint=fp,
        state=state,  # type: ignore[arg-type]
        group=group,
        severity=severity,
        labels=labels or {"team": "web"},
        channels=channels,
        summary=f"{value} 502s on {group.get('host.name', 'all')} in 5m",
        value=value,
        threshold="> 50",
        window_start=at - timedelta(minutes=5),
        window_end=at,
        started_at=started_at or at,
        at=at,
        logq=f"logq 'service.name:nginx AND status:502' --since {at:%H:%M}",
        samples=samples,
    )


@dataclass
class Sent:
    channel: str
    title: str
    body: str
    kind: str


@dataclass
class ScriptedSender:
    """Records deliveries; ``fail`` channels answer failed until removed from the set."""

    sent: list[Sent] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)

    def send(self, channel: Channel, title: str, body: str, kind: str) -> SendResult:
        self.attempts.append(channel.name)
        if channel.name in self.fail:
            return SendResult(False, "scripted outage")
        self.sent.append(Sent(channel.name, title, body, kind))
        return SendResult(True)

    def to(self, channel: str) -> list[Sent]:
        return [s for s in self.sent if s.channel == channel]


def notify_config(**overrides: Any) -> NotifyConfig:
    base: dict[str, Any] = {
        "channels": [
            {"name": "oncall", "url": "json://127.0.0.1:9/oncall", "tags": ["pager"]},
            {"name": "chat", "url": "json://127.0.0.1:9/chat", "tags": ["ops"]},
        ],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
    }
    base.update(overrides)
    return NotifyConfig.model_validate(base)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sender() -> ScriptedSender:
    return ScriptedSender()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "logwarden.db"


@pytest.fixture
def sqlite_state(db_path: Path) -> Iterator[SqliteNotifyState]:
    s = SqliteNotifyState(db_path)
    try:
        yield s
    finally:
        s.close()


PipelineFactory = Callable[..., NotificationPipeline]


@pytest.fixture
def make_pipeline(db_path: Path, clock: Clock, sender: ScriptedSender) -> Iterator[PipelineFactory]:
    """Build pipelines on one SQLite file (a second call = a restart on the same DB)."""
    opened: list[NotifyState] = []

    def build(notify: NotifyConfig | None = None, owner: str = "a", **kw: Any) -> NotificationPipeline:
        config = Config(
            store=StoreConfig(sqlite=SqliteConfig(path=db_path)), notify=notify or notify_config()
        )
        state = SqliteNotifyState(db_path)
        opened.append(state)
        return build_notifier(
            config,
            None,
            clock=clock,
            sender=kw.pop("sender", sender),
            owner=owner,
            state=state,
            rng=random.Random(7),
        )

    yield build
    for s in opened:
        s.close()


@pytest.fixture
def webhook() -> Iterator[Any]:
    """A local HTTP webhook receiver on 127.0.0.1 (stopped after the test)."""
    from tests.alerter.notify.receivers import WebhookReceiver

    r = WebhookReceiver().start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def smtp() -> Iterator[Any]:
    """A local SMTP server (aiosmtpd) on 127.0.0.1 (stopped after the test)."""
    from tests.alerter.notify.receivers import SmtpReceiver

    r = SmtpReceiver().start()
    try:
        yield r
    finally:
        r.stop()
