"""The contract suite's backends: one entry per registered backend (``logstore.backends.BACKENDS``).

A new backend is tested by adding its entry here: the fixture that gives a fresh, empty
``StoreConfig`` of it, and how to open it with a small page size (to test streaming past a page).
``test_every_registered_backend_has_a_contract_fixture`` fails until it is added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from logstore import Store


@dataclass(frozen=True)
class ContractBackend:
    config_fixture: str  # the fixture giving a fresh, empty StoreConfig of this backend
    # (its settings, a page size or None for the default) -> an open store
    open: Callable[[BaseModel, int | None], Store]


def _page(page_size: int | None) -> dict[str, Any]:
    return {} if page_size is None else {"page_size": page_size}


def _open_sqlite(settings: Any, page_size: int | None) -> Store:
    from logstore.sqlite import SqliteStore

    return SqliteStore(settings, **_page(page_size))


def _open_elasticsearch(settings: Any, page_size: int | None) -> Store:
    from logstore.elastic import ElasticStore

    store: Store = ElasticStore(settings, **_page(page_size))
    return store


def _open_server(settings: Any, page_size: int | None) -> Store:
    from logstore.server import ServerStore

    # The page size is the server's store's own (its reads page on the server); the client streams.
    return ServerStore(settings)


CONTRACT: dict[str, ContractBackend] = {
    "sqlite": ContractBackend("sqlite_store_config", _open_sqlite),
    # tests/rig/fixtures.py: an isolated index namespace on osmem (or a real cluster).
    "elasticsearch": ContractBackend("es_store_config", _open_elasticsearch),
    # tests/conftest.py: a real logwarden server on loopback over its own SQLite store.
    "server": ContractBackend("server_store_config", _open_server),
}
