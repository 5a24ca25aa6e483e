"""The alerter's typed events (alerter.observed): each logs one JSON line with its fields and counts."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from alerter import observed
from tests.test_typed_events import assert_logs_and_counts


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_sent_digest_counts_the_message_the_alerts_and_the_digest(caplog: pytest.LogCaptureFixture) -> None:
    """NotificationSent(digest) logs one line and moves all three counters it documents."""
    before = (
        _value("alerter_notify_messages_sent_total", channel="ops-observed-test", kind="digest"),
        _value("alerter_notify_events_sent_total", channel="ops-observed-test"),
        _value("alerter_notify_events_digested_total", channel="ops-observed-test"),
    )
    event = observed.NotificationSent(
        channel="ops-observed-test", title="[FIRING] 4 alerts", alerts=4, digest=True
    )
    line = assert_logs_and_counts(event, caplog)
    assert (line["msg"], line["alerts"], line["digest"]) == ("notification sent", 4, True)
    after = (
        _value("alerter_notify_messages_sent_total", channel="ops-observed-test", kind="digest"),
        _value("alerter_notify_events_sent_total", channel="ops-observed-test"),
        _value("alerter_notify_events_digested_total", channel="ops-observed-test"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 4, 4]


def test_an_unrouted_alert_names_the_alert_in_its_line(caplog: pytest.LogCaptureFixture) -> None:
    """The unrouted alert's line is the notification of last resort: its msg carries the alert."""
    dropped = _value("alerter_notify_events_dropped_total", reason="unrouted")
    event = observed.AlertUnrouted(
        rule="disk", state="firing", fingerprint="ab12", targets=["pager"], alert="disk full on web1"
    )
    line = assert_logs_and_counts(event, caplog)
    assert line["msg"] == "alert not routed to any channel: disk full on web1" and line["level"] == "error"
    assert _value("alerter_notify_events_dropped_total", reason="unrouted") == dropped + 1


def test_loop_failures_count_by_stage(caplog: pytest.LogCaptureFixture) -> None:
    """Each caught loop failure keeps its own sentence and counts under its stage."""
    before = _value("alerter_loop_failures_total", stage="reload")
    line = assert_logs_and_counts(observed.RuleReloadFailed(error="OSError: gone"), caplog)
    assert (line["msg"], line["stage"]) == ("rule reload failed", "reload")
    assert _value("alerter_loop_failures_total", stage="reload") == before + 1
