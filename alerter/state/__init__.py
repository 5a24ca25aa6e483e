"""Where alert state lives: next to the store's data, in the store's own backend."""

from __future__ import annotations

from alerter.state.base import (
    STATES,
    Instance,
    MemoryStateStore,
    RuleMeta,
    State,
    StateStore,
    fingerprint,
)
from logstore.backends import get_backend
from logstore.protocol import Store
from logwarden.config import Config


def open_state(config: Config, store: Store) -> StateStore:
    """The store backend's own home for alert state (``Backend.open_alert_state``).

    SQLite: tables in the store's database file. Elasticsearch: docs in the state index.
    """
    state: StateStore = get_backend(config.store.backend).open_alert_state(store, config.store.settings)
    return state


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
