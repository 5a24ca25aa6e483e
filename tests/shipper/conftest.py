"""Fixtures of the shipper tests: a tailing harness on a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from logstore.config import SqliteConfig, StoreConfig
from tests.shipper.harness import Harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path, StoreConfig(sqlite=SqliteConfig(path=tmp_path / "store.db")))
    try:
        yield h
    finally:
        h.close()
