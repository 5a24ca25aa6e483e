"""The ``alerter`` section of logwarden.yaml (owned by the alerter package's issue).

Every field has a default, so an empty section (or none) runs the rules under ``rules/``.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from logstore.config.types import Duration, Strict, StrList


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
