"""Pipeline timelines on an injected clock with real SQLite state and a scripted sender at the seam."""

from __future__ import annotations

import itertools
import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import apsw
import pytest

from alerter.notify import NotificationPipeline, build_notifier
from alerter.notify.state import Silence
from alerter.notify.state.sqlite import SqliteNotifyState
from logstore.config import SqliteConfig, StoreConfig
from logwarden.config import Config
from tests.alerter.notify.conftest import (
    T0,
    Clock,
    PipelineFactory,
    ScriptedSender,
    make_event,
    notify_config,
)


def run(p: NotificationPipeline, clock: Clock, seconds: float, step: float = 1.0) -> None:
    """Tick like the engine does (every ``step`` seconds) until ``seconds`` have passed."""
    end = clock.now + timedelta(seconds=seconds)
    while clock.now < end:
        clock.advance(step)
        p.tick(clock.now)


def test_group_wait_collects_siblings_into_one_message(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """At t=0 two hosts fire; nothing before t=30s; at t=30s one message carries both."""
    p = make_pipeline()
    p.submit([make_event(group={"host.name": "web1"}), make_event(group={"host.name": "web2"})], T0)
    run(p, clock, 29)
    assert sender.sent == []
    run(p, clock, 1)
    assert len(sender.sent) == 1
    msg = sender.sent[0]
    assert msg.channel == "oncall" and msg.title.startswith("[CRITICAL] FIRING:2 nginx-502-storm")
    assert "host.name=web1" in msg.body and "host.name=web2" in msg.body and msg.kind == "failure"


def test_changes_after_a_flush_wait_for_group_interval(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """A third host firing at t=60s is notified at t=30s+5m, alone (the others are deduplicated)."""
    p = make_pipeline()
    p.submit([make_event(group={"host.name": "web1"})], T0)
    run(p, clock, 60)
    p.submit([make_event(group={"host.name": "web3"}, at=clock.now)], clock.now)
    run(p, clock, 269)
    assert len(sender.sent) == 1
    run(p, clock, 1)
    assert len(sender.sent) == 2
    assert "host.name=web3" in sender.sent[1].body and "web1" not in sender.sent[1].body


def test_still_firing_alert_repeats_after_repeat_interval(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """An alert that keeps firing is re-sent once per repeat_interval, not more often."""
    p = make_pipeline(notify_config(repeat_interval="1h"))
    p.submit([make_event()], T0)
    run(p, clock, 3590, step=10)  # t=1h-10s
    assert len(sender.sent) == 1
    run(p, clock, 600, step=10)  # t=1h10m: the next group_interval look after t=1h finds it due
    assert len(sender.sent) == 2
    run(p, clock, 2800, step=10)  # t=1h56m40s
    assert len(sender.sent) == 2
    run(p, clock, 600, step=10)
    assert len(sender.sent) == 3


def test_resolved_is_sent_once_and_group_is_removed(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """Firing at t=0, resolved at t=2m: one firing message, one resolved message, no pending group."""
    p = make_pipeline()
    p.submit([make_event()], T0)
    run(p, clock, 120)
    p.submit([make_event(state="resolved", at=clock.now, started_at=T0)], clock.now)
    run(p, clock, 600)
    assert [s.title.split()[1] for s in sender.sent] == ["FIRING", "RESOLVED"]
    assert sender.sent[1].kind == "success"
    assert p.pending() == []


def test_flap_resolved_within_group_wait_sends_nothing(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """Firing then resolved before group_wait ends: nobody was told it fired, so nothing is sent."""
    p = make_pipeline()
    p.submit([make_event()], T0)
    run(p, clock, 10)
    p.submit([make_event(state="resolved", at=clock.now, started_at=T0)], clock.now)
    run(p, clock, 600)
    assert sender.sent == [] and p.pending() == []


def test_silenced_alert_is_held_until_the_silence_expires(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender, db_path: object
) -> None:
    """A silence on host web1 holds its notification; when the silence ends the alert goes out."""
    p = make_pipeline()
    state = SqliteNotifyState(db_path)  # type: ignore[arg-type]
    state.add_silence(
        Silence("s1", "nginx-*", {"host.name": "web1"}, T0, T0 + timedelta(minutes=20), "c", "me", T0)
    )
    p.submit([make_event(group={"host.name": "web1"}), make_event(group={"host.name": "web2"})], T0)
    run(p, clock, 60)
    assert len(sender.sent) == 1 and "web2" in sender.sent[0].body and "web1" not in sender.sent[0].body
    run(p, clock, 60 * 18 + 59)  # t=19m59s: still silenced
    assert len(sender.sent) == 1
    run(p, clock, 1)  # t=20m: the silence ends and the group looks again right then
    assert len(sender.sent) == 2 and "host.name=web1" in sender.sent[1].body
    state.close()


def test_outage_then_recovery_delivers_exactly_once_with_backoff(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """While oncall fails, attempts back off exponentially; after recovery exactly one message lands."""
    p = make_pipeline()
    sender.fail.add("oncall")
    p.submit([make_event()], T0)
    run(p, clock, 120)
    tries = sender.attempts.count("oncall")
    assert 4 <= tries <= 7, tries  # 2s, 4s, 8s, 16s, 32s, 64s (+-20%) after t=30s
    sender.fail.clear()
    run(p, clock, 600)
    assert len(sender.to("oncall")) == 1
    run(p, clock, 600)
    assert len(sender.to("oncall")) == 1


def test_a_failed_delivery_is_recorded_with_its_reason_and_the_success_after_it(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender, sqlite_state: SqliteNotifyState
) -> None:
    """Each failed attempt leaves a durable record (channel, title, reason, attempt); delivery a message."""
    p = make_pipeline()
    sender.fail.add("oncall")
    p.submit([make_event()], T0)
    run(p, clock, 40)
    failures = sqlite_state.failures(T0, 100)
    assert failures and {f.reason for f in failures} == {"scripted outage"}
    newest = failures[0]
    assert newest.channel == "oncall" and "nginx-502-storm" in newest.title and newest.alerts == 1
    assert [f.attempt for f in failures] == list(range(len(failures), 0, -1))
    assert sqlite_state.messages(T0, 10) == []
    sender.fail.clear()
    run(p, clock, 600)
    [sent] = sqlite_state.messages(T0, 10)
    assert sent.channel == "oncall" and sent.title == sender.sent[0].title


def test_outage_of_one_channel_does_not_resend_on_the_other(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """Only the failed channel is retried: the healthy one gets its message exactly once."""
    p = make_pipeline(notify_config(routes=[{"severity": ["critical"], "channels": ["chat"]}]))
    sender.fail.add("oncall")
    p.submit([make_event()], T0)
    run(p, clock, 200)
    assert len(sender.to("chat")) == 1 and sender.to("oncall") == []
    sender.fail.clear()
    run(p, clock, 400)
    assert len(sender.to("chat")) == 1 and len(sender.to("oncall")) == 1


def test_rate_limit_overflow_becomes_one_digest(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """40 separate groups on a 3-per-minute channel: 2 messages and one digest of the other 38."""
    p = make_pipeline(notify_config(group_by=["..."], rate_limit={"count": 3, "per": "1m", "sample": 2}))
    p.submit([make_event(group={"host.name": f"web{i:02d}"}) for i in range(40)], T0)
    run(p, clock, 30)
    assert len(sender.sent) == 3
    digest = sender.sent[2]
    assert "38 alerts" in digest.title and digest.body.endswith("and 36 more alerts")
    run(p, clock, 3600, step=10)
    assert len(sender.sent) == 3  # every alert was delivered once (two alone, 38 in the digest)


def test_rate_limit_at_zero_holds_until_budget_frees(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """With the budget used up, new alerts wait and go out as a digest when the window frees a slot."""
    p = make_pipeline(notify_config(group_by=["..."], rate_limit={"count": 1, "per": "10m", "sample": 5}))
    p.submit([make_event(group={"host.name": "a"})], T0)
    run(p, clock, 31)
    assert len(sender.sent) == 1
    p.submit([make_event(group={"host.name": f"n{i}"}, at=clock.now) for i in range(3)], clock.now)
    run(p, clock, 598)  # t=10m29s: the first message still fills the window
    assert len(sender.sent) == 1
    run(p, clock, 2)  # t=10m31s
    assert len(sender.sent) == 2 and "3 alerts" in sender.sent[1].title
    assert sender.sent[1].body.count("host.name=n") == 3


def test_restart_before_group_wait_sends_the_pending_group(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """A restart during group_wait loses nothing: the new pipeline sends the pending group on time."""
    p = make_pipeline()
    p.submit([make_event()], T0)
    run(p, clock, 10)
    del p
    p2 = make_pipeline()
    run(p2, clock, 19)
    assert sender.sent == []
    run(p2, clock, 1)
    assert len(sender.sent) == 1


def test_restart_after_sending_does_not_resend(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """A restart after delivery neither re-notifies nor forgets the firing alert (resolved still goes out)."""
    p = make_pipeline()
    p.submit([make_event()], T0)
    run(p, clock, 60)
    assert len(sender.sent) == 1
    p2 = make_pipeline()
    run(p2, clock, 900)
    assert len(sender.sent) == 1
    p2.submit([make_event(state="resolved", at=clock.now, started_at=T0)], clock.now)
    run(p2, clock, 600)
    assert len(sender.sent) == 2 and sender.sent[1].title.split()[1] == "RESOLVED"


def test_restart_during_outage_keeps_retrying_and_sends_once(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """A restart in the middle of an outage resumes retries from the DB; one message after recovery."""
    p = make_pipeline()
    sender.fail.add("oncall")
    p.submit([make_event()], T0)
    run(p, clock, 60)
    p2 = make_pipeline(owner="a")
    sender.fail.clear()
    run(p2, clock, 600)
    assert len(sender.to("oncall")) == 1


def test_unrouted_alert_is_logged_not_dropped_silently(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender, caplog: pytest.LogCaptureFixture
) -> None:
    """A meta-alert with no alerter or ops channel is written to the log as an error."""
    p = make_pipeline(notify_config(channels=[{"name": "oncall", "url": "json://127.0.0.1:9/o"}]))
    with caplog.at_level(logging.ERROR, logger="alerter.notify"):
        p.submit([make_event(rule="meta:nginx", channels=("alerter",))], T0)
    assert any("not routed" in r.getMessage() and "meta:nginx" in r.getMessage() for r in caplog.records)
    assert p.pending() == []


def test_flush_sends_pending_groups_without_waiting(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """flush (alerter run --once) sends what is pending right away, and still never twice."""
    p = make_pipeline()
    p.submit([make_event()], T0)
    p.flush(T0)
    assert len(sender.sent) == 1
    p.flush(T0 + timedelta(seconds=1))
    assert len(sender.sent) == 1


def test_health_degrades_while_a_channel_keeps_failing(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """After three failed attempts health is degraded naming the channel; delivery makes it ok again."""
    p = make_pipeline()
    sender.fail.add("oncall")
    p.submit([make_event()], T0)
    assert p.health().ok
    run(p, clock, 60)
    h = p.health()
    assert not h.ok and "oncall" in h.detail
    sender.fail.clear()
    run(p, clock, 120)
    assert p.health().ok and len(sender.sent) == 1


class FlakyLogState(SqliteNotifyState):
    """Real SQLite state whose next ``mark_sent`` calls fail, as when the store drops mid-flush."""

    fail_mark_sent = 0

    def mark_sent(self, slots: Any, owner: str, now: Any) -> None:
        if self.fail_mark_sent:
            self.fail_mark_sent -= 1
            raise apsw.BusyError("database is locked")
        super().mark_sent(slots, owner, now)


def test_delivered_but_unrecorded_is_not_sent_again(
    db_path: Path, clock: Clock, sender: ScriptedSender
) -> None:
    """If the log write fails after delivery, the message is remembered, recorded later, never re-sent."""
    state = FlakyLogState(db_path)
    state.fail_mark_sent = 3
    config = Config(store=StoreConfig(sqlite=SqliteConfig(path=db_path)), notify=notify_config())
    p = build_notifier(config, None, clock=clock, sender=sender, owner="a", state=state)
    p.submit([make_event()], T0)
    run(p, clock, 600)
    assert len(sender.sent) == 1
    assert state.last_sent("oncall", make_event().fingerprint) is not None
    state.close()


def test_counters_record_sent_digested_dropped_and_failures(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """Prometheus counters move with deliveries, digests, unrouted alerts and failed attempts."""
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = {
        "sent": value("alerter_notify_events_sent_total", channel="oncall"),
        "digested": value("alerter_notify_events_digested_total", channel="oncall"),
        "unrouted": value("alerter_notify_events_dropped_total", reason="unrouted"),
        "failures": value("alerter_notify_send_failures_total", channel="chat"),
        "received": value("alerter_notify_events_received_total"),
    }
    p = make_pipeline(notify_config(group_by=["..."], rate_limit={"count": 2, "per": "1m", "sample": 1}))
    p.submit([make_event(group={"host.name": f"h{i}"}) for i in range(5)], T0)
    p.submit([make_event(channels=("nobody",))], T0)
    sender.fail.add("chat")
    p.submit([make_event(channels=("chat",), rule="other")], T0)
    run(p, clock, 31)
    assert value("alerter_notify_events_received_total") - before["received"] == 7
    assert value("alerter_notify_events_sent_total", channel="oncall") - before["sent"] == 5
    assert value("alerter_notify_events_digested_total", channel="oncall") - before["digested"] == 4
    assert value("alerter_notify_events_dropped_total", reason="unrouted") - before["unrouted"] == 1
    assert value("alerter_notify_send_failures_total", channel="chat") - before["failures"] >= 1


def test_a_failed_channel_is_tried_once_per_tick(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """Ten groups due on a dead channel cost one attempt per tick, not ten; all are delivered later."""
    p = make_pipeline(notify_config(group_by=["..."]))
    sender.fail.add("oncall")
    p.submit([make_event(group={"host.name": f"h{i}"}) for i in range(10)], T0)
    run(p, clock, 30)
    assert sender.attempts == ["oncall"]
    assert all(g.attempts == 1 for g in p.pending())
    sender.fail.clear()
    run(p, clock, 600)
    assert len(sender.sent) == 10


def test_resolved_during_a_silence_is_sent_when_the_silence_ends(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender, db_path: object
) -> None:
    """FIRING notified at 30s, silenced 1m..20m, resolved at 2m: the RESOLVED goes out at 20m."""
    p = make_pipeline()
    state = SqliteNotifyState(db_path)  # type: ignore[arg-type]
    p.submit([make_event()], T0)
    run(p, clock, 60)
    assert [s.title.split()[1] for s in sender.sent] == ["FIRING"]
    state.add_silence(
        Silence("s1", "nginx-*", {}, T0 + timedelta(minutes=1), T0 + timedelta(minutes=20), "c", "me", T0)
    )
    run(p, clock, 60)
    p.submit([make_event(state="resolved", at=clock.now, started_at=T0)], clock.now)
    run(p, clock, 60 * 17 + 59)  # t=19m59s: silenced
    assert len(sender.sent) == 1
    run(p, clock, 2)
    assert [s.title.split()[1] for s in sender.sent] == ["FIRING", "RESOLVED"]
    assert p.pending() == []
    state.close()


def test_repeats_after_a_silence_follow_repeat_interval(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender, db_path: object
) -> None:
    """repeat_interval 2m, silenced 40s..5m: one repeat when the silence ends, then one every 2m."""
    p = make_pipeline(notify_config(repeat_interval="2m", group_interval="30s"))
    state = SqliteNotifyState(db_path)  # type: ignore[arg-type]
    state.add_silence(
        Silence("s1", "nginx-*", {}, T0 + timedelta(seconds=40), T0 + timedelta(minutes=5), "c", "me", T0)
    )
    p.submit([make_event()], T0)
    sent_at = []
    for _ in range(11 * 60):
        clock.advance(1)
        before = len(sender.sent)
        p.tick(clock.now)
        if len(sender.sent) > before:
            sent_at.append(int((clock.now - T0).total_seconds()))
    assert sent_at[0] == 30 and sent_at[1] == 300
    assert [b - a for a, b in itertools.pairwise(sent_at[1:])] == [120, 120, 120]
    state.close()


def test_a_rules_own_timers_override_notify(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """A rule's group_wait 5s, repeat_interval 1h (notify: 30s, 4h) time its alerts; others keep notify's."""
    p = make_pipeline()
    fast = replace(make_event(), timing={"group_wait": 5, "group_interval": 60, "repeat_interval": 3600})
    slow = make_event(rule="disk-full", group={"host.name": "db1"})
    p.submit([fast, slow], T0)
    run(p, clock, 5)
    assert [s.title for s in sender.sent] == ["[CRITICAL] FIRING nginx-502-storm host.name=web1"]
    run(p, clock, 25)
    assert len(sender.sent) == 2 and "disk-full" in sender.sent[1].title
    run(p, clock, 3600 - 30, step=5)  # t=1h: the repeat is due at 1h5s (1h after the first message)
    assert len(sender.sent) == 2
    run(p, clock, 5, step=5)  # the rule's 1-minute group_interval looks at 1h5s
    assert [s.title for s in sender.sent[2:]] == ["[CRITICAL] FIRING nginx-502-storm host.name=web1"]


def test_rule_timers_survive_a_restart(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender
) -> None:
    """The timers travel with the pending event through the state store (a restart keeps them)."""
    p = make_pipeline()
    p.submit([replace(make_event(), timing={"group_wait": 5})], T0)
    p2 = make_pipeline()
    run(p2, clock, 5)
    assert len(sender.sent) == 1


def test_service_down_inhibits_that_services_error_rate_until_it_resolves(
    make_pipeline: PipelineFactory, clock: Clock, sender: ScriptedSender, caplog: pytest.LogCaptureFixture
) -> None:
    """Timeline: t=0 api down and api + web error-rate fire; t=30s down and web's error-rate are sent,
    api's error-rate is muted (logged); t=2m down resolves; t=5m30s RESOLVED down and api's error-rate."""
    inhibit = [
        {
            "source_matchers": ["rule=service-down"],
            "target_matchers": ["rule=error-rate"],
            "equal": ["service.name"],
        }
    ]
    # group_by the whole instance: one message per alert, so the timeline shows each one
    p = make_pipeline(notify_config(inhibit=inhibit, group_by=["rule", "..."]))
    down = make_event("service-down", group={"service.name": "api"})
    api = make_event("error-rate", group={"service.name": "api"}, severity="warning")
    web = make_event("error-rate", group={"service.name": "web"}, severity="warning")
    p.submit([down, api, web], T0)
    with caplog.at_level(logging.INFO):
        run(p, clock, 30)
    assert sorted(s.title for s in sender.sent) == [
        "[CRITICAL] FIRING service-down service.name=api",
        "[WARNING] FIRING error-rate service.name=web",
    ]
    [muted] = [vars(r) for r in caplog.records if r.getMessage() == "notification silenced"]
    assert "'inhibited by service-down service.name=api'" in str(muted) and "'inhibited'" in str(muted)
    run(p, clock, 90)
    p.submit(
        [make_event("service-down", "resolved", {"service.name": "api"}, at=clock.now, started_at=T0)],
        clock.now,
    )
    run(p, clock, 209)  # t=5m29s: nothing new yet (group_interval 5m after the first flush)
    assert len(sender.sent) == 2
    run(p, clock, 1)
    assert sorted(s.title for s in sender.sent[2:]) == [
        "[CRITICAL] RESOLVED service-down service.name=api",
        "[WARNING] FIRING error-rate service.name=api",
    ]


def test_bad_inhibit_matcher_is_a_config_error(tmp_path: Path) -> None:
    """An inhibit matcher without an operator is one config error naming file, line, key and matcher."""
    from logstore.config import ConfigError
    from logwarden.config import load_config

    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(
        "notify:\n  inhibit:\n    - source_matchers: [service-down]\n      target_matchers: [rule=x]\n"
    )
    with pytest.raises(ConfigError) as e:
        load_config(cfg, env={})
    assert str(e.value).startswith(
        f"{cfg}:3: notify.inhibit[0].source_matchers: 'service-down': expected KEY=VALUE"
    )
