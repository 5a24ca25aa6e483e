"""Message rendering: title and body carry state, rule, value vs threshold, group, window, samples, logq."""

from __future__ import annotations

from alerter.notify.message import notify_kind, render_digest, render_group
from tests.alerter.notify.conftest import make_event


def test_single_alert_message_has_everything_needed_to_act() -> None:
    """One alert: state, rule, group in the title; value vs threshold, window, samples, logq in the body."""
    samples = tuple(
        {"@timestamp": f"2026-11-22T05:59:0{i}.000Z", "message": f"GET /x 502 #{i}"} for i in range(3)
    )
    e = make_event(samples=samples)
    title, body = render_group({"rule": e.rule}, [e])
    assert title == "[CRITICAL] FIRING nginx-502-storm host.name=web1"
    assert "value: 62 (threshold: > 50)" in body
    assert "group: host.name=web1" in body
    assert "window: 2026-11-22T05:55:00Z .. 2026-11-22T06:00:00Z" in body
    assert "  2026-11-22T05:59:02.000Z GET /x 502 #2" in body
    assert f"logq: {e.logq}" in body


def test_group_message_counts_states_and_lists_each_alert() -> None:
    """Several alerts: the title counts states; the body has one section per alert."""
    a = make_event(group={"host.name": "web1"})
    b = make_event(group={"host.name": "web2"}, state="resolved", severity="warning")
    title, body = render_group({"rule": a.rule}, [a, b])
    assert title == "[CRITICAL] FIRING:1 RESOLVED:1 nginx-502-storm"
    assert "FIRING nginx-502-storm [critical] host.name=web1" in body
    assert "RESOLVED nginx-502-storm [warning] host.name=web2" in body


def test_digest_shows_a_sample_and_counts_the_rest() -> None:
    """A digest lists `sample` alerts and ends with "and N more alerts"."""
    alerts = [make_event(group={"host.name": f"web{i}"}) for i in range(40)]
    title, body = render_digest("oncall", alerts, 3)
    assert "40 alerts" in title
    assert body.count("\n- ") == 3
    assert body.endswith("and 37 more alerts")


def test_notify_kind_follows_severity_and_resolution() -> None:
    """Critical firing is a failure, warning a warning, all-resolved a success."""
    assert notify_kind([make_event()]) == "failure"
    assert notify_kind([make_event(severity="warning")]) == "warning"
    assert notify_kind([make_event(state="resolved")]) == "success"


def test_big_group_message_is_bounded() -> None:
    """A group of 500 alerts: 10 in full, 50 as one line each, then "and 440 more alerts"."""
    alerts = [make_event(group={"host.name": f"web{i}"}) for i in range(500)]
    title, body = render_group({"rule": alerts[0].rule}, alerts)
    assert title == "[CRITICAL] FIRING:500 nginx-502-storm"
    assert body.count("logq:") == 10 and body.count("\n- FIRING") == 50
    assert body.endswith("and 440 more alerts") and len(body) < 20000
