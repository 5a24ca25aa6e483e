"""Deep validation of notify channels: does apprise understand each URL?

Kept out of the config model because importing apprise costs about a second, which every logq and
shipper start would pay. ``alerter check`` and ``build_notifier`` (``alerter run``) call it. Errors
are ``file:line: notify.channels[i].url: ...`` lines and never contain the URL (it may hold secrets).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alerter.config import apprise_instantiate
from logstore.config import Marks, YamlError, line_for, load_yaml
from logwarden.config import Config


def _marks(config: Config) -> Marks:
    if config.source == "<defaults>":
        return {}
    try:
        _, marks = load_yaml(Path(config.source))
    except YamlError:
        return {}
    return marks


# Schemes people write for a service that apprise spells otherwise: the service they most likely
# meant and apprise's scheme for it. apprise may take such a scheme for another service (wecom:// was
# Pushplus in some releases) or for none; either way the message would not reach the team.
LIKELY_MEANT: dict[str, tuple[str, str]] = {
    "telegram": ("a Telegram bot", "tgram"),
    "wecom": ("a WeCom group robot", "wecombot"),
    "wechat": ("a WeCom group robot", "wecombot"),
    "weixin": ("a WeCom group robot", "wecombot"),
    "teams": ("Microsoft Teams", "msteams"),
    "email": ("e-mail", "mailtos"),
    "smtp": ("e-mail", "mailtos"),
    "webhook": ("a JSON webhook", "json"),
    "http": ("a JSON webhook", "json"),
    "https": ("a JSON webhook", "jsons"),
}


def _schemes(plugin: Any) -> set[str]:
    out: set[str] = set()
    for attr in ("protocol", "secure_protocol"):
        value = getattr(plugin, attr, None)
        out.update([value] if isinstance(value, str) else (value or ()))
    return out


def service_name(plugin: Any) -> str:
    return str(getattr(plugin, "service_name", None) or type(plugin).__name__)


def _problem(url: str) -> str | None:
    scheme = url.partition("://")[0].lower()
    plugin = apprise_instantiate(url)
    meant = LIKELY_MEANT.get(scheme)
    if meant is not None and (plugin is None or meant[1] not in _schemes(plugin)):
        what, use = meant
        got = "not a service" if plugin is None else service_name(plugin)
        return f"{scheme}:// is {got} in apprise; for {what} use {use}://"
    if plugin is None:
        return f"apprise does not understand this {scheme}:// URL"
    return None


def check_channels(config: Config) -> list[str]:
    """One line per channel URL apprise cannot use, or would take for another service; [] when fine."""
    bad = [
        (i, ch, why)
        for i, ch in enumerate(config.notify.channels)
        # An alertmanager channel is a plain http(s) URL we POST to ourselves; the model checked it.
        if ch.format == "apprise" and (why := _problem(ch.url.get_secret_value()))
    ]
    if not bad:
        return []
    marks = _marks(config)
    out = []
    for i, ch, why in bad:
        loc = ("notify", "channels", i, "url")
        line = line_for(marks, loc)
        where = f"{config.source}:{line}" if line is not None else config.source
        out.append(
            f"{where}: notify.channels[{i}].url: {why} (channel {ch.name!r}; see apprise's URL syntax)"
        )
    return out


def channel_services(config: Config) -> str | None:
    """``notify.channels: oncall -> E-Mail, chat -> DingTalk``: the service apprise will send to."""
    pairs = []
    for ch in config.notify.channels:
        plugin = apprise_instantiate(ch.url.get_secret_value())
        if plugin is not None:
            pairs.append(f"{ch.name} -> {service_name(plugin)}")
    return f"notify.channels: {', '.join(pairs)}" if pairs else None
