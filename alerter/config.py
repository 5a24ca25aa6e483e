"""The alerter's sections of logwarden.yaml: ``alerter`` (rules, workers, batching, state, metrics)
and ``notify`` (channels, routes, grouping, dedup, rate limits, retries).

Every field has a default, so a config without ``alerter:`` runs the rules under ``rules/``, and
one without ``notify:`` loads (and simply has no channels).
Channel URLs are apprise URLs and carry secrets (tokens, passwords): they are ``SecretStr`` so they
never show up in a repr, a dump, a log line or an error message.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from logstore.config import Duration, Strict, StrList

# The channel name that receives meta-alerts (a rule failing N ticks in a row).
META_CHANNEL = "alerter"
# Without a channel named "alerter", meta-alerts go to channels carrying this tag.
META_FALLBACK_TAG = "ops"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")
_HTTP = re.compile(r"^https?://[^\s/]+\S*$")


class RateLimit(Strict):
    """At most ``count`` messages per ``per`` on one channel; the overflow becomes one digest."""

    count: int = Field(default=20, ge=1)
    per: Duration = timedelta(minutes=1)
    # How many alerts a digest shows before "and N more alerts".
    sample: int = Field(default=5, ge=0)


class Retry(Strict):
    """Exponential backoff with jitter for a channel that failed; we never give up on our own."""

    initial: Duration = timedelta(seconds=2)
    max: Duration = timedelta(minutes=5)
    factor: float = Field(default=2.0, ge=1.0)
    jitter: float = Field(default=0.2, ge=0.0, le=1.0)  # +- this fraction of the delay


class Channel(Strict):
    name: str = Field(min_length=1)
    url: SecretStr  # any apprise URL: mailto://, json://, slack://, dingtalk://, ...
    tags: StrList = Field(default_factory=list)
    rate_limit: RateLimit | None = None  # None: notify.rate_limit
    # Time one delivery may take before it counts as failed (then retried). apprise's own socket
    # timeouts are capped inside it, so a slow service cannot deliver after we gave up on it.
    timeout: Duration = timedelta(seconds=10)
    # "apprise": the URL is an apprise URL. "alertmanager": POST Alertmanager's webhook JSON to a
    # plain http(s):// URL, for receivers written for Alertmanager (alerter.notify.webhook).
    format: Literal["apprise", "alertmanager"] = "apprise"

    @field_validator("url")
    @classmethod
    def _url_shape(cls, v: SecretStr) -> SecretStr:
        # Only the shape here: asking apprise whether it knows the URL costs ~1 s of imports, which
        # every logq run would pay. `alerter check` and `alerter run` ask apprise (alerter.notify.check).
        raw = v.get_secret_value().strip()
        if not _URL.match(raw):
            raise ValueError("expected an apprise URL like json://host/path or mailto://user@host")
        return SecretStr(raw)

    @model_validator(mode="after")
    def _format_url(self) -> Channel:
        if self.format == "alertmanager" and not _HTTP.match(self.url.get_secret_value()):
            raise ValueError("format alertmanager needs a plain http:// or https:// URL of the receiver")
        return self


class Route(Strict):
    """Extra channels for events matching every given condition (severity and/or labels)."""

    severity: StrList = Field(default_factory=list)  # empty: any severity
    labels: dict[str, str] = Field(default_factory=dict)  # all must equal
    rules: StrList = Field(default_factory=list)  # empty: any rule
    channels: StrList = Field(min_length=1)  # channel names or tags


def _check_matchers(v: list[str]) -> list[str]:
    # Deferred import: alerter.notify imports this module (its package __init__ loads the pipeline).
    from alerter.notify.matchers import MatcherError, parse_matcher

    for text in v:
        try:
            parse_matcher(text)
        except MatcherError as e:
            raise ValueError(str(e)) from None
    return v


class Inhibit(Strict):
    """While an alert matching ``source_matchers`` fires, mute alerts matching ``target_matchers``
    that have the same values for every ``equal`` field (Alertmanager's inhibit_rules)."""

    source_matchers: StrList = Field(min_length=1)  # e.g. ["rule=service-down"]
    target_matchers: StrList = Field(min_length=1)  # e.g. ["rule=~error-rate|latency"]
    equal: StrList = Field(default_factory=list)  # group fields or labels, e.g. [service.name]

    _m = field_validator("source_matchers", "target_matchers")(_check_matchers)


class NotifyConfig(Strict):
    channels: list[Channel] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    inhibit: list[Inhibit] = Field(default_factory=list)
    # What makes one notification: "rule", "severity", "state", a group/label key, or "..." (every
    # group field: one message per alert instance).
    group_by: StrList = Field(default_factory=lambda: ["rule"])
    group_wait: Duration = timedelta(seconds=30)
    group_interval: Duration = timedelta(minutes=5)
    repeat_interval: Duration = timedelta(hours=4)
    send_resolved: bool = True
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    retry: Retry = Field(default_factory=Retry)
    # How long the notification log (dedup memory) is kept; must outlive repeat_interval.
    log_retention: Duration = timedelta(days=7)
    # HA: a claim this old without a "sent" mark may be taken over by another alerter.
    claim_lease: Duration = timedelta(minutes=2)
    # The web console's address (the logwarden server's): each alert then links to its page there,
    # {base_url}/ui/alerts/{rule}?fingerprint=...&query=...&from=...&to=...
    base_url: str | None = None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        if v is not None and not _HTTP.match(v.strip()):
            raise ValueError("expected an http:// or https:// URL like https://logs.example.com")
        return v.strip().rstrip("/") if v is not None else None

    @field_validator("channels")
    @classmethod
    def _unique_names(cls, v: list[Channel]) -> list[Channel]:
        seen: set[str] = set()
        for ch in v:
            if ch.name in seen:
                raise ValueError(f"channel name {ch.name!r} is used twice")
            seen.add(ch.name)
        return v

    @model_validator(mode="after")
    def _targets_exist(self) -> NotifyConfig:
        if self.log_retention < self.repeat_interval:
            raise ValueError("log_retention must be at least repeat_interval, or alerts would repeat early")
        for i, route in enumerate(self.routes):
            unknown = self.unknown_targets(route.channels)
            if unknown:
                raise ValueError(f"routes[{i}]: no channel named or tagged {unknown[0]!r}")
        return self

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)

    def unknown_targets(self, targets: list[str] | tuple[str, ...]) -> list[str]:
        """Targets (a rule's ``notify`` list) that name no channel and no tag; ``alerter`` is always known."""
        known = {c.name for c in self.channels} | {t for c in self.channels for t in c.tags} | {META_CHANNEL}
        return [t for t in targets if t not in known]

    def rate_limit_for(self, channel: str) -> RateLimit:
        ch = self.channel(channel)
        return ch.rate_limit if ch is not None and ch.rate_limit is not None else self.rate_limit

    def redacted(self) -> dict[str, Any]:
        """A dump safe to print: URLs shown as apprise's privacy form."""
        out = self.model_dump(mode="json")
        for ch, raw in zip(out["channels"], self.channels, strict=True):
            ch["url"] = privacy_url(raw.url.get_secret_value())
        return out


class _Mute(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


def apprise_instantiate(url: str) -> Any:
    """apprise's parser, with its log muted: it echoes URLs (path tokens included) at debug level."""
    # Deferred import: apprise loads its plugin table on first use (~0.2 s), only pay when needed.
    import apprise

    logger = logging.getLogger("apprise")
    mute = _Mute()
    logger.addFilter(mute)
    try:
        return apprise.Apprise.instantiate(url)
    finally:
        logger.removeFilter(mute)


def privacy_url(url: str) -> str:
    """apprise's own obfuscated form (tokens and passwords starred), or just the scheme."""
    plugin = apprise_instantiate(url)
    if plugin is None:
        return url.partition("://")[0] + "://****"
    return str(plugin.url(privacy=True))


# ---- the alerter section ----------------------------------------------------------------------


class AlerterMetricsConfig(Strict):
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=0, le=65535)  # None: no /healthz or /metrics; 0: any free port


class AlerterStateConfig(Strict):
    # Resolved / ok instances untouched for this long are forgotten (keeps the state table small).
    retention: Duration = timedelta(days=7)


class AlerterConfig(Strict):
    # Files or directories (their *.yaml / *.yml, not recursive, so rules/tests/ holds fixtures).
    rules: StrList = Field(default_factory=lambda: ["rules/"])
    workers: int = Field(default=4, ge=1, le=64)
    # Rules due on the same tick share one store round trip, in batches of at most this many.
    batch_size: int = Field(default=50, ge=1, le=1000)
    # A rule whose last run took longer than this runs alone, so it cannot hold a batch back.
    slow_rule: Duration = timedelta(seconds=5)
    # Consecutive failed ticks of one rule before a meta-alert goes to the `alerter` channel.
    failures_before_meta_alert: int = Field(default=3, ge=1)
    # How often rule files are checked for changes (mtime poll).
    reload_interval: Duration = timedelta(seconds=5)
    # Groups per rule and evaluation; more set `truncated`, which is reported, never cut silently.
    group_limit: int = Field(default=1000, ge=1, le=100000)
    state: AlerterStateConfig = Field(default_factory=AlerterStateConfig)
    metrics: AlerterMetricsConfig = Field(default_factory=AlerterMetricsConfig)
