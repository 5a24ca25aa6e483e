"""What one store backend is: a ``Backend`` entry in the registry (``logstore.backends``).

An entry names everything the programs need from a backend, so no caller asks a store for its
name or pokes at its attributes: the config model of its ``store.<name>`` section, how to open the
store (to write, and to read only), and how to open the alerter's and the notifier's durable state
next to the store's data (and the server's dead letters).
The state factories import the alerter (and the server) lazily, inside the call: ``import
logstore`` never loads the programs, and the store library is usable on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from logstore.protocol import Store


@dataclass(frozen=True, slots=True)
class Backend:
    """One store backend: its config model, its store, and where the alerter keeps state in it."""

    name: str  # the key under ``store:`` in logwarden.yaml, and ``Store.name``
    config: type[BaseModel]  # validates the ``store.<name>`` section
    open_store: Callable[[Any], Store]  # (its config) -> an open Store; raises StoreError
    # (the open store, its config) -> an ``alerter.state.StateStore``
    open_alert_state: Callable[[Store, Any], Any]
    # (the open store, its config) -> an ``alerter.notify.state.NotifyState``
    open_notify_state: Callable[[Store, Any], Any]
    # A store handle may only be used by the thread that opened it (an SQLite connection): the
    # alerter then opens one store per worker thread instead of sharing one across them.
    store_per_thread: bool = False
    # (its config) -> an open Store for reading only (logq, ``alerter status``): never creates the
    # store or anything in it, and needs only read permission. None: ``open_store`` serves readers.
    open_reader: Callable[[Any], Store] | None = None
    # (the open store, its config) -> a ``server.deadletters.DeadLetterHome``: where a logwarden
    # server over this backend keeps the ``_bulk`` items it refused. None: the server keeps them in
    # memory only.
    open_dead_letters: Callable[[Store, Any], Any] | None = None
