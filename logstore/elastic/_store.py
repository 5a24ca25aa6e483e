"""ElasticStore: the Elasticsearch backend of the store contract (see logstore.protocol).

A thin class: each responsibility is its own module, which states its guarantees.
- ``_client``: the client (retries off: the pipeline owns retries), failure reasons, the cluster
  check at open (one line naming URL and reason on failure).
- ``_install``: the index template and ILM policy, (re)installed idempotently; a missing server
  feature (composable templates, ILM) costs one warning.
- ``_write`` (+ ``_bulk``): one ``_bulk`` of ``create`` actions with the doc's ``_id`` per write, every
  item classified (a re-send answers DUPLICATE); None from ``write_unless_all_created`` when all
  were created.
- ``_search``: hits streamed in (``@timestamp``, ``event.id``) order with ``search_after``, inside a
  point in time where the server has one.
- ``_aggregate`` (+ ``_aggs``): all requests in one ``_msearch``, requests sharing query, window and
  grouping merged into one search.
- ``_retention``: whole daily indices deleted where the server has no ILM.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

from logstore.config import ElasticsearchConfig
from logstore.elastic import _install, _write
from logstore.elastic._aggregate import Aggregator
from logstore.elastic._client import Cluster
from logstore.elastic._naming import IndexNamer
from logstore.elastic._retention import delete_old_indices
from logstore.elastic._search import FieldTypes, Searcher
from logstore.protocol import Order
from logstore.types import (
    AggRequest,
    AggResult,
    Cursor,
    Doc,
    Health,
    Hit,
    RetentionResult,
    WriteResult,
    each_result,
)


class ElasticStore:
    """Elasticsearch (or an Elasticsearch-compatible server) behind the store contract."""

    name = "elasticsearch"

    def __init__(self, config: ElasticsearchConfig, *, page_size: int = 1000, checked: bool = False) -> None:
        self.config = config
        self.page_size = max(1, page_size)
        self.namer = IndexNamer(config.index)
        self.index_pattern = self.namer.search_pattern
        self._cluster = Cluster(config, self.index_pattern)
        self.url = self._cluster.url
        self.client = self._cluster.client
        self._types = FieldTypes(self._cluster)
        self._searcher = Searcher(self._cluster, self._types, self.page_size)
        self._aggregator = Aggregator(self._cluster, self._types)
        self._installed = _install.Installed()
        if not checked:
            self._cluster.check()
            self._installed = _install.install(self._cluster, config)

    @classmethod
    def writer(cls, config: ElasticsearchConfig) -> ElasticStore:
        """Another connection to a store this process family has opened already (the cluster is
        checked and the template installed): no round trip until the first write. For the
        shipper's build processes, which must not share the parent's connections."""
        return cls(config, checked=True)

    # ---- write -----------------------------------------------------------------------------------

    def write(self, docs: Sequence[Doc]) -> list[WriteResult]:
        return each_result(docs, self.write_unless_all_created(docs))

    def write_unless_all_created(self, docs: Sequence[Doc]) -> list[WriteResult] | None:
        """``write``, but None when every doc was created: no per-doc results to build on the hot
        path (~0.5 us a doc). The ``FastWrite`` capability (logstore.protocol)."""
        if docs:
            self._types.clear()  # a write may create the daily index that changes a field's type
        return _write.write_docs(self._cluster, self.namer, docs)

    def write_body(self, body: bytes, ids: Callable[[], Sequence[str]]) -> list[WriteResult] | None:
        """Send a ``_bulk`` body built elsewhere by ``bulk_lines`` (the shipper's build processes).
        ``ids()`` gives the doc ids of its create actions, in order; it is called only when some doc
        was not created. None when every doc was created, else a result per doc. Not part of the
        Store protocol."""
        self._types.clear()
        return _write.send_bulk(self._cluster, ids, body)

    # ---- read ------------------------------------------------------------------------------------

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
        """Hits matching the Lucene ``query`` with start <= @timestamp < end, streamed page by page."""
        return self._searcher.search(query, start, end, order, limit, after)

    def count(self, query: str, start: datetime | None = None, end: datetime | None = None) -> int:
        return self._searcher.count(query, start, end)

    def aggregate(self, requests: Sequence[AggRequest]) -> list[AggResult]:
        return self._aggregator.aggregate(requests)

    # ---- maintenance -----------------------------------------------------------------------------

    def retention(self, now: datetime | None = None) -> RetentionResult:
        """Delete whole daily indices older than the retention (ILM does it where the server has it)."""
        keep = self.config.retention
        if keep is None or self._installed.ilm:
            return RetentionResult(deleted_docs=None)
        return delete_old_indices(self._cluster, self.namer, keep, now or datetime.now(tz=UTC))

    def refresh(self) -> None:
        self._cluster.refresh()

    def health(self) -> Health:
        return _install.health(self._cluster, self.config, self._installed)

    def close(self) -> None:
        self._cluster.close()
