"""The ``_bulk`` body of a list of docs, without a connection: the store's write path and the
shipper's build processes (which must not import the Elasticsearch client) share it."""

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
