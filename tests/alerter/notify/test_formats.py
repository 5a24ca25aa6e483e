"""Each channel gets the body in the form it renders best: multipart email (text + HTML table),
Markdown for chat services that take it, text elsewhere, and Alertmanager's webhook JSON on request.
Real receivers on 127.0.0.1: aiosmtpd and an HTTP server."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from alerter.config import Channel, NotifyConfig
from alerter.events import AlertEvent, TopValues
from alerter.notify import default_sender
from alerter.notify.message import render_group
from alerter.notify.send import AppriseSender, body_format
from tests.alerter.notify.conftest import Clock, PipelineFactory, make_event
from tests.alerter.notify.receivers import SmtpReceiver, WebhookReceiver, wait_until


def _channel(url: str, **kw: Any) -> Channel:
    return Channel.model_validate({"name": "c", "url": url, **kw})


def _rich_event(**kw: Any) -> AlertEvent:
    e = make_event(samples=({"@timestamp": "2026-11-22T05:59:02.000Z", "message": "GET /x <502>"},), **kw)
    top = (TopValues("url.path", (("/x", 40), ("/y", 2)), 42, False),)
    return replace(e, top=top, link="https://logs.example.com/alerts/nginx-502-storm?query=a%20b")


def test_email_is_multipart_with_a_text_part_and_an_html_table(smtp: SmtpReceiver) -> None:
    """mailto:// sends multipart/alternative: text/plain and text/html (a table, no remote assets)."""
    title, body = render_group({"rule": "nginx-502-storm"}, [_rich_event()])
    url = f"mailto://127.0.0.1:{smtp.port}?from=alerts@example.com&to=ops@example.com"
    res = AppriseSender().send(_channel(url), title, body, "failure")
    assert res.ok, res.reason
    wait_until(lambda: len(smtp.messages) == 1, what="one email")
    msg = smtp.messages[0]
    assert msg.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in msg.get_payload()}
    assert set(parts) == {"text/plain", "text/html"}
    html = parts["text/html"]
    assert "<table" in html and "<th" in html and "GET /x &lt;502&gt;" in html
    assert '<a href="https://logs.example.com/alerts/nginx-502-storm?query=a%20b">' in html
    assert "src=" not in html and "<script" not in html and "<link" not in html
    text = parts["text/plain"]
    assert "value" in text and "62" in text and "url.path: /x (40), /y (2) of 42 lines" in text


def test_markdown_service_gets_the_markdown_form(webhook: WebhookReceiver) -> None:
    """A service apprise sends Markdown to (Rocket.Chat's webhook here) gets bold heads and code blocks."""
    title, body = render_group({"rule": "nginx-502-storm"}, [_rich_event()])
    url = f"rocket://hookid/secret123@{webhook.url}/#ops"
    res = AppriseSender().send(_channel(url), title, body, "failure")
    assert res.ok, res.reason
    [d] = webhook.delivered
    text = d.json()["text"]
    assert "**FIRING nginx-502-storm [critical] host.name=web1**" in text
    assert "```\n2026-11-22T05:59:02.000Z GET /x <502>\n```" in text


@pytest.mark.parametrize(
    ("url", "fmt"),
    [
        ("mailto://127.0.0.1:2525?from=a@example.com&to=b@example.com", "html"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#ch", "markdown"),
        ("discord://123456/abcdefghijk", "markdown"),
        ("tgram://123456789:abcdefg_hijklmnop/456", "markdown"),
        ("dingtalk://token123/", "markdown"),
        ("feishu://token123", "markdown"),
        ("matrix://user:pass@127.0.0.1/#room", "markdown"),
        ("json://127.0.0.1/hook", "text"),
        ("mmost://127.0.0.1/abcdefghijklmnopqrstuvwxyz", "text"),
        ("ntfy://topic", "text"),
    ],
)
def test_body_format_per_service(url: str, fmt: str) -> None:
    """Email gets HTML, services whose apprise plugin takes Markdown get Markdown, the rest text."""
    from alerter.config import apprise_instantiate

    assert body_format(apprise_instantiate(url)) == fmt


def test_plain_str_bodies_still_send_as_text(webhook: WebhookReceiver) -> None:
    """A body that is a plain str (not a Body) goes out unchanged."""
    res = AppriseSender().send(_channel(f"json://{webhook.url}/hook"), "t", "plain body", "info")
    assert res.ok and webhook.delivered[0].json()["message"] == "plain body"


def _am_config(webhook: WebhookReceiver) -> NotifyConfig:
    return NotifyConfig.model_validate(
        {
            "channels": [
                {"name": "am", "url": f"http://127.0.0.1:{webhook.port}/alerts", "format": "alertmanager"}
            ],
            "group_wait": "30s",
            "base_url": "https://logs.example.com",
        }
    )


def test_alertmanager_webhook_payload_firing_then_resolved(
    webhook: WebhookReceiver, make_pipeline: PipelineFactory, clock: Clock
) -> None:
    """format: alertmanager POSTs Alertmanager's webhook JSON (version 4) for FIRING, then RESOLVED."""
    config = _am_config(webhook)
    p = make_pipeline(config, sender=default_sender(config))
    started = clock.now
    firing = _rich_event(channels=("am",), at=started)
    p.submit([firing], clock.now)
    p.tick(clock.advance(31))
    wait_until(lambda: len(webhook.delivered) == 1, what="the firing webhook")
    doc = webhook.delivered[0].json()
    assert webhook.delivered[0].path == "/alerts"
    assert webhook.delivered[0].headers["Content-Type"] == "application/json"
    assert set(doc) == {
        "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
        "commonLabels", "commonAnnotations", "externalURL", "alerts",
    }  # fmt: skip
    assert doc["version"] == "4" and doc["status"] == "firing" and doc["receiver"] == "am"
    assert doc["groupLabels"] == {"alertname": "nginx-502-storm"}
    assert doc["groupKey"] == '{}:{alertname="nginx-502-storm"}'
    assert doc["externalURL"] == "https://logs.example.com"
    [a] = doc["alerts"]
    assert a["status"] == "firing" and a["fingerprint"] == firing.fingerprint
    assert a["labels"] == {
        "alertname": "nginx-502-storm", "severity": "critical", "team": "web", "host.name": "web1"
    }  # fmt: skip
    assert a["annotations"]["summary"] == firing.summary and a["annotations"]["logq"] == firing.logq
    assert a["startsAt"] == "2026-11-22T06:00:00.000Z" and a["endsAt"] == "0001-01-01T00:00:00Z"
    assert a["generatorURL"] == firing.link
    assert doc["commonLabels"] == a["labels"] and doc["commonAnnotations"] == a["annotations"]

    resolved_at = clock.advance(120)
    resolved = _rich_event(channels=("am",), at=resolved_at, started_at=started, state="resolved")
    p.submit([resolved], clock.now)
    p.tick(clock.advance(5 * 60))
    wait_until(lambda: len(webhook.delivered) == 2, what="the resolved webhook")
    doc = webhook.delivered[1].json()
    [a] = doc["alerts"]
    assert doc["status"] == "resolved" and a["status"] == "resolved"
    assert a["startsAt"] == "2026-11-22T06:00:00.000Z" and a["endsAt"] == "2026-11-22T06:02:31.000Z"


def test_alertmanager_webhook_failure_is_retried(
    webhook: WebhookReceiver, make_pipeline: PipelineFactory, clock: Clock
) -> None:
    """A 500 from the receiver is a failed delivery the pipeline retries, not a lost alert."""
    config = _am_config(webhook)
    p = make_pipeline(config, sender=default_sender(config))
    webhook.script.append(500)
    p.submit([_rich_event(channels=("am",))], clock.now)
    p.tick(clock.advance(31))
    assert webhook.delivered == [] and webhook.requests == 1
    p.tick(clock.advance(timedelta(minutes=6).total_seconds()))
    wait_until(lambda: len(webhook.delivered) == 1, what="the retried webhook")


@pytest.mark.parametrize(
    ("channel", "error"),
    [
        ({"url": "json://127.0.0.1/x", "format": "alertmanager"}, "format alertmanager needs a plain http"),
        ({"url": "http://127.0.0.1/x", "format": "pagerduty"}, "format"),
    ],
)
def test_channel_format_errors(channel: dict[str, Any], error: str) -> None:
    """An alertmanager channel needs an http(s) URL; an unknown format is refused."""
    with pytest.raises(ValueError, match=error):
        Channel.model_validate({"name": "c", **channel})


def test_base_url_must_be_http() -> None:
    """notify.base_url takes an http(s) URL (a trailing slash is dropped)."""
    assert NotifyConfig.model_validate({"base_url": "https://logs.example.com/"}).base_url == (
        "https://logs.example.com"
    )
    with pytest.raises(ValueError, match="base_url"):
        NotifyConfig.model_validate({"base_url": "logs.example.com"})
