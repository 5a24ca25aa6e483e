"""The shipper's Prometheus metrics (default registry), one place so names stay stable.

Counters of the per-line hot path (lines read, docs sent) are updated here in bulk by their callers;
everything the shipper also logs is an event in ``shipper.events`` that names its metric from here.
docs/metrics.md is generated from this module (``python -m tests.test_metrics_doc``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LINES_READ = Counter("shipper_events_received_total", "Lines (or multiline events) read from files")
LINES_SKIPPED = Counter("shipper_lines_skipped_total", "Empty lines skipped")
SENT = Counter("shipper_events_sent_total", "Docs acknowledged by the store (created or duplicate)")
DUPLICATES = Counter("shipper_events_duplicate_total", "Docs the store already had (re-sends after a crash)")
RETRIED = Counter("shipper_events_retried_total", "Doc sends retried (429, 5xx, connection errors)")
DROPPED = Counter(
    "shipper_events_dropped_total",
    "Docs the store rejected for good, written to the dead-letter table (`shipper dlq list`)",
)
BLOCKS = Counter(
    "shipper_blocks_built_total",
    "Blocks of a backlog built and sent by a build thread or process (Elasticsearch; `shipper.processes`)",
)
FILES_FOUND = Counter("shipper_files_found_total", "New files found by a scan (first seen, rotated in)")
FILES_SKIPPED = Counter(
    "shipper_files_skipped_total",
    "Matched files not shipped, by reason (symlink: not followed, counted once per link; unreadable: no read"
    " permission, counted with each warning, at most once a minute per file)",
    ["reason"],
)
INPUT_DIRS_MISSING = Counter(
    "shipper_input_dirs_missing_total",
    "Warnings that an input pattern's directory is missing or cannot be listed (once per directory, then"
    " at most hourly while it lasts)",
)
REQUESTS_SPLIT = Counter(
    "shipper_requests_split_total", "Requests the store found too large (413), sent again in halves"
)
DELIVERY_CRASHES = Counter(
    "shipper_delivery_crashes_total", "Batches whose delivery raised an unexpected error (a bug: see the log)"
)
LAG = Gauge("shipper_lag_bytes", "Bytes in the matched files not yet committed")
OPEN_FILES = Gauge("shipper_files_open", "Files held open by harvesters")
BATCH = Histogram(
    "shipper_batch_duration_seconds",
    "Time from a batch's first send to its acknowledgement, retries included",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
