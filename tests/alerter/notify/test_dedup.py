"""Dedup stage against the notification log (real SQLite): repeat_interval and send_resolved."""

from __future__ import annotations

from datetime import timedelta

from alerter.notify.dedup import DedupStage
from alerter.notify.state.sqlite import SqliteNotifyState
from tests.alerter.notify.conftest import T0, make_event, notify_config


def test_first_firing_is_sent_then_skipped_until_repeat_interval(sqlite_state: SqliteNotifyState) -> None:
    """A firing alert is due once, then again only after repeat_interval, with a new slot."""
    stage = DedupStage(notify_config(), sqlite_state)
    e = make_event()
    d = stage.decide("oncall", e, T0)
    assert d.action == "send" and d.slot is not None and d.slot.repeat == 0
    sqlite_state.mark_sent([d.slot], "a", T0)
    assert stage.decide("oncall", e, T0 + timedelta(hours=1)).action == "skip"
    again = stage.decide("oncall", e, T0 + timedelta(hours=4, seconds=1))
    assert again.action == "send" and again.slot is not None and again.slot.repeat == 1
    assert again.slot.id != d.slot.id


def test_dedup_is_per_channel(sqlite_state: SqliteNotifyState) -> None:
    """A notification sent on one channel does not count for another channel."""
    stage = DedupStage(notify_config(), sqlite_state)
    d = stage.decide("oncall", make_event(), T0)
    assert d.slot is not None
    sqlite_state.mark_sent([d.slot], "a", T0)
    assert stage.decide("chat", make_event(), T0).action == "send"


def test_resolved_is_sent_once_after_a_notified_firing(sqlite_state: SqliteNotifyState) -> None:
    """Resolved goes out once if firing was notified; a repeat of it is dropped."""
    stage = DedupStage(notify_config(), sqlite_state)
    fire = stage.decide("oncall", make_event(), T0)
    assert fire.slot is not None
    sqlite_state.mark_sent([fire.slot], "a", T0)
    resolved = make_event(state="resolved", at=T0 + timedelta(minutes=10), started_at=T0)
    d = stage.decide("oncall", resolved, T0 + timedelta(minutes=10))
    assert d.action == "send" and d.slot is not None
    sqlite_state.mark_sent([d.slot], "a", T0 + timedelta(minutes=10))
    assert stage.decide("oncall", resolved, T0 + timedelta(minutes=11)).action == "drop"


def test_resolved_without_notified_firing_is_dropped(sqlite_state: SqliteNotifyState) -> None:
    """A resolved alert whose firing was never notified needs no message."""
    stage = DedupStage(notify_config(), sqlite_state)
    d = stage.decide("oncall", make_event(state="resolved"), T0)
    assert d.action == "drop" and d.reason == "resolved_unsent"


def test_send_resolved_false_drops_resolved(sqlite_state: SqliteNotifyState) -> None:
    """With send_resolved false, resolved alerts are never sent."""
    stage = DedupStage(notify_config(send_resolved=False), sqlite_state)
    fire = stage.decide("oncall", make_event(), T0)
    assert fire.slot is not None
    sqlite_state.mark_sent([fire.slot], "a", T0)
    assert stage.decide("oncall", make_event(state="resolved"), T0).action == "drop"


def test_new_instance_after_resolution_is_sent_again(sqlite_state: SqliteNotifyState) -> None:
    """Firing again later (a new started_at) is a new notification, not a duplicate."""
    stage = DedupStage(notify_config(), sqlite_state)
    first = stage.decide("oncall", make_event(), T0)
    assert first.slot is not None
    sqlite_state.mark_sent([first.slot], "a", T0)
    later = T0 + timedelta(minutes=30)
    assert stage.decide("oncall", make_event(at=later), later).action == "send"
