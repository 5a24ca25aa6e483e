"""Deep validation of notify channels: does apprise understand each URL?

Kept out of the config model because importing apprise costs about a second, which every logq and
shipper start would pay. ``alerter check`` and ``build_notifier`` (``alerter run``) call it. Errors
are ``file:line: notify.channels[i].url: ...`` lines and never contain the URL (it may hold secrets).
"""

from __future__ import annotations

from pathlib import Path

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


def check_channels(config: Config) -> list[str]:
    """One line per channel URL apprise cannot use; [] when all are fine."""
    bad = [
        (i, ch)
        for i, ch in enumerate(config.notify.channels)
        # An alertmanager channel is a plain http(s) URL we POST to ourselves; the model checked it.
        if ch.format == "apprise" and apprise_instantiate(ch.url.get_secret_value()) is None
    ]
    if not bad:
        return []
    marks = _marks(config)
    out = []
    for i, ch in bad:
        loc = ("notify", "channels", i, "url")
        line = line_for(marks, loc)
        where = f"{config.source}:{line}" if line is not None else config.source
        scheme = ch.url.get_secret_value().partition("://")[0]
        out.append(
            f"{where}: notify.channels[{i}].url: apprise does not understand this {scheme}:// URL"
            f" (channel {ch.name!r}; see apprise's URL syntax)"
        )
    return out
