"""The HTTP connection to one logwarden server: a urllib3 pool, the token, one-line failure reasons.

Guarantees:
- Keep-alive connections from one pool, safe to share across threads; no retries (the pipeline
  owns retries) and bounded waits (connect 10 s, each read ``READ_TIMEOUT``).
- TLS is verified: against ``ca_certs`` when given, else the system's trust store.
- Every error raised here is one line naming the server's URL: ``StoreAuthError`` when the token is
  refused (401/403), ``QueryError`` (with the server's column) for a query the server refused,
  ``StoreError`` for anything else. The token never appears in a message or a log line.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import urllib3
from urllib3.exceptions import HTTPError

from logstore.query import QueryError
from logstore.redact import SECRETS
from logstore.server import ServerStoreConfig
from logstore.types import StoreAuthError, StoreError

CONNECT_TIMEOUT = 10.0
# A search or aggregation over a big window may take the server a while before its first byte.
READ_TIMEOUT = 120.0
JSON = "application/json"
NDJSON = "application/x-ndjson"


class Unreachable(Exception):
    """The request did not get an HTTP answer (refused, reset, timed out, TLS). ``str()``: why."""


def short(text: object, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def connection_reason(err: BaseException) -> str:
    """A short reason for a urllib3 failure: 'connection refused', 'TLS error: ...', ..."""
    text = " | ".join(str(e) for e in _chain(err))
    low = text.lower()
    if "ssl" in low or "certificate" in low:
        m = re.search(r"\[SSL[^\]]*\][^(|'\"]*", text)
        return "TLS error: " + short((m.group(0) if m else text).strip(), 200)
    if "timed out" in low or "timeout" in low:
        return "connection timed out"
    if "refused" in low:
        return "connection refused"
    if "reset" in low or "aborted" in low or "remotedisconnected" in low or "broken pipe" in low:
        return "connection reset"
    m = re.search(r"\[Errno -?\d+\] ([^()|'\"]+)", text)
    if m:
        return m.group(1).strip().lower()
    return short(text, 200)


def _chain(err: BaseException) -> list[BaseException]:
    """``err`` and what caused it (urllib3 keeps the cause in ``reason``), a few levels deep."""
    out: list[BaseException] = []
    seen: BaseException | None = err
    while seen is not None and len(out) < 6:
        out.append(seen)
        cause = getattr(seen, "reason", None)
        seen = cause if isinstance(cause, BaseException) else (seen.__cause__ or seen.__context__)
    return out


def error_of(data: bytes) -> dict[str, Any]:
    """The ``error`` object of an Elasticsearch-shaped error body ({} when there is none)."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {"reason": short(data.decode("utf-8", "replace"), 200)} if data else {}
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return error
    return {"reason": short(error)} if error else {}


class ServerClient:
    """One server's URL, token and connection pool. ``url`` is for messages (no credentials)."""

    def __init__(self, config: ServerStoreConfig) -> None:
        self.url = config.url
        headers = {"accept": JSON, "user-agent": "logwarden"}
        if config.token is not None:
            secret = config.token.get_secret_value()
            SECRETS.add_secrets([secret])
            headers["authorization"] = f"Bearer {secret}"
        self._has_token = config.token is not None
        # Per request, since urllib3 sends a request's own headers instead of the pool's.
        self._headers = headers
        self._body_headers = {
            JSON: {**headers, "content-type": JSON},
            NDJSON: {**headers, "content-type": NDJSON},
        }
        kwargs: dict[str, Any] = {}
        if config.url.startswith("https"):
            kwargs["cert_reqs"] = "CERT_REQUIRED"
            if config.ca_certs is not None:
                if not config.ca_certs.is_file():
                    raise StoreError(f"server at {self.url}: ca_certs {config.ca_certs}: no such file")
                kwargs["ca_certs"] = str(config.ca_certs)
        self._pool = urllib3.PoolManager(
            num_pools=2,
            maxsize=16,  # the shipper's senders and the alerter's workers, each on a connection
            retries=False,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
            **kwargs,
        )

    def fail(self, reason: str) -> StoreError:
        return StoreError(f"server at {self.url}: {reason}")

    def send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = JSON,
        stream: bool = False,
    ) -> urllib3.BaseHTTPResponse:
        """The raw answer (any status); raises ``Unreachable`` when there is none."""
        headers = self._body_headers[content_type] if body is not None else self._headers
        try:
            return self._pool.request(
                method, self.url + path, body=body, headers=headers, preload_content=not stream
            )
        except (HTTPError, OSError) as e:
            raise Unreachable(connection_reason(e)) from None

    def call(self, method: str, path: str, payload: Any = None, *, raw: bytes | None = None) -> Any:
        """One JSON request; the decoded JSON answer of a 2xx. Raises as the module docstring says."""
        body = raw if raw is not None else (None if payload is None else orjson.dumps(payload))
        try:
            resp = self.send(method, path, body)
        except Unreachable as e:
            raise self.fail(str(e)) from None
        data = resp.data
        if resp.status >= 300:
            raise self.refused(resp.status, path, data)
        try:
            return orjson.loads(data) if data else None
        except orjson.JSONDecodeError:
            raise self.fail(f"{path}: the answer is not JSON: {short(data[:200])}") from None

    def refused(self, status: int, path: str, data: bytes) -> StoreError | QueryError:
        """The exception for an error answer: auth, a refused query, a missing API, or the rest."""
        error = error_of(data)
        reason = short(error.get("reason") or "no reason given")
        if status in (401, 403):
            if not self._has_token and status == 401:
                return StoreAuthError(
                    f"server at {self.url}: the server needs a token (HTTP 401): set store.server.token"
                )
            return StoreAuthError(
                f"server at {self.url}: the token was refused (HTTP {status}: {reason}):"
                " check store.server.token against the server's server.auth.tokens"
            )
        if status == 400 and error.get("type") == "query_error" and isinstance(error.get("query"), str):
            return QueryError(str(error.get("reason")), error["query"], int(error.get("column") or 0))
        if status == 404:  # every route of the API exists: this is some other server
            return self.fail(
                f"{path}: HTTP 404: not a logwarden server with the Store API (is the url right?)"
            )
        if reason.startswith(f"{path}: "):  # the server's bad_request names the route already
            reason = reason[len(path) + 2 :]
        return self.fail(f"{path}: HTTP {status}: {reason}")

    def close(self) -> None:
        self._pool.clear()
