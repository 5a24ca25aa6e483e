"""Fixtures for logq: a small fixed corpus on both stores, a fixed clock, and an in-process runner."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from logq.cli import Io, run
from logstore import Doc, Store, open_store
from logstore.config import StoreConfig
from logstore.types import datetime_to_ms, format_ts
from logwarden.config import Config

NOW = "2026-11-22T06:00:00Z"
NOW_MS = datetime_to_ms(datetime(2026, 11, 22, 6, 0, tzinfo=UTC))
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("LOGQ_UPDATE_GOLDEN") == "1"

SERVICES = ("web", "api", "worker")
LEVELS = ("info", "info", "info", "warn", "error")
PATHS = ("/", "/login", "/api/orders", "/health")


def access_doc(i: int, ts: int, service: str | None = None) -> Doc:
    """One deterministic access-log doc: ECS metadata plus the log's own flat fields."""
    svc = service or SERVICES[i % 3]
    status = 502 if i % 7 == 0 else 404 if i % 11 == 0 else 500 if i % 13 == 0 else 200
    latency = (i * 37) % 900 + 3
    level = "error" if status >= 500 else "warn" if status == 404 else LEVELS[i % 5] if i % 5 == 3 else "info"
    path = PATHS[i % 4]
    doc_id = f"doc-{i:06d}"
    source: dict[str, Any] = {
        "@timestamp": format_ts(ts),
        "event": {"id": doc_id},
        "message": f"GET {path} {status} {latency}ms",
        "log": {"level": level, "file": {"path": f"/var/log/{svc}.log"}, "offset": i * 100},
        "service": {"name": svc},
        "host": {"name": f"host-{i % 2}"},
        "status": status,
        "latency_ms": latency,
        "url": {"path": path},
    }
    if i % 10 == 0:
        source["user"] = {"id": f"u{i % 4}", "admin": i % 20 == 0}
    if i % 25 == 0:
        source["tags"] = ["slow", "canary"]
    return Doc(id=doc_id, ts=ts, source=source)


def corpus() -> list[Doc]:
    """240 docs every 15 s in the hour before NOW, plus 20 docs two to three hours earlier."""
    docs = [access_doc(i, NOW_MS - 3_600_000 + i * 15_000 + 7) for i in range(240)]
    docs += [access_doc(1000 + i, NOW_MS - 3 * 3_600_000 + i * 60_000) for i in range(20)]
    return docs


def write_all(store: Store, docs: list[Doc]) -> None:
    for i in range(0, len(docs), 500):
        results = store.write(docs[i : i + 500])
        assert all(r.outcome.delivered for r in results), [r for r in results if not r.outcome.delivered][:3]
    store.refresh()


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


@dataclass
class Logq:
    """Runs logq in-process against one configured store, with the fixed clock."""

    config: Config

    def __call__(
        self,
        *args: str,
        tty: bool = False,
        env: Mapping[str, str] | None = None,
        stop: threading.Event | None = None,
        out: io.BytesIO | None = None,
    ) -> Result:
        buf = out if out is not None else io.BytesIO()
        err = io.StringIO()
        code = run(["--now", NOW, *args], Io(buf, err, tty, dict(env or {})), config=self.config, stop=stop)
        return Result(code, buf.getvalue().decode(), err.getvalue())


@pytest.fixture
def store_with_corpus(store: Store) -> Store:
    write_all(store, corpus())
    return store


@pytest.fixture
def logq(store_config: StoreConfig, store_with_corpus: Store) -> Logq:
    """logq on the corpus, on each backend."""
    return Logq(Config(store=store_config, queries={"502s": "status:502", "slow": "latency_ms:>800"}))


@pytest.fixture
def sqlite_logq(sqlite_store_config: StoreConfig) -> Iterator[Logq]:
    """logq on the corpus in SQLite only (formats and goldens: identical code path on both stores)."""
    s = open_store(sqlite_store_config)
    try:
        write_all(s, corpus())
    finally:
        s.close()
    yield Logq(Config(store=sqlite_store_config, queries={"502s": "status:502", "slow": "latency_ms:>800"}))


def check_golden(name: str, text: str) -> None:
    """Compare with tests/logq/golden/<name>; LOGQ_UPDATE_GOLDEN=1 rewrites it."""
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}: run with LOGQ_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"output differs from golden file {path}"
