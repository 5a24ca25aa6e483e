"""FaultProxy: a small HTTP proxy in front of osmem-server (or a real cluster) that can misbehave on cue.

Why it exists: the official Elasticsearch client sends ``application/vnd.elasticsearch+json;
compatible-with=N`` media types, which osmem rejects, and insists on an ``X-Elastic-Product`` header
in every reply. The proxy rewrites the former and adds the latter. Because every request passes
through it, it is also where tests inject faults: refused connections (the store is "down"), whole
requests answered 429/503, a delay, and individual ``_bulk`` items failed inside an otherwise
successful reply (those items are NOT forwarded, so a retry stores them exactly once).

Stdlib only, threads, 127.0.0.1 only. One upstream connection per request keeps it simple (osmem
closes connections after each reply anyway).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_MEDIA_REWRITES = (
    ("application/vnd.elasticsearch+x-ndjson", "application/x-ndjson"),
    ("application/vnd.elasticsearch+json", "application/json"),
)
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection", "host"}
_ERROR_TYPES = {
    429: "es_rejected_execution_exception",
    503: "unavailable_shards_exception",
    500: "internal_server_error",
    502: "bad_gateway",
    504: "timeout_exception",
    401: "security_exception",
    403: "security_exception",
}


def _plain_media(value: str) -> str:
    for old, new in _MEDIA_REWRITES:
        if value.startswith(old):
            return new
    return value


def _error_body(status: int, reason: str) -> bytes:
    kind = _ERROR_TYPES.get(status, "injected_exception")
    err = {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}
    return json.dumps({"error": err, "status": status}).encode()


def _reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0) so the client sees a hard connection failure."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultProxy

    def verify_request(self, request: Any, client_address: Any) -> bool:
        if self.proxy._refusing:
            _reset(request)
            return False
        self.proxy._track(request)
        # Headers and body go out in separate writes; without this, Nagle + delayed ACK add 40 ms.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return True

    def shutdown_request(self, request: Any) -> None:
        self.proxy._untrack(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read counters, not access logs

    def _handle(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if proxy._refusing:
            # The store went down while this keep-alive connection was open.
            self.close_connection = True
            _reset(self.connection)
            return
        proxy._count_request()
        proxy.last_headers = {k.lower(): v for k, v in self.headers.items()}
        path = self.path
        injected = proxy._take_request_fault(self.command, path)
        if injected is not None:
            status, reply = injected
            self._reply(status, {"Content-Type": "application/json"}, reply)
            return
        limit = proxy._max_bulk_body
        if limit is not None and len(body) > limit and urlsplit(path).path.endswith("/_bulk"):
            # Elasticsearch's http.max_content_length: the whole request is refused, nothing stored.
            proxy.too_large += 1
            self._reply(413, {"Content-Type": "application/json"}, _error_body(413, "request too large"))
            return
        delay = proxy._delay
        if delay > 0:
            time.sleep(delay)  # fault injection: a slow store, not a test wait
        split_path = urlsplit(path).path
        if self.command in ("POST", "PUT") and split_path.endswith("/_bulk") and proxy._bulk_pending():
            self._bulk_with_failures(path, body)
            return
        self._forward(path, body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    def _upstream_headers(self, body: bytes) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            low = name.lower()
            if low in _HOP_HEADERS or low == "content-length":
                continue
            if low in ("content-type", "accept"):
                value = _plain_media(value)
            headers[name] = value
        proxy = self.server.proxy
        if proxy.upstream_auth and "authorization" not in {k.lower() for k in headers}:
            headers["Authorization"] = proxy.upstream_auth
        if body or self.command in ("POST", "PUT"):
            headers["Content-Length"] = str(len(body))
        return headers

    def _send_upstream(self, method: str, path: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        proxy = self.server.proxy
        conn = proxy._connection()
        try:
            conn.request(method, path, body=body or None, headers=self._upstream_headers(body))
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()

    def _forward(self, path: str, body: bytes) -> None:
        try:
            status, headers, data = self._send_upstream(self.command, path, body)
        except OSError as e:
            self._reply(502, {"Content-Type": "application/json"}, _error_body(502, f"proxy: upstream: {e}"))
            return
        out: dict[str, str] = {}
        for name, value in headers:
            low = name.lower()
            if low in _HOP_HEADERS or low == "content-length":
                continue
            out[name] = value
        if not any(k.lower() == "x-elastic-product" for k in out):
            out["X-Elastic-Product"] = "Elasticsearch"
        self._reply(status, out, data, length=len(data))

    def _bulk_with_failures(self, path: str, body: bytes) -> None:
        """Fail the first pending items of this bulk locally; forward the rest; merge in order."""
        proxy = self.server.proxy
        default_index = urlsplit(path).path.rsplit("/_bulk", 1)[0].strip("/") or None
        lines = [ln for ln in body.split(b"\n") if ln.strip()]
        items: list[tuple[str, dict[str, Any], list[bytes]]] = []
        i = 0
        while i < len(lines):
            action = json.loads(lines[i])
            op = next(iter(action))
            meta = action[op] or {}
            chunk = [lines[i]]
            i += 1
            if op != "delete" and i < len(lines):
                chunk.append(lines[i])
                i += 1
            items.append((op, meta, chunk))
        replies: list[dict[str, Any] | None] = []
        forward: list[bytes] = []
        for op, meta, chunk in items:
            failure = proxy._take_bulk_item_fault()
            if failure is None:
                replies.append(None)
                forward.extend(chunk)
                continue
            status, reason = failure
            kind = _ERROR_TYPES.get(status, "injected_exception")
            replies.append(
                {
                    op: {
                        "_index": meta.get("_index", default_index),
                        "_id": meta.get("_id"),
                        "status": status,
                        "error": {"type": kind, "reason": reason},
                    }
                }
            )
        upstream_items: list[dict[str, Any]] = []
        if forward:
            try:
                status, _headers, data = self._send_upstream(self.command, path, b"\n".join(forward) + b"\n")
            except OSError as e:
                self._reply(
                    502, {"Content-Type": "application/json"}, _error_body(502, f"proxy: upstream: {e}")
                )
                return
            if status != 200:
                self._reply(status, {"Content-Type": "application/json"}, data)
                return
            upstream_items = json.loads(data).get("items", [])
        it = iter(upstream_items)
        merged = [r if r is not None else next(it) for r in replies]
        reply = json.dumps({"took": 0, "errors": True, "items": merged}).encode()
        self._reply(200, {"Content-Type": "application/json"}, reply)

    def _reply(self, status: int, headers: dict[str, str], data: bytes, length: int | None = None) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if not any(k.lower() == "x-elastic-product" for k in headers):
            self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(data) if length is None else length))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)


class FaultProxy:
    """A started proxy: ``url`` is what the client talks to; methods below inject faults."""

    def __init__(self, upstream: str, *, username: str | None = None, password: str | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream = upstream
        self._scheme = parts.scheme or "http"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._scheme == "https" else 80)
        self.upstream_auth: str | None = None
        if username is not None:
            import base64

            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self.upstream_auth = f"Basic {token}"
        self._lock = threading.Lock()
        self._refusing = False
        self._delay = 0.0
        self._request_faults: list[list[Any]] = []  # [status, remaining, path_contains]
        self._bulk_faults: list[list[Any]] = []  # [status, remaining, reason]
        self._max_bulk_body: int | None = None
        self.too_large = 0  # _bulk requests answered 413 by limit_bulk_body
        self._sockets: set[socket.socket] = set()
        self.requests = 0
        self.bulk_items_failed = 0
        # Headers of the latest request as the client sent them (lower-case names): auth tests.
        self.last_headers: dict[str, str] = {}
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            socks = list(self._sockets)
            self._sockets.clear()
        for s in socks:
            # Wake handler threads blocked on idle keep-alive connections.
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- fault controls --------------------------------------------------------------------------

    def refuse_connections(self, on: bool) -> None:
        """While on, new connections are reset and requests on open ones are cut: the store is down."""
        with self._lock:
            self._refusing = on
            socks = list(self._sockets) if on else []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def fail_requests(self, status: int, count: int, path_contains: str = "") -> None:
        """The next ``count`` requests whose path contains ``path_contains`` get ``status``."""
        with self._lock:
            self._request_faults.append([status, count, path_contains, None, ""])

    def stub_requests(self, status: int, body: Any, count: int, path_contains: str, method: str = "") -> None:
        """The next ``count`` matching requests are answered locally with ``status`` and JSON ``body``.

        For server features osmem lacks (e.g. ILM): the backend's code path for them can be tested.
        """
        with self._lock:
            self._request_faults.append([status, count, path_contains, json.dumps(body).encode(), method])

    def limit_bulk_body(self, nbytes: int | None) -> None:
        """``_bulk`` requests whose body is over ``nbytes`` are answered 413 (None: no limit)."""
        with self._lock:
            self._max_bulk_body = nbytes

    def set_delay(self, seconds: float) -> None:
        with self._lock:
            self._delay = seconds

    def fail_bulk_items(self, status: int, count: int, reason: str = "injected bulk item failure") -> None:
        """The next ``count`` ``_bulk`` items fail with ``status`` in a 200 reply; they are not stored."""
        with self._lock:
            self._bulk_faults.append([status, count, reason])

    def reset(self) -> None:
        """Clear every pending fault and the delay (counters are kept)."""
        with self._lock:
            self._refusing = False
            self._delay = 0.0
            self._max_bulk_body = None
            self._request_faults.clear()
            self._bulk_faults.clear()

    # ---- internals used by the handler -----------------------------------------------------------

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def _count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def _take_request_fault(self, method: str, path: str) -> tuple[int, bytes] | None:
        with self._lock:
            for fault in self._request_faults:
                status, remaining, needle, body, only = fault
                if remaining > 0 and needle in path and (not only or only == method):
                    fault[1] -= 1
                    if fault[1] == 0:
                        self._request_faults.remove(fault)
                    if body is None:
                        body = _error_body(status, f"injected by FaultProxy: HTTP {status}")
                    return status, body
        return None

    def _bulk_pending(self) -> bool:
        with self._lock:
            return bool(self._bulk_faults)

    def _take_bulk_item_fault(self) -> tuple[int, str] | None:
        with self._lock:
            if not self._bulk_faults:
                return None
            fault = self._bulk_faults[0]
            fault[1] -= 1
            if fault[1] <= 0:
                self._bulk_faults.pop(0)
            self.bulk_items_failed += 1
            return fault[0], fault[2]

    def _connection(self) -> http.client.HTTPConnection:
        if self._scheme == "https":
            # Test rig only: the real cluster under test may use a self-signed certificate.
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(self._host, self._port, timeout=60, context=ctx)
        return http.client.HTTPConnection(self._host, self._port, timeout=60)
