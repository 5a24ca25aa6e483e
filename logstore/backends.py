"""The backend registry: one line per store backend.

To add a backend: write a package with a ``BACKEND = Backend(...)`` entry (``logstore.backend``)
and add it to ``BACKENDS`` below; the ``store:`` section of logwarden.yaml, ``open_store`` and the
alerter's state all find it here. Add its fixture to the contract suite (tests/logstore/conftest.py).
Registered by hand, not discovered at import time, so the list of backends is this file.
"""

from __future__ import annotations

from logstore.backend import Backend
from logstore.config.store import StoreConfig
from logstore.elastic import BACKEND as ELASTICSEARCH
from logstore.protocol import Store
from logstore.server import BACKEND as SERVER
from logstore.sqlite import BACKEND as SQLITE

BACKENDS: dict[str, Backend] = {backend.name: backend for backend in (SQLITE, ELASTICSEARCH, SERVER)}

# The backend of a config without a ``store`` section: an embedded file needs no server.
DEFAULT_BACKEND = SQLITE.name


def get_backend(name: str) -> Backend:
    """The registered backend called ``name``; KeyError names the known ones."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise KeyError(f"unknown store backend {name!r}; known: {', '.join(sorted(BACKENDS))}") from None


def open_store(config: StoreConfig, *, create: bool = True) -> Store:
    """Open (and on first use create) the configured store. Raises StoreError with one line.

    ``create=False`` is for readers (logq, ``alerter status``): the store must exist already, it is
    opened for reading only, and nothing in it is created (a missing store is a StoreError naming
    where it was looked for, not a new empty store answering "nothing found").
    """
    backend = get_backend(config.backend)
    if not create and backend.open_reader is not None:
        return backend.open_reader(config.settings)
    return backend.open_store(config.settings)
