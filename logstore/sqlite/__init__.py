"""The embedded SQLite backend (the default store): ``SqliteStore(config, page_size=...)``.

``BACKEND`` is its registry entry (``logstore.backends``). The alerter keeps its state in tables of
the store's own file, each on its own connection; an SQLite connection belongs to the thread that
opened it, so the alerter opens one store per worker thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from logstore._sqlite_library import create_private, open_connection
from logstore.backend import Backend
from logstore.config.store import SqliteConfig
from logstore.protocol import Store
from logstore.sqlite._schema import transaction

if TYPE_CHECKING:
    from logstore.sqlite._schema import SCHEMA_VERSION
    from logstore.sqlite.store import SqliteStore

# ``open_connection``: the one SQLite library (APSW) for every file of logwarden, so that the
# alerter's and the shipper's own files share the store's POSIX locks (see _sqlite_library).
__all__ = ["BACKEND", "SCHEMA_VERSION", "SqliteStore", "create_private", "open_connection", "transaction"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: the registry imports this package on every ``import logstore``, and the
    # store module (APSW, the schema) is only needed once a store is opened.
    if name == "SqliteStore":
        from logstore.sqlite.store import SqliteStore

        return SqliteStore
    if name == "SCHEMA_VERSION":  # the store file's schema version (benchmarks record it)
        from logstore.sqlite._schema import SCHEMA_VERSION

        return SCHEMA_VERSION
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _open_store(config: SqliteConfig) -> Store:
    from logstore.sqlite.store import SqliteStore

    return SqliteStore(config)


def _open_reader(config: SqliteConfig) -> Store:
    from logstore.sqlite.store import SqliteStore

    return SqliteStore(config, create=False)


def _open_alert_state(store: Store, config: SqliteConfig) -> Any:
    from alerter.state.sqlite import SqliteStateStore

    return SqliteStateStore(config.path, config.busy_timeout.total_seconds())


def _open_notify_state(store: Store, config: SqliteConfig) -> Any:
    from alerter.notify.state.sqlite import SqliteNotifyState

    return SqliteNotifyState(config.path, busy_timeout=config.busy_timeout.total_seconds())


def _open_dead_letters(store: Store, config: SqliteConfig) -> Any:
    from server.deadletters.sqlite import SqliteDeadLetters

    return SqliteDeadLetters(config.path, busy_timeout=config.busy_timeout.total_seconds())


BACKEND = Backend(
    name="sqlite",
    config=SqliteConfig,
    open_store=_open_store,
    open_alert_state=_open_alert_state,
    open_notify_state=_open_notify_state,
    store_per_thread=True,
    open_reader=_open_reader,
    open_dead_letters=_open_dead_letters,
)
