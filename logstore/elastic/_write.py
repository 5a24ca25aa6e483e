"""Bulk writes: one ``_bulk`` of ``create`` actions per call, and the classification of its reply.

Guarantees:
- Idempotent: every action is a ``create`` with the doc's ``_id``, so a re-send answers 409, which
  is DUPLICATE.
- One result per doc, in input order; a doc refused before sending (no ``@timestamp``, not JSON)
  is REJECTED without sinking the others. Never retries and never raises for per-doc or transient
  trouble: a whole-request 429/5xx, connection error or timeout makes every doc RETRYABLE, a 413
  (the body is over the cluster's ``http.max_content_length``) TOO_LARGE, so the pipeline sends it in
  smaller requests, another 4xx REJECTED (the pipeline owns retries). Only 401/403 raise
  (``StoreAuthError``): no doc can be written until someone fixes the credentials.
- A reply with ``"errors": false`` is not walked: the caller gets None (every doc created) instead
  of a result per doc, and the doc ids are never asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from elastic_transport import TransportError
from elasticsearch import ApiError

from logstore.elastic._bulk import bulk_lines, classify, request_outcome
from logstore.elastic._client import NDJSON, Cluster, api_reason, connection_reason
from logstore.elastic._naming import IndexNamer
from logstore.types import Doc, Outcome, WriteResult

__all__ = ["classify", "send_bulk", "write_docs"]


def write_docs(cluster: Cluster, namer: IndexNamer, docs: Sequence[Doc]) -> list[WriteResult] | None:
    """Write ``docs``: None when every doc was created, else one result per doc, in order."""
    if not docs:
        return []
    parts, local = bulk_lines(namer, docs)
    sent = [d for pos, d in enumerate(docs) if pos not in local] if local else docs
    parts.append(b"")  # the body's final newline, without copying the joined body again
    remote = send_bulk(cluster, lambda: [d.id for d in sent], b"\n".join(parts)) if sent else []
    if not local:
        return remote
    if remote is None:
        remote = [WriteResult(d.id, Outcome.CREATED) for d in sent]
    it = iter(remote)
    return [local[pos] if pos in local else next(it) for pos in range(len(docs))]


def send_bulk(cluster: Cluster, ids: Callable[[], Sequence[str]], body: bytes) -> list[WriteResult] | None:
    """POST one ``_bulk``; None when every item was created. ``ids`` is only called otherwise."""
    try:
        resp = cluster.client.perform_request("POST", "/_bulk", headers=NDJSON, body=body)
    except ApiError as e:
        status = e.status_code
        reason = f"HTTP {status}: {api_reason(e)}"
        if status in (401, 403):
            raise cluster.fail(reason, auth=True) from None
        outcome = request_outcome(status)
        return [WriteResult(i, outcome, reason) for i in ids()]
    except TransportError as e:
        reason = connection_reason(e)
        return [WriteResult(i, Outcome.RETRYABLE, reason) for i in ids()]
    reply = resp.body
    if isinstance(reply, dict) and reply.get("errors") is False:
        return None  # no item failed (a 409 also sets errors): nothing to walk on the hot path
    return classify(ids(), reply)
