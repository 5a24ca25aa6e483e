"""Observability shared by the shipper and the alerter: typed events, JSON-line logs, /healthz, /readyz,
/metrics.

Logs go to stderr as one JSON object per line (``ts``, ``level``, ``logger``, ``msg`` and any extra
fields), so the same stream is readable by people and by logwarden itself. The HTTP endpoint runs on
a daemon thread and never blocks the pipeline.

Everything a program reports is an :class:`Event`: one frozen dataclass per kind of event, all of a
program's in one module (``shipper.events``, ``alerter.observed``). :func:`emit` updates the event's
Prometheus metric and logs one line whose ``msg`` is the event's sentence and whose keys are its
fields, so a log line and a counter can never disagree about what happened.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from logstore.redact import SECRETS
from logstore.types import Health

# Attributes every LogRecord has; anything else on a record is an extra field to print.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        # Secrets are masked in the line we print, not in the record: other handlers (and tests)
        # see the record as it was made.
        return SECRETS.clean(orjson.dumps(out, default=str).decode())


def setup_logging(level: str | None = None) -> None:
    """Configure the root logger for JSON lines on stderr.

    ``level`` is the --log-level flag (None: not given): a flag beats ``$LOG_LEVEL``, which beats INFO.
    """
    chosen = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, chosen, logging.INFO))
    # Client libraries are chatty at INFO (one line per HTTP request); keep them at WARNING.
    for noisy in ("elastic_transport", "elasticsearch", "urllib3", "watchdog"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class Event:
    """One observable thing. Subclasses are ``@dataclass(frozen=True)``; their fields are the log keys.

    Class attributes: ``message`` (the short sentence, the line's ``msg``), ``level``, ``logger`` (the
    logger name, so per-logger levels keep working), and optionally ``metric`` (a Counter or Histogram
    with a stable name), ``labels`` (the fields whose values label it, in its label order) and
    ``amount`` (the field added to the counter or observed by the histogram; 1 when unset).
    An event that moves more than one metric overrides :meth:`update_metrics` and lists the others in
    ``also`` (for docs/metrics.md).
    """

    message: ClassVar[str]
    level: ClassVar[int] = logging.INFO
    logger: ClassVar[str]
    metric: ClassVar[Counter | Histogram | None] = None
    labels: ClassVar[tuple[str, ...]] = ()
    amount: ClassVar[str | None] = None
    also: ClassVar[tuple[Counter | Histogram, ...]] = ()

    def sentence(self) -> str:
        """The log line's ``msg``; an event whose sentence carries a value overrides this."""
        return self.message

    def log_fields(self) -> dict[str, Any]:
        return dict(vars(self))

    def update_metrics(self) -> None:
        if self.metric is None:
            return
        metric = (
            self.metric.labels(*(str(getattr(self, f)) for f in self.labels)) if self.labels else self.metric
        )
        n = getattr(self, self.amount) if self.amount else 1
        if isinstance(metric, Histogram):
            metric.observe(n)
        else:
            metric.inc(n)


def emit(event: Event) -> None:
    """Count the event, then log it as one JSON line (when its logger is enabled for its level)."""
    event.update_metrics()
    logger = logging.getLogger(event.logger)
    if logger.isEnabledFor(event.level):
        logger.log(event.level, event.sentence(), extra=event.log_fields())


@dataclass
class HttpHandle:
    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_http(
    host: str,
    port: int,
    live: Callable[[], Health],
    ready: Callable[[], Health] | None = None,
    details: Callable[[], dict[str, Any]] | None = None,
) -> HttpHandle:
    """Serve /healthz, /readyz (200 ok / 503 with the reason, JSON) and /metrics (Prometheus text).

    ``/healthz`` is liveness: ``live`` says only whether the process loop still turns (a failing
    one is worth a restart). ``/readyz`` is readiness: ``ready`` says whether the store is reachable
    and state writable (a failing one is worth waiting for, not a restart); without ``ready`` it
    answers what ``live`` does. ``details`` adds fields to /readyz that never change its status
    (a failing notification channel is someone else's outage).
    """

    def probe(check: Callable[[], Health]) -> Health:
        try:
            return check()
        except Exception as e:  # a failing probe is a degraded service, not a crashed server
            return Health(False, f"health check failed: {e}")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/health"):
                self._health(probe(live), {})
            elif path == "/readyz":
                extra: dict[str, Any] = {}
                if details is not None:
                    try:
                        extra = details()
                    except Exception as e:
                        extra = {"details_error": str(e)}
                self._health(probe(ready or live), extra)
            else:
                self._send(404, b'{"error":"not found"}', "application/json")

        def _health(self, h: Health, extra: dict[str, Any]) -> None:
            body = orjson.dumps({"status": "ok" if h.ok else "degraded", "detail": h.detail, **extra})
            self._send(200 if h.ok else 503, body, "application/json")

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every 15 s would drown the process's own log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return HttpHandle(server, thread)
