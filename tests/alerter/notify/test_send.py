"""Send stage: apprise against real local receivers (webhook, Mattermost-style, SMTP), failures
classified per service, secrets scrubbed, and the backoff schedule."""

from __future__ import annotations

import logging
import random
from datetime import timedelta

import pytest

from alerter.config import Channel, Retry
from alerter.notify.send import AppriseSender, Backoff
from logstore.redact import SecretFilter, url_secrets
from tests.alerter.notify.receivers import SmtpReceiver, WebhookReceiver, free_port, wait_until


def _channel(url: str, timeout: str = "5s") -> Channel:
    return Channel.model_validate({"name": "c", "url": url, "timeout": timeout})


def test_json_webhook_receives_title_body_and_type(webhook: WebhookReceiver) -> None:
    """json:// posts one JSON document with our title, body and notify type."""
    res = AppriseSender().send(
        _channel(f"json://{webhook.url}/hook"), "[CRITICAL] FIRING r", "body", "failure"
    )
    assert res.ok, res.reason
    [d] = webhook.delivered
    doc = d.json()
    assert d.path == "/hook" and doc["title"] == "[CRITICAL] FIRING r" and doc["message"] == "body"
    assert doc["type"] == "failure"


def test_mattermost_style_webhook_on_localhost(webhook: WebhookReceiver) -> None:
    """A Slack-like incoming webhook (mmost://) can be pointed at localhost and is delivered."""
    res = AppriseSender().send(
        _channel(f"mmost://{webhook.url}/abcdefghijklmnopqrstuvwxyz"), "t", "b", "info"
    )
    assert res.ok, res.reason
    [d] = webhook.delivered
    assert d.path == "/hooks/abcdefghijklmnopqrstuvwxyz" and "b" in d.json()["text"]


def test_mailto_plain_smtp_delivers_one_email(smtp: SmtpReceiver) -> None:
    """mailto:// without TLS reaches a local SMTP server with our subject and body."""
    url = f"mailto://127.0.0.1:{smtp.port}?from=alerts@example.com&to=ops@example.com"
    res = AppriseSender().send(_channel(url), "[CRITICAL] FIRING r", "value: 62", "failure")
    assert res.ok, res.reason
    wait_until(lambda: len(smtp.messages) == 1, what="one email")
    msg = smtp.messages[0]
    assert msg["Subject"] == "[CRITICAL] FIRING r" and "ops@example.com" in msg["To"]
    assert "value: 62" in msg.get_payload(decode=False) or "value: 62" in str(msg)


@pytest.mark.parametrize("fault", [500, "drop"])
def test_http_failures_are_reported_not_raised(webhook: WebhookReceiver, fault: object) -> None:
    """HTTP 500 or a dropped connection answers ok=False with apprise's per-service reason."""
    webhook.script.append(fault)  # type: ignore[arg-type]
    res = AppriseSender().send(_channel(f"json://{webhook.url}/hook"), "t", "b", "info")
    assert not res.ok and res.reason and webhook.delivered == []


def test_connection_refused_is_a_failure() -> None:
    """Nobody listening: ok=False, no exception."""
    res = AppriseSender().send(_channel(f"json://127.0.0.1:{free_port()}/hook"), "t", "b", "info")
    assert not res.ok and "failure" in res.reason.lower()


def test_timeout_is_a_failure_within_the_channel_timeout(webhook: WebhookReceiver) -> None:
    """A receiver that never answers counts as a failed delivery after the channel's timeout."""
    webhook.script.append("hang")
    res = AppriseSender().send(_channel(f"json://{webhook.url}/hook?rto=1", timeout="1s"), "t", "b", "info")
    webhook.release.set()
    assert not res.ok and webhook.delivered == []


def test_secrets_never_reach_reasons_or_logs(
    webhook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing URL with a password: neither the reason nor any log record shows the password."""
    webhook.script.append(500)
    url = f"json://bob:hunter2secret@{webhook.url}/tok3nvalue123"
    with caplog.at_level(logging.DEBUG):
        res = AppriseSender().send(_channel(url), "t", "b", "info")
    assert not res.ok
    assert "hunter2secret" not in res.reason and "tok3nvalue123" not in res.reason
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "hunter2secret" not in text and "tok3nvalue123" not in text


def test_redact_hides_password_user_and_path_tokens() -> None:
    """url_secrets/redact star the password, long path tokens and token= query values."""
    url = "slack://T1234567/B7654321/abcdefghijklmnop?token=zzzsecret"
    f = SecretFilter()
    f.add_secrets(url_secrets(url))
    text = f.clean(f"failed {url} abcdefghijklmnop zzzsecret")
    assert "abcdefghijklmnop" not in text and "zzzsecret" not in text


def test_backoff_grows_exponentially_with_bounded_jitter_and_cap() -> None:
    """Delays double from initial, stay within +-jitter, and never exceed max (plus jitter)."""
    b = Backoff(Retry(initial=timedelta(seconds=2), max=timedelta(seconds=60), jitter=0.2), random.Random(1))
    delays = [b.delay(n).total_seconds() for n in range(1, 9)]
    for n, d in enumerate(delays[:5], start=1):
        assert 0.8 * 2 * 2 ** (n - 1) <= d <= 1.2 * 2 * 2 ** (n - 1)
    assert all(48 <= d <= 72 for d in delays[5:])
