"""The Elasticsearch backend: daily indices, an index template, bulk ``create`` writes, PIT search.

Public surface: ``ElasticStore(config, *, page_size=1000)``; ``.client`` (the official client) and
``.config`` are public so the alerter can keep its state in ``config.state_index``. ``bulk_lines`` and
``IndexNamer`` build a ``_bulk`` body without a connection (``logstore.protocol.BodyWrite``).
``BACKEND`` is its registry entry (``logstore.backends``): the alerter's state is documents in the
state index, written through the store's own client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from logstore.backend import Backend
from logstore.config.store import ElasticsearchConfig
from logstore.elastic._bulk import bulk_lines
from logstore.elastic._naming import IndexNamer
from logstore.protocol import Store

if TYPE_CHECKING:
    from logstore.elastic._store import ElasticStore

__all__ = ["BACKEND", "ElasticStore", "IndexNamer", "bulk_lines"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: the shipper imports this package's client-free modules (_bulk, _naming)
    # on every start, and the Elasticsearch client costs ~0.2 s of imports a SQLite user never needs.
    if name == "ElasticStore":
        from logstore.elastic._store import ElasticStore

        return ElasticStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _open_store(config: ElasticsearchConfig) -> Store:
    from logstore.elastic._store import ElasticStore

    return ElasticStore(config)


def _es_client(store: Store) -> Any:
    from logstore.elastic._store import ElasticStore

    # The registry hands each backend its own stores; anything else is a wiring bug.
    assert isinstance(store, ElasticStore), f"not an Elasticsearch store: {store!r}"
    return store.client


def _open_alert_state(store: Store, config: ElasticsearchConfig) -> Any:
    from alerter.state.elastic import ElasticStateStore

    return ElasticStateStore(_es_client(store), config.state_index)


def _open_notify_state(store: Store, config: ElasticsearchConfig) -> Any:
    from alerter.notify.state.elastic import ElasticNotifyState

    return ElasticNotifyState(_es_client(store), config.state_index)


BACKEND = Backend(
    name="elasticsearch",
    config=ElasticsearchConfig,
    open_store=_open_store,
    open_alert_state=_open_alert_state,
    open_notify_state=_open_notify_state,
)
