"""The notification state contract on both backends: silences, pending groups, log, claims, retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from alerter.notify.state import (
    ClaimOutcome,
    FailureRecord,
    MessageRecord,
    NotifyState,
    SentEntry,
    Silence,
    Slot,
)
from alerter.notify.state.elastic import ElasticNotifyState
from alerter.notify.state.memory import MemoryNotifyState
from alerter.notify.state.sqlite import SqliteNotifyState
from alerter.notify.state.types import Group
from logstore import get_backend, open_store
from logstore.config import StoreConfig
from tests.alerter.notify.conftest import T0, make_event

LEASE = timedelta(minutes=2)


@pytest.fixture(params=["sqlite", "elasticsearch", "memory", "server"])
def states(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[NotifyState, NotifyState]]:
    """Two handles on one backend, as two alerter processes would hold."""
    if request.param == "server":
        # Two alerters, each with its own connection, on one logwarden server.
        config: StoreConfig = request.getfixturevalue("server_store_config")
        stores = [open_store(config), open_store(config)]
        backend = get_backend(config.backend)
        yield (
            backend.open_notify_state(stores[0], config.settings),
            backend.open_notify_state(stores[1], config.settings),
        )
        for s in stores:
            s.close()
        return
    if request.param == "memory":
        # One process's state: both "processes" share the one instance.
        memory = MemoryNotifyState()
        yield memory, memory
        return
    if request.param == "sqlite":
        a, b = SqliteNotifyState(tmp_path / "x.db"), SqliteNotifyState(tmp_path / "x.db")
        yield a, b
        a.close()
        b.close()
        return
    store: Any = request.getfixturevalue("es_store")
    config = request.getfixturevalue("es_store_config")
    assert config.elasticsearch is not None
    index = config.elasticsearch.state_index
    yield ElasticNotifyState(store.client, index), ElasticNotifyState(store.client, index)


def _slot(repeat: int = 0, state: str = "firing") -> Slot:
    return Slot("oncall", "fp1", state, T0, repeat)


def test_claim_is_exclusive_until_sent(states: tuple[NotifyState, NotifyState]) -> None:
    """The first claimer wins; a second owner sees TAKEN with the lease end, then SENT once marked."""
    a, b = states
    assert a.claim(_slot(), "A", T0, LEASE).outcome is ClaimOutcome.MINE
    taken = b.claim(_slot(), "B", T0 + timedelta(seconds=5), LEASE)
    assert taken.outcome is ClaimOutcome.TAKEN and taken.until == T0 + LEASE
    assert a.claim(_slot(), "A", T0 + timedelta(seconds=6), LEASE).outcome is ClaimOutcome.MINE  # renew
    a.mark_sent([_slot()], "A", T0 + timedelta(seconds=7))
    assert b.claim(_slot(), "B", T0 + timedelta(hours=1), LEASE).outcome is ClaimOutcome.SENT


def test_expired_claim_is_presumed_sent_and_a_released_one_is_taken(
    states: tuple[NotifyState, NotifyState],
) -> None:
    """A claim past its lease without a sent mark is presumed delivered (SENT); a released one goes to B."""
    a, b = states
    assert a.claim(_slot(0), "A", T0, LEASE).outcome is ClaimOutcome.MINE
    later = T0 + LEASE + timedelta(seconds=1)
    assert b.claim(_slot(0), "B", later, LEASE).outcome is ClaimOutcome.SENT
    assert b.last_sent("oncall", "fp1") == SentEntry("firing", T0, 0, T0)
    assert a.claim(_slot(1), "A", T0, LEASE).outcome is ClaimOutcome.MINE
    a.release([_slot(1)], "A")
    assert b.claim(_slot(1), "B", T0 + timedelta(seconds=1), LEASE).outcome is ClaimOutcome.MINE
    assert a.claim(_slot(1), "A", T0 + timedelta(seconds=2), LEASE).outcome is ClaimOutcome.TAKEN


def test_last_sent_returns_the_latest_delivered_notification(states: tuple[NotifyState, NotifyState]) -> None:
    """The log answers the newest entry per channel and fingerprint; a released claim does not count."""
    a, b = states
    assert a.last_sent("oncall", "fp1") is None
    a.claim(_slot(0), "A", T0, LEASE)
    a.release([_slot(0)], "A")
    assert b.last_sent("oncall", "fp1") is None
    a.claim(_slot(0), "A", T0, LEASE)
    assert b.last_sent("oncall", "fp1") == SentEntry("firing", T0, 0, T0)  # in flight: not to resend
    a.mark_sent([_slot(0)], "A", T0)
    a.mark_sent([_slot(1)], "A", T0 + timedelta(hours=4))
    assert b.last_sent("oncall", "fp1") == SentEntry("firing", T0, 1, T0 + timedelta(hours=4))
    assert b.last_sent("chat", "fp1") is None


def test_silences_add_list_expire(states: tuple[NotifyState, NotifyState]) -> None:
    """Silences are listed while active, can be expired once, and remain listed with all."""
    a, b = states
    s = Silence("abc", "nginx-*", {"host.name": "web1"}, T0, T0 + timedelta(hours=2), "deploy", "me", T0)
    a.add_silence(s)
    assert b.silences(T0 + timedelta(minutes=1)) == [s]
    assert b.expire_silence("abc", T0 + timedelta(minutes=5))
    assert not a.expire_silence("abc", T0 + timedelta(minutes=6))
    assert not a.expire_silence("nope", T0)
    assert a.silences(T0 + timedelta(minutes=6)) == []
    [ended] = a.silences(T0 + timedelta(minutes=6), "all")
    assert ended.ends_at == T0 + timedelta(minutes=5)


def test_groups_round_trip_and_delete(states: tuple[NotifyState, NotifyState]) -> None:
    """A saved pending group loads back equal (events, timers, retry state) and can be deleted."""
    a, b = states
    e = make_event(samples=({"@timestamp": "2026-11-22T05:59:00.000Z", "message": "x", "n": 1},))
    g = Group("k1", "oncall", {"rule": e.rule}, {e.fingerprint: e}, T0, T0 - timedelta(minutes=1), 2, T0)
    a.save_group(g)
    assert b.load_groups() == [g]
    a.delete_group("k1")
    assert b.load_groups() == []


def test_messages_since_and_prune(states: tuple[NotifyState, NotifyState]) -> None:
    """Messages count per channel in a window; prune drops log entries older than retention."""
    a, b = states
    for i in range(3):
        a.record_message(MessageRecord(f"m{i}", "oncall", "t", 1, T0 + timedelta(minutes=i)))
    assert b.messages_since("oncall", T0 + timedelta(seconds=30)) == [
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=2),
    ]
    a.mark_sent([_slot()], "A", T0)
    assert a.prune(T0 + timedelta(days=8), timedelta(days=7)) >= 4
    assert b.last_sent("oncall", "fp1") is None and b.messages_since("oncall", T0) == []


def test_message_log_lists_sent_and_failed_newest_first_and_prunes_them(
    states: tuple[NotifyState, NotifyState],
) -> None:
    """Delivered messages and failed deliveries (with their reason) list newest first, bounded, and prune."""
    a, b = states
    for i in range(3):
        a.record_message(
            MessageRecord(f"m{i}", "oncall", f"title {i}", i + 1, T0 + timedelta(minutes=i), i == 2)
        )
    a.record_failure(FailureRecord("f0", "chat", "FIRING x", 2, T0 + timedelta(seconds=90), "HTTP 503", 1))
    a.record_failure(FailureRecord("f1", "chat", "FIRING x", 2, T0 + timedelta(seconds=95), "timed out", 2))
    got = b.messages(T0 + timedelta(seconds=30), 10)
    assert [(m.id, m.title, m.alerts, m.sent_at, m.digest) for m in got] == [
        ("m2", "title 2", 3, T0 + timedelta(minutes=2), True),
        ("m1", "title 1", 2, T0 + timedelta(minutes=1), False),
    ]
    assert [m.id for m in b.messages(T0, 1)] == ["m2"]
    assert b.failures(T0, 10) == [
        FailureRecord("f1", "chat", "FIRING x", 2, T0 + timedelta(seconds=95), "timed out", 2),
        FailureRecord("f0", "chat", "FIRING x", 2, T0 + timedelta(seconds=90), "HTTP 503", 1),
    ]
    a.prune(T0 + timedelta(days=7, seconds=92), timedelta(days=7))
    assert [f.id for f in b.failures(T0, 10)] == ["f1"]
    assert [m.id for m in b.messages(T0, 10)] == ["m2"]


def test_codec_keeps_top_link_and_sample_fields() -> None:
    """A pending group written and read back keeps an alert's top values, link and sample fields."""
    from dataclasses import replace

    import orjson

    from alerter.events import TopValues
    from alerter.notify.state.codec import event_from_dict, event_to_dict
    from tests.alerter.notify.conftest import make_event

    e = replace(
        make_event(),
        top=(TopValues("url.path", (("/a", 3), (None, 1)), 4, True),),
        link="https://logs.example.com/alerts/r?query=x",
        sample_fields=("host.name",),
    )
    assert event_from_dict(orjson.loads(orjson.dumps(event_to_dict(e)))) == e


def test_silences_keep_operators_and_old_stored_silences_load(
    states: tuple[NotifyState, NotifyState],
) -> None:
    """A silence with != and =~ matchers and a later start round-trips; one stored as {field: value}
    (before operators existed) loads as an equality silence."""
    from alerter.notify.matchers import Matcher, parse_matcher

    a, b = states
    ms = (parse_matcher("host.name=~web[12]"), parse_matcher("team!=db"))
    later = Silence("new", "*", ms, T0 + timedelta(hours=1), T0 + timedelta(hours=2), "c", "me", T0)
    a.add_silence(later)
    assert b.silences(T0) == []
    assert b.silences(T0 + timedelta(hours=1)) == [later]
    if isinstance(a, SqliteNotifyState):
        with a._lock:  # written as an older release did
            a._db.execute(
                "INSERT INTO alerter_silences VALUES ('old', 'r', ?, ?, ?, 'c', 'me', ?)",
                (
                    '{"host.name": "web1"}',
                    T0.timestamp(),
                    (T0 + timedelta(hours=3)).timestamp(),
                    T0.timestamp(),
                ),
            )
    elif isinstance(a, ElasticNotifyState):
        a._put(
            "notify-silence-old",
            {
                "kind": "silence",
                "id": "old",
                "rule": "r",
                "matchers": '{"host.name": "web1"}',
                "starts_at": int(T0.timestamp() * 1000),
                "ends_at": int(T0.timestamp() * 1000) + 3 * 3600_000,
                "comment": "c",
                "author": "me",
                "created_at": int(T0.timestamp() * 1000),
            },
        )
    else:
        return
    [old] = [s for s in b.silences(T0 + timedelta(minutes=1)) if s.id == "old"]
    assert old.match == (Matcher("host.name", "=", "web1"),)
