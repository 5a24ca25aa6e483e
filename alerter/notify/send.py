"""Send stage: the one place that talks to apprise, plus the backoff the pipeline retries with.

One ``Apprise`` object per channel URL, built once. A delivery answers ok or failed (with apprise's
per-service reason); the pipeline decides when to retry. Channel URLs carry tokens and passwords, so
every reason is scrubbed of them and apprise's own log records pass through the same scrubber.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from urllib.parse import unquote, urlsplit

from alerter.config import Channel, Retry

_MIN_SECRET = 4


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    reason: str = ""


class Sender(Protocol):
    def send(self, channel: Channel, title: str, body: str, kind: str) -> SendResult:
        """Deliver one message to one channel. Never raises for delivery trouble."""
        ...


def url_secrets(url: str) -> list[str]:
    """Pieces of an apprise URL that must never be printed: the URL, its password, user and path tokens."""
    out = [url]
    try:
        parts = urlsplit(url)
    except ValueError:
        return out
    for piece in (parts.password, parts.username):
        if piece and len(piece) >= _MIN_SECRET:
            out += [piece, unquote(piece)]
    for seg in parts.path.split("/"):
        # Webhook tokens live in the path (slack://T/B/C, json://host/<token>): hide long segments.
        if len(seg) >= 8 and "@" not in seg:
            out.append(seg)
    for m in re.finditer(r"(?:token|secret|key|password|pass|apikey)=([^&]+)", parts.query, re.I):
        out.append(m.group(1))
    return sorted(set(out), key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "****")
    return text


class _Scrub(logging.Filter):
    """Scrubs channel secrets from apprise's own log records before any handler sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            msg = record.getMessage()
            clean = redact(msg, self.secrets)
            if clean != msg:
                record.msg, record.args = clean, None
        return True


_SCRUB = _Scrub()
# Logger filters do not apply to records propagated from child loggers, so name each emitter.
for _name in ("apprise", "urllib3.connectionpool"):
    logging.getLogger(_name).addFilter(_SCRUB)


class AppriseSender:
    def __init__(self) -> None:
        self._objs: dict[tuple[str, str], object] = {}

    def _apprise(self, channel: Channel) -> tuple[object, list[str]]:
        import apprise

        url = channel.url.get_secret_value()
        secrets = url_secrets(url)
        key = (channel.name, url)
        obj = self._objs.get(key)
        if obj is None:
            for s in secrets:
                if s not in _SCRUB.secrets:
                    _SCRUB.secrets.append(s)
            _SCRUB.secrets.sort(key=len, reverse=True)
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
            self._objs[key] = obj = ap
        return obj, secrets

    def send(self, channel: Channel, title: str, body: str, kind: str) -> SendResult:
        import apprise

        ap, secrets = self._apprise(channel)
        assert isinstance(ap, apprise.Apprise)
        try:
            result = ap.notify(
                body=body,
                title=title,
                notify_type=kind,
                body_format=apprise.NotifyFormat.TEXT,
                # A last resort only: the socket timeouts set above normally end the call first.
                timeout=channel.timeout.total_seconds(),
            )
        except Exception as e:  # apprise is a leaf: its surprises are a failed delivery, not a crash
            return SendResult(False, redact(f"{type(e).__name__}: {e}", secrets))
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
        return SendResult(False, redact("; ".join(reasons), secrets))


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
