"""Real local receivers for notification tests: an HTTP webhook and an SMTP server on 127.0.0.1.

Both are started and stopped by fixtures. The webhook follows a script of behaviours ("ok", an HTTP
status, "hang" until released, or "drop" the connection) and counts only requests it answered 2xx,
which is what "delivered" means to a sender.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    """A port nothing listens on right now (connection refused until someone binds it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(pred: Callable[[], bool], deadline: float = 10.0, what: str = "condition") -> None:
    """Poll ``pred`` until true or fail after ``deadline`` seconds (instead of a fixed sleep)."""
    end = time.monotonic() + deadline
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    port: int = 0
    script: deque[str | int] = field(default_factory=deque)
    delivered: list[Delivery] = field(default_factory=list)
    requests: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    reply: bytes = b"{}"  # the 2xx body (Slack's webhook answers "ok", others JSON)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> WebhookReceiver:
        recv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recv.requests += 1
                action = recv.script.popleft() if recv.script else "ok"
                if action == "hang":
                    # Hold the request past the sender's timeout, then drop it unanswered.
                    recv.release.wait(timeout=10)
                    self.close_connection = True
                    return
                if action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status = 200 if action == "ok" else int(action)
                if 200 <= status < 300:
                    recv.delivered.append(Delivery(self.path, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(recv.reply)))
                self.end_headers()
                self.wfile.write(recv.reply)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1 keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.port = free_port()
        self._controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def start(self) -> SmtpReceiver:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
