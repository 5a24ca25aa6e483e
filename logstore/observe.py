"""Observability shared by the shipper and the alerter: JSON-line logs, /healthz, /readyz, /metrics.

Logs go to stderr as one JSON object per line (``ts``, ``level``, ``logger``, ``msg`` and any extra
fields), so the same stream is readable by people and by logwarden itself. The HTTP endpoint runs on
a daemon thread and never blocks the pipeline.
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
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

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
        return orjson.dumps(out, default=str).decode()


def setup_logging(level: str | None = None) -> None:
    """Configure the root logger for JSON lines on stderr.

    ``level`` is the --log-level flag (None: not given): a flag beats ``$LOG_LEVEL``, which beats INFO.
    """
    chosen = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(SECRETS)  # URL passwords, Authorization values and channel tokens never print
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, chosen, logging.INFO))
    # Client libraries are chatty at INFO (one line per HTTP request); keep them at WARNING.
    for noisy in ("elastic_transport", "elasticsearch", "urllib3", "watchdog"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def log_event(logger: logging.Logger, msg: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, msg, extra=fields)


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
