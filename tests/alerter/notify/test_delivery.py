"""End to end with real apprise: pipeline -> apprise -> local webhook / SMTP server, through outages
(HTTP 500, connection refused, timeouts) and recovery: exactly one delivery each."""

from __future__ import annotations

from typing import Any

from alerter.notify import AppriseSender
from tests.alerter.notify.conftest import T0, Clock, PipelineFactory, make_event, notify_config
from tests.alerter.notify.receivers import SmtpReceiver, WebhookReceiver, free_port, wait_until
from tests.alerter.notify.test_pipeline import run


def _cfg(url: str, timeout: str = "10s") -> Any:
    return notify_config(channels=[{"name": "oncall", "url": url, "timeout": timeout}])


def test_http_500_twice_then_ok_delivers_exactly_once(
    make_pipeline: PipelineFactory, clock: Clock, webhook: WebhookReceiver
) -> None:
    """Two 500s are retried with backoff; the third attempt lands; nothing is sent twice."""
    webhook.script.extend([500, 500])
    p = make_pipeline(_cfg(f"json://{webhook.url}/hook"), sender=AppriseSender())
    p.submit([make_event()], T0)
    run(p, clock, 120)
    assert webhook.requests == 3 and len(webhook.delivered) == 1
    run(p, clock, 900, step=5)
    assert len(webhook.delivered) == 1
    assert webhook.delivered[0].json()["title"] == "[CRITICAL] FIRING nginx-502-storm host.name=web1"


def test_connection_refused_until_receiver_starts_then_one_delivery(
    make_pipeline: PipelineFactory, clock: Clock
) -> None:
    """With nobody listening the alert waits; once the receiver is up it arrives exactly once."""
    port = free_port()
    p = make_pipeline(_cfg(f"json://127.0.0.1:{port}/hook"), sender=AppriseSender())
    p.submit([make_event()], T0)
    run(p, clock, 90)
    assert p.pending()[0].attempts >= 3
    recv = WebhookReceiver(port=port).start()
    try:
        run(p, clock, 600)
        assert len(recv.delivered) == 1
        run(p, clock, 600, step=5)
        assert len(recv.delivered) == 1
    finally:
        recv.stop()


def test_timeout_then_recovery_delivers_exactly_once(
    make_pipeline: PipelineFactory, clock: Clock, webhook: WebhookReceiver
) -> None:
    """A receiver that hangs past the channel timeout is a failure; the retry is the one delivery."""
    webhook.script.append("hang")
    p = make_pipeline(_cfg(f"json://{webhook.url}/hook?rto=1", timeout="1s"), sender=AppriseSender())
    p.submit([make_event()], T0)
    run(p, clock, 31)
    assert webhook.delivered == [] and p.pending()[0].attempts == 1
    webhook.release.set()
    run(p, clock, 120)
    assert len(webhook.delivered) == 1


def test_smtp_gets_firing_then_resolved_emails(
    make_pipeline: PipelineFactory, clock: Clock, smtp: SmtpReceiver
) -> None:
    """mailto:// to a real SMTP server: one email when firing, one when resolved, with the logq line."""
    url = f"mailto://127.0.0.1:{smtp.port}?from=alerts@example.com&to=ops@example.com"
    p = make_pipeline(_cfg(url), sender=AppriseSender())
    p.submit([make_event()], T0)
    run(p, clock, 60)
    wait_until(lambda: len(smtp.messages) == 1, what="firing email")
    p.submit([make_event(state="resolved", at=clock.now, started_at=T0)], clock.now)
    run(p, clock, 600, step=5)
    wait_until(lambda: len(smtp.messages) == 2, what="resolved email")
    subjects = [m["Subject"] for m in smtp.messages]
    assert subjects == [
        "[CRITICAL] FIRING nginx-502-storm host.name=web1",
        "[CRITICAL] RESOLVED nginx-502-storm host.name=web1",
    ]
    assert "logq 'service.name:nginx AND status:502'" in str(smtp.messages[0])


def test_one_channel_down_other_channel_gets_exactly_one(
    make_pipeline: PipelineFactory, clock: Clock, smtp: SmtpReceiver
) -> None:
    """Webhook refused, SMTP up: the email goes out once; the webhook gets its one copy after recovery."""
    port = free_port()
    cfg = notify_config(
        channels=[
            {"name": "oncall", "url": f"json://127.0.0.1:{port}/hook"},
            {
                "name": "mail",
                "url": f"mailto://127.0.0.1:{smtp.port}?from=a@example.com&to=b@example.com",
                "tags": ["pager"],
            },
        ]
    )
    p = make_pipeline(cfg, sender=AppriseSender())
    p.submit([make_event(channels=("oncall", "pager"))], T0)
    run(p, clock, 120)
    wait_until(lambda: len(smtp.messages) == 1, what="one email")
    recv = WebhookReceiver(port=port).start()
    try:
        run(p, clock, 600, step=2)
        assert len(recv.delivered) == 1 and len(smtp.messages) == 1
    finally:
        recv.stop()


def test_incident_that_fired_and_resolved_during_an_outage_is_reported_once(
    make_pipeline: PipelineFactory, clock: Clock, sender: Any
) -> None:
    """FIRING fails (channel down), the alert resolves, the channel recovers: one message with both times."""
    for send_resolved in (True, False):
        sender.sent.clear()
        p = make_pipeline(notify_config(send_resolved=send_resolved), owner=f"o{send_resolved}")
        fp_group = {"host.name": f"web-{send_resolved}"}
        start = clock.now
        sender.fail.add("oncall")
        p.submit([make_event(group=fp_group, at=start, started_at=start)], start)
        run(p, clock, 120)
        assert sender.to("oncall") == []
        p.submit([make_event(group=fp_group, state="resolved", at=clock.now, started_at=start)], clock.now)
        run(p, clock, 180)
        sender.fail.discard("oncall")
        run(p, clock, 1800)
        sent = sender.to("oncall")
        assert len(sent) == 1, [s.title for s in sent]
        assert sent[0].title.startswith("[CRITICAL] RESOLVED"), sent[0].title
        assert "fired at" in sent[0].body and "could not be delivered" in sent[0].body
