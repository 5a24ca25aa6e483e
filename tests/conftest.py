"""Fixtures shared by every test package.

``store`` is parametrized over both real backends: SQLite in a temp dir, and Elasticsearch (osmem-server
behind the fault-injecting proxy from tests/rig, or a real cluster when LOGWARDEN_TEST_ES_URL is set).
``server_store_config`` is a third: a real logwarden server (tests/server/harness.py) on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from logstore import Store, open_store
from logstore.config import SqliteConfig, StoreConfig

pytest_plugins = ["tests.rig.fixtures"]


@pytest.fixture
def sqlite_store_config(tmp_path: Path) -> StoreConfig:
    return StoreConfig(sqlite=SqliteConfig(path=tmp_path / "logwarden.db"))


SERVER_TOKEN = "test-client-token-0123456789"


@pytest.fixture
def server_store_config(tmp_path: Path) -> Iterator[StoreConfig]:
    """A logwarden server of this test's own (a fresh SQLite store, one client token), stopped after.

    Its store keeps 1 day: retention runs on the server with the server's setting, and that is the
    retention the contract's retention test asks for (no other test runs retention)."""
    from tests.server.harness import serve, server_config

    home = tmp_path / "server"
    home.mkdir()
    store = {"sqlite": {"path": str(home / "server.db"), "retention": "1d"}}
    config = server_config(home, {"auth": {"tokens": [SERVER_TOKEN]}}, store=store)
    with serve(config) as running:
        yield StoreConfig.model_validate({"server": {"url": running.url, "token": SERVER_TOKEN}})


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store_config(request: pytest.FixtureRequest) -> StoreConfig:
    """A fresh, empty store configuration on each backend."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_store_config")  # type: ignore[no-any-return]
    # Provided by tests/rig/fixtures.py: an isolated index namespace on osmem (or a real cluster).
    return request.getfixturevalue("es_store_config")  # type: ignore[no-any-return]


@pytest.fixture
def store(store_config: StoreConfig) -> Iterator[Store]:
    s = open_store(store_config)
    try:
        yield s
    finally:
        s.close()
