"""The JSON shapes of the Store API (docs/server-api.md), shared by the client and the server.

Guarantees:
- Times cross as ISO 8601 text (``datetime.isoformat``), which round-trips a ``datetime`` exactly
  (microseconds, offset, or none for a naive time, which the store reads as UTC): the server hands
  its store the very datetime the caller gave, so both compute the same epoch milliseconds.
- A search answer is NDJSON: one hit per line, ``{"ts":<ms>,"id":<json string>,"source":<doc>}``
  with the keys in that order and the stored doc's bytes spliced in unparsed, then exactly one
  final line, ``{"end":{"hits":N}}`` or ``{"error":{...}}``. A stream without either was cut off,
  and the client says so instead of answering fewer hits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from pydantic import TypeAdapter

from logstore.types import AggRequest, AggResult, Cursor

PREFIX = "/_logwarden/v1"

# pydantic validates (the server: a one-line error naming the field) and converts both ways.
AGG_REQUESTS: TypeAdapter[list[AggRequest]] = TypeAdapter(list[AggRequest])
AGG_RESULTS: TypeAdapter[list[AggResult]] = TypeAdapter(list[AggResult])

HIT_HEAD = b'{"ts":'
_ID_KEY = b',"id":'
_SOURCE_KEY = b',"source":'
END_HEAD = b'{"end":'
ERROR_HEAD = b'{"error":'


def time_json(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat()


def cursor_json(cursor: Cursor | None) -> dict[str, Any] | None:
    return None if cursor is None else {"ts": cursor.ts, "id": cursor.id}


def search_body(
    query: str,
    start: datetime | None,
    end: datetime | None,
    order: str,
    limit: int | None,
    after: Cursor | None,
) -> dict[str, Any]:
    return {
        "query": query,
        "start": time_json(start),
        "end": time_json(end),
        "order": order,
        "limit": limit,
        "after": cursor_json(after),
    }


def aggregate_body(requests: Sequence[AggRequest]) -> bytes:
    return AGG_REQUESTS.dump_json(list(requests))


def hit_line(ts: int, doc_id: str, source: bytes) -> bytes:
    """One hit of a search answer: the stored doc's bytes go in as they are."""
    return b'{"ts":%d,"id":%b,"source":%b}\n' % (ts, orjson.dumps(doc_id), source)


def end_line(hits: int) -> bytes:
    return b'{"end":{"hits":%d}}\n' % hits


def error_line(kind: str, reason: str) -> bytes:
    return orjson.dumps({"error": {"type": kind, "reason": reason}}) + b"\n"


def split_hit(line: bytes) -> tuple[Cursor, bytes]:
    """A hit line (without its newline) -> its cursor and the doc's bytes, parsing only the id.

    Safe by JSON's rules: inside a JSON string every ``"`` is escaped, so ``,"id":`` and
    ``,"source":`` cannot occur in the id and the first of each is the key.
    """
    i = line.index(_ID_KEY, 6)
    j = line.index(_SOURCE_KEY, i)
    raw_id = line[i + 6 : j]
    doc_id = raw_id[1:-1].decode() if 92 not in raw_id else orjson.loads(raw_id)  # 92: a backslash
    return Cursor(int(line[6:i]), doc_id), line[j + 10 : -1]
