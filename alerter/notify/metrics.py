"""Prometheus counters of the notification pipeline (default registry, stable names)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_RECEIVED = Counter(
    "alerter_notify_events_received_total", "Alert state changes handed to the notification pipeline"
)
EVENTS_SENT = Counter(
    "alerter_notify_events_sent_total",
    "Alert notifications delivered (inside a message or a digest)",
    ["channel"],
)
EVENTS_DROPPED = Counter(
    "alerter_notify_events_dropped_total",
    "Alert notifications not sent, by reason (silenced, unrouted, duplicate, resolved_unsent, peer_sent)",
    ["reason"],
)
EVENTS_DIGESTED = Counter(
    "alerter_notify_events_digested_total", "Alerts folded into a rate-limit digest", ["channel"]
)
MESSAGES_SENT = Counter(
    "alerter_notify_messages_sent_total",
    "Messages delivered per channel (kind: group or digest)",
    ["channel", "kind"],
)
SEND_FAILURES = Counter(
    "alerter_notify_send_failures_total", "Failed deliveries (each is retried with backoff)", ["channel"]
)
SEND_DURATION = Histogram(
    "alerter_notify_send_duration_seconds", "Time apprise took per delivery attempt", ["channel"]
)
