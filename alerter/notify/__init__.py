"""alerter.notify: the notification pipeline behind ``alerter.events.Notifier``.

``build_notifier(config, store)`` wires the stages (see ``pipeline``) to the durable state of the
configured backend (SQLite tables or the Elasticsearch state index) and to apprise.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

from alerter.config import NotifyConfig
from alerter.notify.check import check_channels
from alerter.notify.pipeline import NotificationPipeline
from alerter.notify.send import AppriseSender, Backoff, ChannelSender, Sender, SendResult
from alerter.notify.state import NotifyState, open_state
from alerter.notify.webhook import AlertmanagerWebhook
from logstore.config import ConfigError
from logstore.redact import SECRETS, url_secrets
from logwarden.config import Config

__all__ = [
    "AppriseSender",
    "NotificationPipeline",
    "NotifyState",
    "SendResult",
    "Sender",
    "build_notifier",
    "check_channels",
    "open_state",
]


def default_sender(notify: NotifyConfig) -> Sender:
    """One sender per channel ``format``: the only place formats are wired."""
    return ChannelSender({"apprise": AppriseSender(), "alertmanager": AlertmanagerWebhook(notify.base_url)})


def build_notifier(
    config: Config,
    store: Any,
    *,
    clock: Callable[[], datetime] | None = None,
    sender: Sender | None = None,
    owner: str | None = None,
    state: NotifyState | None = None,
    rng: random.Random | None = None,
) -> NotificationPipeline:
    """The Notifier for ``config``. ``sender`` replaces apprise (tests); ``owner`` names this replica.

    Raises ConfigError (one line, exit 2) when apprise cannot use a channel URL.
    """
    # Channel URLs are secrets: apprise's own DEBUG lines print them whole, tokens and all.
    SECRETS.add_secrets(s for ch in config.notify.channels for s in url_secrets(ch.url.get_secret_value()))
    if sender is None:
        errors = check_channels(config)
        if errors:
            raise ConfigError(errors[0])
    return NotificationPipeline(
        config.notify,
        state if state is not None else open_state(config, store),
        sender if sender is not None else default_sender(config.notify),
        owner=owner,
        backoff=Backoff(config.notify.retry, rng),
        clock=clock,
    )
