"""Retention where the server has no ILM: delete whole daily indices older than the retention.

Guarantees:
- A daily index goes only once all of its day, [day, day + 1d), is older than the cutoff, so no doc
  younger than the retention is ever deleted; indices the index pattern does not name by day are
  never touched.
- Deletes go in chunks of ``_CHUNK`` names; a failed chunk is a warning and the others still go
  (the next run tries again). Listing the indices failing is a ``StoreError`` naming the URL.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from elastic_transport import TransportError
from elasticsearch import ApiError

from logstore.elastic._client import Cluster, api_reason, connection_reason, short
from logstore.elastic._naming import IndexNamer
from logstore.types import RetentionResult

log = logging.getLogger("logstore.elastic")

_CHUNK = 50  # index names per DELETE: keeps the URL short


def delete_old_indices(
    cluster: Cluster, namer: IndexNamer, keep: timedelta, now: datetime
) -> RetentionResult:
    cutoff = (now - keep).timestamp()
    try:
        reply = cluster.request(
            # (_cat takes no ignore_unavailable; a wildcard matching nothing is simply empty.)
            "GET",
            f"/_cat/indices/{cluster.index_pattern}",
            params={"format": "json", "h": "index"},
        )
    except ApiError as e:
        if e.status_code == 404:
            return RetentionResult(deleted_docs=None)
        raise cluster.fail(f"listing indices failed: {api_reason(e)}") from None
    except TransportError as e:
        raise cluster.fail(connection_reason(e)) from None
    old: list[str] = []
    for row in reply or []:
        name = row.get("index", "") if isinstance(row, dict) else ""
        day = namer.day_of(name)
        # A daily index holds [day, day + 1d): it goes once all of that is past the cutoff.
        if day is not None and day.timestamp() + 86400 <= cutoff:
            old.append(name)
    deleted: list[str] = []
    for i in range(0, len(old), _CHUNK):
        chunk = old[i : i + _CHUNK]
        try:
            cluster.request("DELETE", "/" + ",".join(chunk), params={"ignore_unavailable": "true"})
            deleted.extend(chunk)
        except (ApiError, TransportError) as e:
            log.warning("elasticsearch at %s: deleting old indices failed: %s", cluster.url, short(e))
    return RetentionResult(deleted_docs=None, deleted_indices=tuple(sorted(deleted)))
