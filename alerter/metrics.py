"""The alerter's own Prometheus metrics (default registry), one place so names stay stable.

The notification pipeline's are here too (``NOTIFY_*``). Everything the alerter also logs is an event
in ``alerter.observed`` that names its metric from here. docs/metrics.md is generated from this
module (``python -m tests.test_metrics_doc``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVALUATIONS = Counter("alerter_evaluations_total", "Rule evaluations by result", ["result"])
EVAL_SECONDS = Histogram("alerter_evaluation_duration_seconds", "Time to evaluate one batch of due rules")
TRANSITIONS = Counter("alerter_transitions_total", "State transitions of alert instances", ["state"])
EVENTS_SENT = Counter(
    "alerter_events_sent_total", "Alert events handed to the notification pipeline", ["state"]
)
DOCS_DROPPED = Counter("alerter_events_dropped_total", "Alert documents the store did not take")
TRUNCATED = Counter(
    "alerter_groups_truncated_total", "Evaluations where the store had more groups than `group_limit`"
)
SKIPPED = Counter("alerter_runs_skipped_total", "Rule ticks skipped because the previous run was still going")
FAILURES = Counter(
    "alerter_loop_failures_total",
    "Unexpected errors caught by a loop that keeps running, by stage (evaluate, reload, notify, deliver)",
    ["stage"],
)
RULES = Gauge("alerter_rules", "Rules loaded and scheduled")
LOAD_ERRORS = Gauge(
    "alerter_rule_file_errors",
    "Rule files whose latest version does not validate (the previous version keeps running)",
)

# ---- the notification pipeline -------------------------------------------------------------------

NOTIFY_RECEIVED = Counter(
    "alerter_notify_events_received_total", "Alert state changes handed to the notification pipeline"
)
NOTIFY_SENT = Counter(
    "alerter_notify_events_sent_total", "Alerts delivered (inside a message or a digest)", ["channel"]
)
NOTIFY_DROPPED = Counter(
    "alerter_notify_events_dropped_total",
    "Alerts not sent on purpose, by reason: silenced, unrouted, duplicate, resolved_unsent, "
    "peer_sent (another replica sent it)",
    ["reason"],
)
NOTIFY_DIGESTED = Counter(
    "alerter_notify_events_digested_total", "Alerts folded into a rate-limit digest", ["channel"]
)
NOTIFY_MESSAGES = Counter(
    "alerter_notify_messages_sent_total", "Messages delivered (kind: group or digest)", ["channel", "kind"]
)
NOTIFY_FAILURES = Counter(
    "alerter_notify_send_failures_total", "Failed deliveries (each is retried with backoff)", ["channel"]
)
NOTIFY_SEND_SECONDS = Histogram(
    "alerter_notify_send_duration_seconds", "Time apprise took per delivery attempt", ["channel"]
)
