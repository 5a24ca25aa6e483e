"""The logwarden server backend: the Store protocol over HTTP, answered by ``logwarden serve``.

``store: {server: {url, token, ca_certs}}`` points the shipper, the alerter and logq at a logwarden
server (server/), which keeps the data in its own embedded store. Public surface:
``ServerStoreConfig`` (the section), ``ServerStore`` (the store) and ``ServerClient`` (its HTTP
connection, which the alerter's state shares), ``BACKEND`` (the registry entry), and
``logstore.server.wire`` (the JSON shapes client and server agree on; docs/server-api.md).

Writes are the server's Elasticsearch-compatible ``POST /_bulk`` (``create`` actions with ``_id``),
classified exactly as the Elasticsearch backend classifies them; everything else is the JSON API
under ``/_logwarden/v1/``. The alerter's state lives on the server (its SQLite tables), reached
through the same API, so alerters on several hosts share one notification log and one set of claims.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator

from logstore.backend import Backend
from logstore.config.types import Strict
from logstore.protocol import Store

if TYPE_CHECKING:
    from logstore.server._client import ServerClient
    from logstore.server._store import ServerStore

__all__ = ["BACKEND", "ServerClient", "ServerStore", "ServerStoreConfig"]


class ServerStoreConfig(Strict):
    """The ``store.server`` section: where the server is, the client's token, the CA to trust."""

    url: str  # http(s)://host:port of `logwarden serve`
    token: SecretStr | None = None  # one of the server's server.auth.tokens; sent as a Bearer token
    # CA certificate(s) the server's TLS certificate must chain to (default: the system's).
    ca_certs: Path | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected http(s)://host:port of a logwarden server, got {value!r}")
        if parts.password or parts.username:
            raise ValueError("put the credentials in store.server.token, not in the url")
        try:
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError as e:
            raise ValueError(f"bad port in {value!r}: {e}") from None
        return value.strip().rstrip("/")


def __getattr__(name: str) -> Any:
    # Loaded on first use: the registry imports this package on every ``import logstore``, and the
    # HTTP client (urllib3) is only needed once a server store is opened.
    if name == "ServerStore":
        from logstore.server._store import ServerStore

        return ServerStore
    if name == "ServerClient":
        from logstore.server._client import ServerClient

        return ServerClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _open_store(config: ServerStoreConfig) -> Store:
    from logstore.server._store import ServerStore

    return ServerStore(config)


def _http(store: Store) -> Any:
    from logstore.server._store import ServerStore

    # The registry hands each backend its own stores; anything else is a wiring bug.
    assert isinstance(store, ServerStore), f"not a server store: {store!r}"
    return store.client


def _open_alert_state(store: Store, config: ServerStoreConfig) -> Any:
    from alerter.state.server import ServerStateStore

    return ServerStateStore(_http(store))


def _open_notify_state(store: Store, config: ServerStoreConfig) -> Any:
    from alerter.notify.state.server import ServerNotifyState

    return ServerNotifyState(_http(store))


BACKEND = Backend(
    name="server",
    config=ServerStoreConfig,
    open_store=_open_store,
    open_alert_state=_open_alert_state,
    open_notify_state=_open_notify_state,
    # One connection pool, safe to share across threads (urllib3): no store per worker thread.
    store_per_thread=False,
    # Opening checks the server and the token; nothing is created on either side.
    open_reader=_open_store,
)
