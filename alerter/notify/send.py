"""Send stage: the one place that talks to apprise, plus the backoff the pipeline retries with.

One ``Apprise`` object per channel URL, built once. Each service gets the body in the form it
renders best: email the HTML form (apprise sends it as multipart/alternative with a plain-text
part), a service whose apprise plugin takes Markdown (slack, discord, telegram, matrix, dingtalk,
feishu/lark, ...) the Markdown form, any other the plain text (alerter.notify.message.Body).
``ChannelSender`` picks the sender by the channel's ``format``: apprise, or our own Alertmanager
webhook (alerter.notify.webhook). A delivery answers ok or failed (with apprise's
per-service reason); the pipeline decides when to retry. Channel URLs carry tokens and passwords, so
every reason is scrubbed of them and apprise's own log records pass through the same scrubber
(``logstore.redact.SECRETS``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from alerter.config import Channel, Retry
from alerter.notify.message import Body
from logstore.redact import SECRETS, url_secrets

_MIN_SECRET = 4


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    reason: str = ""


class Sender(Protocol):
    def send(self, channel: Channel, title: str, body: str, kind: str) -> SendResult:
        """Deliver one message to one channel. Never raises for delivery trouble."""
        ...


def body_format(plugin: Any) -> str:
    """The apprise body_format a plugin renders best: HTML for email, else Markdown where it takes
    Markdown (apprise turns it into the service's own markup), else text."""
    import apprise
    from apprise.plugins.custom_form import NotifyForm
    from apprise.plugins.custom_json import NotifyJSON
    from apprise.plugins.custom_xml import NotifyXML

    native = plugin.notify_format
    formats = tuple(native) if isinstance(native, (tuple, list)) else (native,)
    if isinstance(plugin, (NotifyJSON, NotifyXML, NotifyForm)):
        # Generic webhooks accept every format and render none: a program reads them, plain text.
        return apprise.NotifyFormat.TEXT.value
    if apprise.NotifyFormat.HTML in formats:
        # Imported only here: the email module pulls in apprise's PGP support, which other
        # services never need.
        from apprise.plugins.email import NotifyEmail

        if isinstance(plugin, NotifyEmail):
            return apprise.NotifyFormat.HTML.value
    if apprise.NotifyFormat.MARKDOWN in formats:
        return apprise.NotifyFormat.MARKDOWN.value
    return apprise.NotifyFormat.TEXT.value


def body_in(fmt: str, body: str) -> str:
    """``body`` in the form ``fmt`` (a plain str, from a test or a digest, has only its text)."""
    rich = body if isinstance(body, Body) else Body(body)
    if fmt == "html":
        return rich.html
    if fmt == "markdown":
        return rich.markdown
    return str.__str__(rich)


class AppriseSender:
    def __init__(self) -> None:
        self._objs: dict[tuple[str, str], object] = {}
        self._formats: dict[tuple[str, str], str] = {}

    def _apprise(self, channel: Channel) -> object:
        import apprise

        url = channel.url.get_secret_value()
        key = (channel.name, url)
        obj = self._objs.get(key)
        if obj is None:
            SECRETS.add_secrets(url_secrets(url))
            ap = apprise.Apprise()
            plugin = apprise.Apprise.instantiate(url)
            if plugin is not None:
                # apprise sleeps up to 5.5 s between two sends of one service; pacing is our rate
                # limit's job, and that sleep would eat the channel timeout.
                plugin.request_rate_per_sec = 0
                # Keep apprise's socket timeouts inside the channel timeout: then a slow service fails
                # in apprise itself, and no abandoned worker delivers after we counted a failure and
                # scheduled a retry (which would double the message).
                budget = channel.timeout.total_seconds()
                plugin.socket_connect_timeout = min(float(plugin.socket_connect_timeout), budget * 0.4)
                plugin.socket_read_timeout = min(float(plugin.socket_read_timeout), budget * 0.5)
                ap.add(plugin)
                self._formats[key] = body_format(plugin)
            self._objs[key] = obj = ap
        return obj

    def send(self, channel: Channel, title: str, body: str, kind: str) -> SendResult:
        import apprise

        ap = self._apprise(channel)
        assert isinstance(ap, apprise.Apprise)
        fmt = self._formats.get((channel.name, channel.url.get_secret_value()), "text")
        try:
            result = ap.notify(
                body=body_in(fmt, body),
                title=title,
                notify_type=kind,
                body_format=fmt,
                # A last resort only: the socket timeouts set above normally end the call first.
                timeout=channel.timeout.total_seconds(),
            )
        except Exception as e:  # apprise is a leaf: its surprises are a failed delivery, not a crash
            return SendResult(False, SECRETS.clean(f"{type(e).__name__}: {e}"))
        if result:
            return SendResult(True)
        reasons = []
        for svc in result.results:
            if svc:
                continue
            logs = [entry.message for entry in svc.logs() if entry.level in ("ERROR", "WARNING")]
            detail = logs[-1] if logs else ""
            reasons.append(f"{svc.name} {svc.status.name.lower()}" + (f": {detail}" if detail else ""))
        if not reasons:
            reasons.append(f"apprise status {result.status.name.lower()}")
        return SendResult(False, SECRETS.clean("; ".join(reasons)))


class ChannelSender:
    """Sends each channel with the sender of its ``format`` (one dict, wired in build_notifier)."""

    def __init__(self, senders: Mapping[str, Sender]) -> None:
        self._senders = dict(senders)

    def send(self, channel: Channel, title: str, body: str, kind: str) -> SendResult:
        sender = self._senders.get(channel.format)
        if sender is None:
            return SendResult(False, f"no sender for channel format {channel.format!r}")
        return sender.send(channel, title, body, kind)


class Backoff:
    """Exponential backoff with +-jitter, capped: initial * factor**(attempt-1)."""

    def __init__(self, config: Retry, rng: random.Random | None = None) -> None:
        self._config = config
        self._rng = rng or random.Random()

    def delay(self, attempt: int) -> timedelta:
        c = self._config
        base = min(c.max.total_seconds(), c.initial.total_seconds() * c.factor ** max(0, attempt - 1))
        spread = base * c.jitter
        return timedelta(seconds=max(0.0, base + self._rng.uniform(-spread, spread)))
