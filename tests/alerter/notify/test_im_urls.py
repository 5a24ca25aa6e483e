"""The chat-service URLs the README documents reach their service, and look-alike schemes are refused.

apprise posts to each service's public host; here requests is pointed at a local receiver instead
(the path keeps the host), so the real plugin builds and sends the real request.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from alerter.config import Channel
from alerter.notify.send import AppriseSender
from logwarden.config import Config
from tests.alerter.notify.receivers import WebhookReceiver

README = Path(__file__).parents[3] / "README.md"
SAMPLES = {
    "TOKEN_A": "T1JJ3T3L2",
    "TOKEN_B": "A1BRTD4JD",
    "TOKEN_C": "TIiajkdnlazkcOXrIdevi7FQ",
    "ACCESS_TOKEN": "abcdef0123456789",
    "BOT_TOKEN": "123456789:ABCdefGHIjklMNOpqrSTUvwxYZ",
    "CHAT_ID": "-1001234567890",
    "WEBHOOK_ID": "1234567890",
    "WEBHOOK_TOKEN": "abcdefghijklmnopqrstuvwxyz",
    "TOKEN": "abcdefghijkl",
    "KEY": "abcdefghijkl",
}
HOSTS = {
    "slack": "hooks.slack.com",
    "dingtalk": "oapi.dingtalk.com",
    "wecombot": "qyapi.weixin.qq.com",
    "feishu": "open.feishu.cn",
    "lark": "open.larksuite.com",
    "tgram": "api.telegram.org",
    "discord": "discord.com",
}


def documented_urls() -> list[tuple[str, str]]:
    """(service, url) rows of the README's im-urls table."""
    text = README.read_text()
    table = text[text.index("<!-- im-urls") : text.index("<!-- /im-urls -->")]
    return re.findall(r"^\| ([^|]+?) \| `([a-z]+://[^`]+)` \|$", table, re.M)


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    import requests

    r = WebhookReceiver().start()
    original = requests.sessions.Session.request

    def to_local(self: Any, method: str, url: str, *args: Any, **kw: Any) -> Any:
        p = urlsplit(url)
        local = f"http://127.0.0.1:{r.port}/{p.netloc}{p.path}" + (f"?{p.query}" if p.query else "")
        return original(self, method, local, *args, **kw)

    monkeypatch.setattr(requests.sessions.Session, "request", to_local)
    try:
        yield r
    finally:
        r.stop()


def test_the_readme_documents_every_service_tested_here() -> None:
    """The README's table lists one URL per chat service, each of a scheme this test knows the host of."""
    schemes = [url.partition("://")[0] for _, url in documented_urls()]
    assert sorted(schemes) == sorted(HOSTS)


@pytest.mark.parametrize("service,url", documented_urls(), ids=lambda v: v.partition("://")[0])
def test_documented_url_delivers_to_its_service(receiver: WebhookReceiver, service: str, url: str) -> None:
    """Each documented URL shape, filled in, is accepted and delivers title and body to its service's host."""
    filled = re.sub(r"[A-Z][A-Z_]+", lambda m: SAMPLES.get(m.group(0), m.group(0)), url)
    scheme = filled.partition("://")[0]
    receiver.reply = b"ok" if scheme == "slack" else b'{"ok": true, "errcode": 0, "code": 0}'
    result = AppriseSender().send(Channel(name="c", url=filled), "TITLE-502", "BODY-storm", "failure")
    assert result.ok, f"{service}: {result.reason}"
    (delivery,) = receiver.delivered
    assert delivery.path.startswith(f"/{HOSTS[scheme]}/"), delivery.path
    assert b"TITLE-502" in delivery.body and b"BODY-storm" in delivery.body


def _check(url: str) -> list[str]:
    from alerter.notify import check_channels

    config = Config.model_validate({"notify": {"channels": [{"name": "team", "url": url}]}})
    return check_channels(config)


@pytest.mark.parametrize(
    "url,hint",
    [
        ("wecom://abcdefghijkl", "for a WeCom group robot use wecombot://"),
        ("telegram://123456789:ABCdef/12345", "for a Telegram bot use tgram://"),
    ],
)
def test_check_refuses_a_look_alike_scheme_naming_the_right_one(url: str, hint: str) -> None:
    """check: a scheme apprise resolves to another service (or none) names what apprise took and the fix."""
    (err,) = _check(url)
    assert f"notify.channels[0].url: {url.partition('://')[0]}:// is " in err and hint in err
    assert "abcdefghijkl" not in err and "ABCdef" not in err


def test_check_accepts_every_documented_url() -> None:
    """check: every README chat URL, filled in, passes."""
    for _, url in documented_urls():
        filled = re.sub(r"[A-Z][A-Z_]+", lambda m: SAMPLES.get(m.group(0), m.group(0)), url)
        assert _check(filled) == [], url


def test_check_prints_the_service_each_channel_resolved_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`alerter check` names the service apprise will send each channel to (a surprise shows there)."""
    from alerter.cli import main

    cfg = tmp_path / "logwarden.yaml"
    rules = tmp_path / "rules"
    rules.mkdir()
    cfg.write_text(
        f"store:\n  sqlite: {{path: {tmp_path / 'db.sqlite'}}}\nalerter:\n  rules: [{rules}]\n"
        "notify:\n  channels:\n    - {name: team, url: 'dingtalk://abcdef0123456789/'}\n"
    )
    assert main(["check", "-c", str(cfg)]) == 0
    assert "notify.channels: team -> DingTalk" in capsys.readouterr().out
