"""The server's Prometheus metrics (default registry, served at ``/metrics``), one place so names stay stable.

Counters of the per-request hot path (requests, bytes, docs by result, 429s, auth failures) are
updated here by their callers; everything the server also logs is an event in ``server.events``.
docs/metrics.md is generated from this module (``python -m tests.test_metrics_doc``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "server_http_requests_total",
    "HTTP requests answered, by endpoint (the route's handler; `none`: no route, or refused before routing)"
    " and status code",
    ["endpoint", "status"],
)
RECEIVED_BYTES = Counter(
    "server_bulk_received_bytes_total", "Bytes of `_bulk` request bodies as sent (compressed, when gzip)"
)
BODY_BYTES = Counter("server_bulk_body_bytes_total", "Bytes of `_bulk` request bodies after gzip is undone")
DOCS = Counter(
    "server_bulk_docs_total",
    "`_bulk` items by result: created (stored now), duplicate (the `_id` is stored already: a `create` got"
    " 409, an `index` 200 `noop`), rejected (a 4xx item: malformed line, unsupported action, doc refused by"
    " the store)",
    ["result"],
)
OVERLOADED = Counter(
    "server_bulk_overloaded_total", "`_bulk` requests answered 429 because the write queue was full"
)
REFUSED = Counter(
    "server_requests_refused_total",
    "Requests refused by a limit (`server.limits`): max_body and max_docs (413), request_timeout (408)",
    ["limit"],
)
AUTH_FAILURES = Counter(
    "server_auth_failures_total",
    "Requests refused 401: missing (no credentials) or bad (no configured token matches)",
    ["reason"],
)
STORE_ERRORS = Counter(
    "server_store_errors_total", "`_bulk` requests answered 503 because the store could not be written"
)
QUEUED = Gauge(
    "server_write_queue_requests", "`_bulk` requests waiting for the writer (`server.limits.queue`)"
)
COMMIT = Histogram(
    "server_write_duration_seconds",
    "Time of one store transaction (one or more queued `_bulk` requests committed together)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BULK = Histogram(
    "server_bulk_duration_seconds",
    "Time from a `_bulk` request's first byte read to its answer, commit included",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
DEAD_LETTERS_LOST = Counter(
    "server_dead_letters_lost_total",
    "Refused `_bulk` items that could not be kept as dead letters (their home failed; logged)",
)
