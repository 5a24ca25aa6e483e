"""Fixtures of the shipper tests: a tailing harness on each real store (SQLite, and osmem via the rig)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from logstore.config import StoreConfig
from tests.shipper.harness import Harness


@pytest.fixture(params=["sqlite", "elasticsearch"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """The harness on a fresh store of each backend (``sqlite_store_config`` / ``es_store_config``)."""
    name = "sqlite_store_config" if request.param == "sqlite" else "es_store_config"
    config: StoreConfig = request.getfixturevalue(name)
    h = Harness(tmp_path, config)
    try:
        yield h
    finally:
        h.close()
