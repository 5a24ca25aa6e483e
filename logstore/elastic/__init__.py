"""The Elasticsearch backend: daily indices, an index template, bulk ``create`` writes, PIT search.

Public surface: ``ElasticStore(config, *, page_size=1000)``; ``.client`` (the official client) and
``.config`` are public so the alerter can keep its state in ``config.state_index``. ``bulk_lines`` and
``IndexNamer`` build a ``_bulk`` body without a connection (``logstore.protocol.BodyWrite``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from logstore.elastic._bulk import bulk_lines
from logstore.elastic._naming import IndexNamer

if TYPE_CHECKING:
    from logstore.elastic._store import ElasticStore

__all__ = ["ElasticStore", "IndexNamer", "bulk_lines"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: the shipper imports this package's client-free modules (_bulk, _naming)
    # on every start, and the Elasticsearch client costs ~0.2 s of imports a SQLite user never needs.
    if name == "ElasticStore":
        from logstore.elastic._store import ElasticStore

        return ElasticStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
