"""Schedules: `every` on epoch multiples, cron in its time zone, windows end at tick minus delay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerter.schedule import last_tick, next_tick, window_for
from tests.alerter.helpers import rule


def test_every_ticks_on_epoch_multiples() -> None:
    """every: 30s ticks at :00 and :30 whatever the start time, strictly after `after`."""
    r = rule("name: r\nevery: 30s\ncondition: {count: {gt: 1}}")
    t = datetime(2026, 3, 1, 12, 0, 7, tzinfo=UTC)
    assert next_tick(r, t) == datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
    assert next_tick(r, datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)) == datetime(
        2026, 3, 1, 12, 1, tzinfo=UTC
    )
    assert last_tick(r, t) == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_cron_uses_its_time_zone() -> None:
    """cron '0 9 * * *' with tz Europe/Berlin ticks at 08:00 UTC in winter."""
    r = rule("name: r\ncron: '0 9 * * *'\ntz: Europe/Berlin\ncondition: {count: {gt: 1}}")
    got = next_tick(r, datetime(2026, 1, 10, 0, 0, tzinfo=UTC))
    assert got == datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
    assert got.tzinfo is not None


def test_window_ends_at_tick_minus_delay() -> None:
    """A tick's window is [tick - delay - window, tick - delay)."""
    r = rule("name: r\nevery: 1m\nwindow: 5m\ndelay: 15s\ncondition: {count: {gt: 1}}")
    tick = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    w = window_for(r, tick)
    assert w.end == tick - timedelta(seconds=15)
    assert w.start == w.end - timedelta(minutes=5)
