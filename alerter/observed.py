"""Everything the alerter reports: one typed event per kind, each logging one JSON line and counting.

(``alerter.events`` is taken: it holds the alert events the rules produce, not what the process
observes about itself.) ``emit(Event(...))`` (logstore.observe) updates the event's metric from
``alerter.metrics`` and logs its sentence with the fields as keys. The sentences and keys are the
ones operators already grep for; the metric names are stable (dashboards depend on them). Events
without a metric say why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from alerter import metrics
from logstore.observe import Event


class _Engine(Event):
    logger = "alerter.engine"


class _Runner(Event):
    logger = "alerter.runner"


class _Notify(Event):
    logger = "alerter.notify"


# ---- evaluation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupsTruncated(_Engine):
    message = "rule has more groups than alerter.group_limit; only the first are judged"
    level = logging.WARNING
    metric = metrics.TRUNCATED
    rule: str
    group_limit: int
    groups_total: int | None


@dataclass(frozen=True)
class RuleFailed(_Engine):
    """alerter_evaluations_total{result="error"} counts it where the result is decided."""

    message = "rule evaluation failed"
    level = logging.WARNING
    rule: str
    error: str
    failures: int


@dataclass(frozen=True)
class SamplesUnavailable(_Engine):
    """Samples are a courtesy: the alert goes out without them, so no metric."""

    message = "could not fetch sample lines"
    level = logging.WARNING
    query: str
    error: str


@dataclass(frozen=True)
class TopValuesUnavailable(_Engine):
    """Top values are a courtesy like samples: the alert goes out without them, so no metric."""

    message = "could not count top values"
    level = logging.WARNING
    query: str
    error: str


@dataclass(frozen=True)
class AlertDocsNotWritten(_Engine):
    message = "could not write alert documents"
    level = logging.ERROR
    metric = metrics.DOCS_DROPPED
    amount = "count"
    count: int
    error: str


@dataclass(frozen=True)
class AlertDocsRefused(_Engine):
    message = "store refused alert documents"
    level = logging.ERROR
    metric = metrics.DOCS_DROPPED
    amount = "count"
    count: int
    reason: str


# ---- the loop -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleFileInvalid(_Runner):
    """alerter_rule_file_errors (a gauge) counts the files in this state."""

    message = "rule file has errors; keeping its previous version"
    level = logging.ERROR
    error: Any


@dataclass(frozen=True)
class RuleSetInvalid(_Runner):
    """Counted with the files by alerter_rule_file_errors."""

    message = "rule set has errors"
    level = logging.ERROR
    error: Any


@dataclass(frozen=True)
class RulesLoaded(_Runner):
    """alerter_rules (a gauge) holds the number."""

    message = "rules loaded"
    rules: int


@dataclass(frozen=True)
class TickSkipped(_Runner):
    message = "rule still running; skipping this tick"
    level = logging.WARNING
    metric = metrics.SKIPPED
    rule: str
    tick: str


@dataclass(frozen=True)
class EvaluationBatchFailed(_Runner):
    message = "evaluation batch failed"
    level = logging.ERROR
    metric = metrics.FAILURES
    labels = ("stage",)
    error: str
    stage: str = "evaluate"


@dataclass(frozen=True)
class RuleReloadFailed(_Runner):
    message = "rule reload failed"
    level = logging.ERROR
    metric = metrics.FAILURES
    labels = ("stage",)
    error: str
    stage: str = "reload"


@dataclass(frozen=True)
class NotifierTickFailed(_Runner):
    message = "notifier tick failed"
    level = logging.ERROR
    metric = metrics.FAILURES
    labels = ("stage",)
    error: str
    stage: str = "notify"


@dataclass(frozen=True)
class Stopping(_Runner):
    """Once per process."""

    message = "stopping: waiting for running evaluations"
    running: int


# ---- notifications --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertUnrouted(_Notify):
    """No channel to carry it: the log line is the notification of last resort, so it names the alert."""

    message = "alert not routed to any channel"
    level = logging.ERROR
    metric = metrics.NOTIFY_DROPPED
    labels = ("reason",)
    rule: str
    state: str
    fingerprint: str
    targets: list[str]
    alert: str
    reason: str = "unrouted"

    def sentence(self) -> str:
        return f"{self.message}: {self.alert}"


@dataclass(frozen=True)
class NotificationSilenced(_Notify):
    message = "notification silenced"
    metric = metrics.NOTIFY_DROPPED
    labels = ("reason",)
    channel: str
    rule: str
    state: str
    silence: str
    reason: str = "silenced"


@dataclass(frozen=True)
class RateLimited(_Notify):
    """The alerts are not lost: alerter_notify_events_digested_total counts them when the digest goes."""

    message = "rate limit reached; alerts wait for the next digest"
    level = logging.WARNING
    channel: str
    alerts: int
    resume_at: str


@dataclass(frozen=True)
class NotificationSent(_Notify):
    """One message: counts the message (by kind) and the alerts in it (and in a digest, as digested)."""

    message = "notification sent"
    metric = metrics.NOTIFY_SENT
    labels = ("channel",)
    amount = "alerts"
    also = (metrics.NOTIFY_MESSAGES, metrics.NOTIFY_DIGESTED)
    channel: str
    title: str
    alerts: int
    digest: bool

    def update_metrics(self) -> None:
        super().update_metrics()
        metrics.NOTIFY_MESSAGES.labels(self.channel, "digest" if self.digest else "group").inc()
        if self.digest:
            metrics.NOTIFY_DIGESTED.labels(self.channel).inc(self.alerts)


@dataclass(frozen=True)
class NotificationFailed(_Notify):
    message = "notification failed; will retry"
    level = logging.WARNING
    metric = metrics.NOTIFY_FAILURES
    labels = ("channel",)
    channel: str
    reason: str
    alerts: int
    attempt: int
    retry_at: str


@dataclass(frozen=True)
class DeliveryFailed(_Notify):
    message = "notification delivery failed"
    level = logging.ERROR
    metric = metrics.FAILURES
    labels = ("stage",)
    error: str
    stage: str = "deliver"


# Housekeeping of the notification state: no metrics, each says why.


@dataclass(frozen=True)
class LogPruneFailed(_Notify):
    """Retention is housekeeping: tried again within the hour."""

    message = "notification log prune failed"
    level = logging.WARNING
    error: str


@dataclass(frozen=True)
class SentNotRecorded(_Notify):
    """Delivered (and counted as sent); the record is written again on the next tick."""

    message = "could not record a sent notification; will retry"
    level = logging.WARNING
    error: str


@dataclass(frozen=True)
class FailureNotRecorded(_Notify):
    """NotificationFailed already counted and logged the failure; only the console's record of it
    (the notification log) misses this one."""

    message = "could not record a failed delivery in the notification log"
    level = logging.WARNING
    channel: str
    error: str


@dataclass(frozen=True)
class ClaimsNotReleased(_Notify):
    """The lease ends the claim anyway; the failed send is counted by NotificationFailed."""

    message = "could not release claims after a failed send"
    level = logging.WARNING
    error: str


@dataclass(frozen=True)
class GroupNotPersisted(_Notify):
    """The group lives on in memory and is written again on its next change or flush."""

    message = "could not persist a pending group"
    level = logging.ERROR
    channel: str
    error: str


@dataclass(frozen=True)
class GroupNotDeleted(_Notify):
    """A leftover group doc costs at most one dedup look after a restart."""

    message = "could not delete a finished group"
    level = logging.WARNING
    error: str
