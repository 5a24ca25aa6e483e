"""logstore: the one store layer the shipper, the alerter and logq share.

``open_store(config.store)`` returns a ``Store`` (see ``logstore.protocol``): the embedded SQLite
backend by default, or Elasticsearch for fleets. Backends register here, by hand, in one dict.
"""

from __future__ import annotations

from collections.abc import Callable

from logstore._sqlite_library import quiet_memory_statistics
from logstore.config import StoreConfig
from logstore.protocol import Order, Store
from logstore.query import QueryError, parse_query
from logstore.types import (
    AggRequest,
    AggResult,
    AggRow,
    Cursor,
    Doc,
    Health,
    Hit,
    Metric,
    Outcome,
    RetentionResult,
    StoreError,
    WriteResult,
)

__all__ = [
    "AggRequest",
    "AggResult",
    "AggRow",
    "Cursor",
    "Doc",
    "Health",
    "Hit",
    "Metric",
    "Order",
    "Outcome",
    "QueryError",
    "RetentionResult",
    "Store",
    "StoreError",
    "WriteResult",
    "open_store",
    "parse_query",
]


# Before anything of logwarden opens a SQLite file (see _sqlite_library for why and when it acts).
quiet_memory_statistics()


def _open_sqlite(config: StoreConfig) -> Store:
    from logstore.sqlite import SqliteStore

    assert config.sqlite is not None
    return SqliteStore(config.sqlite)


def _open_elasticsearch(config: StoreConfig) -> Store:
    from logstore.elastic import ElasticStore

    assert config.elasticsearch is not None
    return ElasticStore(config.elasticsearch)


BACKENDS: dict[str, Callable[[StoreConfig], Store]] = {
    "sqlite": _open_sqlite,
    "elasticsearch": _open_elasticsearch,
}


def open_store(config: StoreConfig) -> Store:
    """Open (and on first use create) the configured store. Raises StoreError with one line."""
    return BACKENDS[config.backend](config)
