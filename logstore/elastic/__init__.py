"""The Elasticsearch backend: daily indices, an index template, bulk ``create`` writes, PIT search.

Public surface: ``ElasticStore(config, *, page_size=1000)``; ``.client`` (the official client) and
``.config`` are public so the alerter can keep its state in ``config.state_index``.
"""

from __future__ import annotations

from logstore.elastic._store import ElasticStore

__all__ = ["ElasticStore"]
