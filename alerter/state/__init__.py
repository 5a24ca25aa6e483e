"""Where alert state lives: next to the store's data, in the store's own backend."""

from __future__ import annotations

from alerter.state.base import STATES, Instance, MemoryStateStore, RuleMeta, State, StateStore, fingerprint
from logstore.config import Config
from logstore.protocol import Store


def open_state(config: Config, store: Store) -> StateStore:
    """SQLite: tables in the store's database file. Elasticsearch: docs in the state index."""
    if store.name == "elasticsearch":
        from alerter.state.elastic import ElasticStateStore

        es = config.store.elasticsearch
        assert es is not None
        return ElasticStateStore(store.client, es.state_index)  # type: ignore[attr-defined]
    from alerter.state.sqlite import SqliteStateStore

    sq = config.store.sqlite
    assert sq is not None
    return SqliteStateStore(sq.path, sq.busy_timeout.total_seconds())


__all__ = [
    "STATES",
    "Instance",
    "MemoryStateStore",
    "RuleMeta",
    "State",
    "StateStore",
    "fingerprint",
    "open_state",
]
