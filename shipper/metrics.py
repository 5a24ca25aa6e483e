"""The shipper's Prometheus metrics (default registry), one place so names stay stable."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LINES_READ = Counter("shipper_events_received_total", "Lines (or multiline events) read from files")
LINES_SKIPPED = Counter("shipper_lines_skipped_total", "Empty lines skipped")
SENT = Counter("shipper_events_sent_total", "Docs acknowledged by the store (created or duplicate)")
DUPLICATES = Counter("shipper_events_duplicate_total", "Docs the store already had (re-sends after a crash)")
RETRIED = Counter("shipper_events_retried_total", "Doc sends retried (429, 5xx, connection errors)")
DROPPED = Counter(
    "shipper_events_dropped_total", "Docs the store rejected for good, written to the dead-letter table"
)
BLOCKS = Counter(
    "shipper_blocks_built_total", "Blocks of a backlog built and sent by a build thread or process"
)
LAG = Gauge("shipper_lag_bytes", "Bytes in the matched files not yet committed")
OPEN_FILES = Gauge("shipper_files_open", "Files held open by harvesters")
BATCH = Histogram(
    "shipper_batch_duration_seconds",
    "Time from a batch's first send to its acknowledgement, retries included",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
