"""The one store interface shared by the shipper, the alerter and logq.

Guarantees every backend keeps (the contract suite in tests/logstore checks each on both backends):

- ``write`` is idempotent by ``Doc.id``: writing a doc whose id is stored already answers DUPLICATE
  and stores nothing. It answers one ``WriteResult`` per doc, in input order, and never raises for
  per-doc trouble; it raises ``StoreError`` only when the store cannot be used at all. Retries are
  the caller's job (the pipeline owns retries; the store only classifies).
- ``search`` yields hits sorted by (``@timestamp``, ``event.id``) in the requested order, streaming any
  number of them with bounded memory. ``after`` resumes strictly after a cursor in that order.
- ``aggregate`` answers several requests in one round trip where the backend can (Elasticsearch
  ``_msearch``). Totals are exact; a group limit that cuts groups sets ``truncated``.
- Docs written are visible to ``search``/``aggregate`` after ``refresh()`` (a no-op on SQLite),
  including from other processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from logstore.types import AggRequest, AggResult, Cursor, Doc, Health, Hit, RetentionResult, WriteResult

if TYPE_CHECKING:
    # Only a type: the bulk body format is Elasticsearch's, and so is the namer of its action lines.
    from logstore.elastic import IndexNamer

Order = Literal["asc", "desc"]


@runtime_checkable
class Store(Protocol):
    name: str  # the registered backend name: "sqlite", "elasticsearch", "server"

    def write(self, docs: Sequence[Doc]) -> list[WriteResult]: ...

    def search(
        self,
        query: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        order: Order = "asc",
        limit: int | None = None,
        after: Cursor | None = None,
    ) -> Iterator[Hit]:
        """Hits matching the Lucene ``query`` ('' or '*' = all) with start <= @timestamp < end."""
        ...

    def count(self, query: str, start: datetime | None = None, end: datetime | None = None) -> int: ...

    def aggregate(self, requests: Sequence[AggRequest]) -> list[AggResult]: ...

    def retention(self, now: datetime | None = None) -> RetentionResult:
        """Drop data older than the configured retention (relative to ``now``, default the clock)."""
        ...

    def refresh(self) -> None: ...

    def health(self) -> Health: ...

    def close(self) -> None: ...


# ---- optional capabilities ------------------------------------------------------------------------
# A backend may offer a faster path for one caller. Callers test ``isinstance(store, Capability)``
# (these are runtime_checkable), never ``getattr`` and never the backend's name, so a new backend
# gets the fast path by implementing the method and nothing else changes.


@runtime_checkable
class FastWrite(Protocol):
    """``write``, but None when every doc was created: no per-doc results on the hot path."""

    def write_unless_all_created(self, docs: Sequence[Doc]) -> list[WriteResult] | None: ...


@runtime_checkable
class RawSearch(Protocol):
    """``search``, but each hit is its cursor and the stored doc as one line of JSON bytes.

    Same hits, same order as ``search``; the bytes parse to the same value as ``Hit.source``. For
    callers that pass docs on unchanged (``logq -o json``): no parse and re-serialization per hit.
    """

    def search_raw(
        self,
        query: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        order: Order = "asc",
        limit: int | None = None,
        after: Cursor | None = None,
    ) -> Iterator[tuple[Cursor, bytes]]: ...


@runtime_checkable
class BodyWrite(Protocol):
    """Sends a ``_bulk`` body its caller built: NDJSON ``create`` action and source lines.

    For callers that turn many lines into a body without a ``Doc`` each, possibly in other
    processes (the shipper's blocks). ``logstore.elastic.bulk_lines(store.namer, docs)`` is the body
    of ``docs`` as ``write`` would send it; ``namer`` names each action's index.

    - ``write_body(body, ids)``: one request; None when every doc was created, else one result per
      doc of the body, classified as ``write`` classifies (``ids()`` gives the body's doc ids, in
      order, and is called only then). Raises ``StoreError`` as ``write`` does.
    - ``writer(config)``: another connection to this store (``config`` is the store's ``config``),
      for another process: no round trip until its first write, since this one checked the store.
    """

    namer: IndexNamer
    config: Any

    def write_body(self, body: bytes, ids: Callable[[], Sequence[str]]) -> list[WriteResult] | None: ...

    def writer(self, config: Any) -> BodyWrite: ...
