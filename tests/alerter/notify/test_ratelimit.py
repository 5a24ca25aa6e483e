"""Rate-limit stage: budget per channel from the message log, overflow as one digest, holds at zero."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from alerter.config import NotifyConfig
from alerter.notify.ratelimit import RateLimiter
from alerter.notify.state import MessageRecord
from alerter.notify.state.sqlite import SqliteNotifyState
from tests.alerter.notify.conftest import T0, notify_config


@dataclass
class Item:
    name: str
    sev: int = 2

    @property
    def rank(self) -> tuple[int, datetime]:
        return (self.sev, T0)


def _cfg() -> NotifyConfig:
    return notify_config(rate_limit={"count": 3, "per": "1m", "sample": 2})


def test_under_budget_everything_is_sent(sqlite_state: SqliteNotifyState) -> None:
    """With budget left for all messages, all are sent and nothing is digested."""
    plan = RateLimiter(_cfg(), sqlite_state).plan("oncall", [Item("a"), Item("b")], T0)
    assert [i.name for i in plan.send] == ["a", "b"] and not plan.digest and not plan.held


def test_overflow_becomes_one_digest_most_severe_first(sqlite_state: SqliteNotifyState) -> None:
    """Over budget, budget-1 messages go out (most severe first) and the rest form one digest."""
    items = [Item("w1"), Item("c1", sev=0), Item("w2"), Item("w3"), Item("w4")]
    plan = RateLimiter(_cfg(), sqlite_state).plan("oncall", items, T0)
    assert [i.name for i in plan.send] == ["c1", "w1"]
    assert [i.name for i in plan.digest] == ["w2", "w3", "w4"]


def test_budget_counts_messages_already_sent_in_the_window(sqlite_state: SqliteNotifyState) -> None:
    """Messages logged within the period use up budget; at zero the items wait until one ages out."""
    for i in range(3):
        sqlite_state.record_message(MessageRecord(f"m{i}", "oncall", "t", 1, T0 + timedelta(seconds=10 * i)))
    now = T0 + timedelta(seconds=30)
    plan = RateLimiter(_cfg(), sqlite_state).plan("oncall", [Item("a")], now)
    assert not plan.send and not plan.digest and [i.name for i in plan.held] == ["a"]
    assert plan.resume_at == T0 + timedelta(minutes=1)
    other = RateLimiter(_cfg(), sqlite_state).plan("chat", [Item("a")], now)
    assert [i.name for i in other.send] == ["a"]
