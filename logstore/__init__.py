"""logstore: the one store layer the shipper, the alerter and logq share.

``open_store(config.store)`` returns a ``Store`` (see ``logstore.protocol``): the embedded SQLite
backend by default, Elasticsearch for fleets, or a logwarden server (``logstore.server``) for a few
hosts. Each backend is one ``Backend`` entry, registered by hand in one dict
(``logstore.backends.BACKENDS``); optional fast paths are the capability Protocols of ``logstore.protocol``.
"""

from __future__ import annotations

from logstore._sqlite_library import quiet_memory_statistics
from logstore.backend import Backend
from logstore.backends import BACKENDS, get_backend, open_store
from logstore.protocol import FastWrite, Order, RawSearch, Store
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
    "BACKENDS",
    "AggRequest",
    "AggResult",
    "AggRow",
    "Backend",
    "Cursor",
    "Doc",
    "FastWrite",
    "Health",
    "Hit",
    "Metric",
    "Order",
    "Outcome",
    "QueryError",
    "RawSearch",
    "RetentionResult",
    "Store",
    "StoreError",
    "WriteResult",
    "get_backend",
    "open_store",
    "parse_query",
]


# Before anything of logwarden opens a SQLite file (see _sqlite_library for why and when it acts).
quiet_memory_statistics()
