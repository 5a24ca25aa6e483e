"""The ``_bulk`` body of a list of docs, and the classification of its reply, without a connection:
the store's write path, the shipper's build processes (which must not import the Elasticsearch
client) and the logwarden server backend (which speaks the same ``_bulk``) share them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from logstore._source import cap_nesting, nested_deeper_than, prepare_source, serialize
from logstore.elastic._naming import IndexNamer
from logstore.types import TIMESTAMP_FIELD, Doc, Outcome, WriteResult


def bulk_lines(namer: IndexNamer, docs: Sequence[Doc]) -> tuple[list[bytes], dict[int, WriteResult]]:
    """The ``_bulk`` body lines of ``docs`` (action, source, action, source, ...; to be joined by
    newlines) and the docs refused before sending, by position. Needs no connection: the shipper's
    build processes call it too."""
    dumps = orjson.dumps
    prefix_of = namer.action_prefix
    parts: list[bytes] = []
    extend = parts.extend
    local: dict[int, WriteResult] = {}  # position -> a doc refused before sending
    # The action prefix of the previous doc, reused while the doc's day and the object under the
    # index pattern's first field are the same (the shipper's docs share one service dict): the
    # same object has one value, so the index name is the same.
    fields = namer.fields
    top = fields[0].partition(".")[0] if len(fields) == 1 else None
    last: tuple[int, Any, bytes] = (-1, None, b"")
    for pos, doc in enumerate(docs):
        source = doc.source
        raw = doc.raw
        if not doc.final or raw is None:
            if TIMESTAMP_FIELD not in source:
                local[pos] = WriteResult(doc.id, Outcome.REJECTED, f"the doc has no {TIMESTAMP_FIELD}")
                continue
            try:
                fixed = prepare_source(source, doc.id)
                if fixed is None:
                    if raw is None or 10 in raw:  # a newline would split the NDJSON line
                        source, raw = serialize(source)
                else:
                    source, raw = serialize(fixed)
            except (TypeError, ValueError) as e:  # orjson.JSONEncodeError is a TypeError
                local[pos] = WriteResult(doc.id, Outcome.REJECTED, f"cannot serialize the doc as JSON: {e}")
                continue
        if nested_deeper_than(raw) and (capped := cap_nesting(source)) is not None:
            # Deeper than index.mapping.depth.limit (20): the cluster would refuse it forever.
            source, raw = capped, dumps(capped)
        day = doc.ts // 86_400_000
        key = source.get(top) if top is not None else None
        if key is None or last[1] is not key or last[0] != day:
            last = (day, key, prefix_of(source, doc.ts))
        extend((last[2] + dumps(doc.id) + b"}}", raw))
    return parts, local


def short(reason: object, limit: int = 300) -> str:
    text = " ".join(str(reason).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def item_reason(error: Any) -> str:
    if not isinstance(error, dict):
        return short(error)
    text = f"{error.get('type', 'error')}: {error.get('reason', '')}".rstrip(": ")
    caused = error.get("caused_by")
    if isinstance(caused, dict) and caused.get("reason"):
        text += f" ({caused.get('type', '')}: {caused['reason']})"
    return short(text)


def request_outcome(status: int) -> Outcome:
    """What a whole ``_bulk`` request refused with ``status`` (not 401/403: those raise) means for
    each of its docs: 413 TOO_LARGE (sent again in parts), 429/5xx RETRYABLE, another 4xx REJECTED."""
    if status == 413:
        return Outcome.TOO_LARGE
    if status == 429 or status >= 500:
        return Outcome.RETRYABLE
    return Outcome.REJECTED


def classify(ids: Sequence[str], reply: Any) -> list[WriteResult]:
    """One result per id from a ``_bulk`` reply's items, by position (a missing item is RETRYABLE)."""
    items = reply.get("items") if isinstance(reply, dict) else None
    if isinstance(reply, dict) and reply.get("errors") is False:
        return [WriteResult(i, Outcome.CREATED) for i in ids]
    items = items or []
    out: list[WriteResult] = []
    for n, doc_id in enumerate(ids):
        if n >= len(items):
            out.append(WriteResult(doc_id, Outcome.RETRYABLE, "no reply for this item"))
            continue
        item: dict[str, Any] = next(iter(items[n].values()), {}) if items[n] else {}
        status = int(item.get("status", 0))
        if 200 <= status < 300:
            out.append(WriteResult(doc_id, Outcome.CREATED))
        elif status == 409:
            out.append(WriteResult(doc_id, Outcome.DUPLICATE))
        elif status == 429 or status >= 500 or status == 0:
            out.append(WriteResult(doc_id, Outcome.RETRYABLE, item_reason(item.get("error"))))
        else:
            out.append(WriteResult(doc_id, Outcome.REJECTED, item_reason(item.get("error"))))
    return out
