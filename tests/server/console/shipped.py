"""Fixture logs shipped by the real shipper into a real server, for the console's tests.

Two hosts (``web1``: an API's log with a 502 storm; ``web2``: a worker's log), each shipped by
``shipper run --once`` with its own registry, into one logwarden server on loopback. Every time is
in the hour before the fixture was made, so the console's default window (the last hour) shows
them all; ``Shipped.window`` is that hour pinned, for comparisons that must not move.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from logstore import Store, open_store
from logstore.types import datetime_to_ms, format_ts
from shipper.cli import main as shipper_main
from tests.server.harness import Running, serve, server_config

API_LINES = 240
STORM = 60  # of API_LINES: status 502, level error, within two minutes
WORKER_LINES = 80


@dataclass
class Shipped:
    server: Running
    start: str  # RFC 3339: an hour before the fixture
    end: str  # RFC 3339: just after the last line
    storm_start: str
    storm_end: str
    home: Path

    @property
    def window(self) -> dict[str, str]:
        return {"from": self.start, "to": self.end}

    @property
    def config(self) -> Path:
        """A logwarden.yaml whose store is this server (for logq, as a user on a host would run it)."""
        path = self.home / "logq.yaml"
        if not path.exists():
            path.write_text(f"store:\n  server: {{url: '{self.server.url}'}}\n")
        return path

    def store(self) -> Store:
        """The server's store opened for reading, as logq opens it (close it after)."""
        return open_store(self.server.config.store, create=False)


def _api_lines(base: int) -> list[dict[str, object]]:
    """An API's access log over 40 minutes; lines STORM.. are a 502 storm 2 minutes long."""
    out: list[dict[str, object]] = []
    for i in range(API_LINES):
        storm = i < STORM
        ts = base + 20 * 60_000 + i * 2000 if storm else base + (i - STORM) * 13_000
        status = 502 if storm else (404 if i % 17 == 0 else 200)
        level = "error" if storm else ("warn" if status == 404 else "info")
        path = "/api/orders" if i % 2 else "/api/users"
        msg = f"GET {path} {status}"
        out.append(
            {
                "@timestamp": format_ts(ts),
                "level": level,
                "message": msg,
                "status": status,
                "latency_ms": 800 + i if storm else 20 + i % 50,
                "url": {"path": path},
            }
        )
    return sorted(out, key=lambda d: str(d["@timestamp"]))


def _worker_lines(base: int) -> list[dict[str, object]]:
    return [
        {
            "@timestamp": format_ts(base + i * 30_000),
            "level": "debug" if i % 4 else "info",
            "message": f"job {i} done",
            "job": {"id": i},
        }
        for i in range(WORKER_LINES)
    ]


def _ship(home: Path, url: str, host: str, service: str, lines: list[dict[str, object]]) -> None:
    logs = home / host
    logs.mkdir(parents=True)
    (logs / f"{service}.log").write_text("".join(json.dumps(line) + "\n" for line in lines))
    cfg = home / f"{host}.yaml"
    cfg.write_text(
        f"store:\n  server: {{url: '{url}'}}\n"
        f"shipper:\n  registry: {home / (host + '.db')}\n  host_name: {host}\n  batch: {{max_wait: 50ms}}\n"
        f"  inputs:\n    - {{paths: ['{logs}/*.log'], format: json, service: {service}, namespace: app}}\n"
    )
    assert shipper_main(["run", "--once", "-c", str(cfg), "--log-level", "WARNING"]) == 0


def ship_fixture(home: Path) -> Iterator[Shipped]:
    """A server with the fixture logs in it (the generator a fixture yields from)."""
    now = datetime.now(UTC)
    base = datetime_to_ms(now - timedelta(minutes=50))
    with serve(server_config(home)) as srv:
        _ship(home, srv.url, "web1", "api", _api_lines(base))
        _ship(home, srv.url, "web2", "worker", _worker_lines(base))
        storm = base + 20 * 60_000
        yield Shipped(
            server=srv,
            start=format_ts(datetime_to_ms(now - timedelta(hours=1))),
            end=format_ts(datetime_to_ms(now)),  # lines written later (live tail tests) fall after it
            storm_start=format_ts(storm),
            storm_end=format_ts(storm + STORM * 2000),
            home=home,
        )


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shipped]:
    """A server holding the fixture logs of two hosts, shipped by the real shipper; stopped after."""
    yield from ship_fixture(tmp_path_factory.mktemp("shipped"))
