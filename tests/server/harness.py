"""A real logwarden server for tests: uvicorn on a loopback socket, in a thread; stopped after.

``serve(config)`` is a context manager yielding a ``Running`` with the base URL. The server is the
same ASGI app and uvicorn config ``logwarden serve`` runs (``server.cli.uvicorn_config``), only on a
socket bound here to port 0, so tests never race for a port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from logwarden.config import Config, load_config
from server.cli import uvicorn_config


@dataclass
class Running:
    url: str
    config: Config
    server: uvicorn.Server


def server_config(tmp_path: Path, server: dict[str, Any] | None = None, **sections: Any) -> Config:
    """A Config with the SQLite store under ``tmp_path`` and ``server`` as the server section."""
    import yaml

    data: dict[str, Any] = {"store": {"sqlite": {"path": str(tmp_path / "server.db")}}, **sections}
    if server is not None:
        data["server"] = server
    path = tmp_path / "server.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


@contextmanager
def serve(config: Config) -> Iterator[Running]:
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY on accepted sockets only when the listening
    # socket's proto says TCP (as uvicorn's own sockets do); without it every keep-alive request
    # waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    scheme = "https" if config.server.tls is not None else "http"
    try:
        yield Running(f"{scheme}://127.0.0.1:{port}", config, server)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
