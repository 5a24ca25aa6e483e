"""A toy in-memory store backend, for tests only: proves a backend is one package plus one registry line.

``BACKEND`` is its registry entry; tests register it with ``monkeypatch.setitem(BACKENDS, "toy",
BACKEND)``. The store keeps docs in a dict, evaluates the parsed query in Python, and answers the
aggregations the contract checks it with (count, ratio, groups, histograms, numeric metrics).
Its alert state is ``MemoryStateStore`` and its notification state ``MemoryNotifyState``.
"""

from __future__ import annotations

import fnmatch
import math
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import orjson

from logq.keys import get_path as _get  # the same dotted-path read logq uses
from logstore import (
    AggRequest,
    AggResult,
    AggRow,
    Cursor,
    Doc,
    Health,
    Hit,
    Order,
    Outcome,
    RetentionResult,
    Store,
    WriteResult,
    parse_query,
)
from logstore.backend import Backend
from logstore.config import Duration, Strict
from logstore.query import MESSAGE, And, Exists, MatchAll, Node, Not, Or, Phrase, Range, Regex, Term, Wildcard
from logstore.types import datetime_to_ms

_WORD = re.compile(r"\w+")


class ToyConfig(Strict):
    name: str = "default"  # stores of one name share their docs, as processes share a file
    retention: Duration | None = None


def _nest(source: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in source.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = _nest(value) if isinstance(value, dict) else value
    return out


def _values(source: dict[str, Any], field: str) -> list[str]:
    value = _get(source, field)
    if value is None:
        return []
    if field == MESSAGE:
        return [w.lower() for w in _WORD.findall(str(value))]
    items = value if isinstance(value, list) else [value]
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in items]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _in_range(value: str, node: Range) -> bool:
    def cmp(a: str, b: str) -> int:
        x, y = _number(a), _number(b)
        if x is not None and y is not None:
            return (x > y) - (x < y)
        return (a > b) - (a < b)

    low_ok = node.low is None or cmp(value, node.low) > (-1 if node.include_low else 0)
    high_ok = node.high is None or cmp(value, node.high) < (1 if node.include_high else 0)
    return low_ok and high_ok


def matches(node: Node, source: dict[str, Any]) -> bool:
    """The parsed query ``node`` against one stored doc (keyword fields exact, message by word)."""
    if isinstance(node, MatchAll):
        return True
    if isinstance(node, And):
        return all(matches(n, source) for n in node.items)
    if isinstance(node, Or):
        return any(matches(n, source) for n in node.items)
    if isinstance(node, Not):
        return not matches(node.item, source)
    if isinstance(node, Exists):
        return _get(source, node.field) is not None
    values = _values(source, node.field)
    if isinstance(node, Term):
        want = node.value.lower() if node.field == MESSAGE else node.value
        num = _number(want)
        return any(v == want or (num is not None and _number(v) == num) for v in values)
    if isinstance(node, Phrase):
        text = str(_get(source, node.field) or "")
        return node.text.lower() in text.lower() if node.field == MESSAGE else text == node.text
    if isinstance(node, Wildcard):
        return any(fnmatch.fnmatchcase(v, node.pattern) for v in values)
    if isinstance(node, Regex):
        return any(re.fullmatch(node.pattern, v) for v in values)
    if isinstance(node, Range):
        return any(_in_range(v, node) for v in values)
    raise AssertionError(node)


class ToyStore:
    name = "toy"

    def __init__(self, config: ToyConfig) -> None:
        self.config = config
        self._docs: dict[str, Hit] = {}
        self._lock = threading.Lock()

    def write(self, docs: Sequence[Doc]) -> list[WriteResult]:
        out = []
        with self._lock:
            for doc in docs:
                if doc.id in self._docs:
                    out.append(WriteResult(doc.id, Outcome.DUPLICATE))
                    continue
                if "@timestamp" not in doc.source:
                    out.append(WriteResult(doc.id, Outcome.REJECTED, "no @timestamp"))
                    continue
                try:
                    source = orjson.loads(orjson.dumps({**doc.source, "event.id": doc.id}))
                except TypeError as e:
                    out.append(WriteResult(doc.id, Outcome.REJECTED, str(e)))
                    continue
                source = _nest(source)
                source.setdefault("event", {})["id"] = doc.id
                self._docs[doc.id] = Hit(doc.id, doc.ts, source)
                out.append(WriteResult(doc.id, Outcome.CREATED))
        return out

    def _matching(self, query: str, start: datetime | None, end: datetime | None) -> list[Hit]:
        node = parse_query(query)
        lo = datetime_to_ms(start) if start is not None else -math.inf
        hi = datetime_to_ms(end) if end is not None else math.inf
        with self._lock:
            hits = list(self._docs.values())
        return sorted(
            (h for h in hits if lo <= h.ts < hi and matches(node, h.source)), key=lambda h: (h.ts, h.id)
        )

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
        hits = self._matching(query, start, end)
        if order == "desc":
            hits.reverse()
        if after is not None:
            key = (after.ts, after.id)
            hits = [h for h in hits if ((h.ts, h.id) > key if order == "asc" else (h.ts, h.id) < key)]
        return iter(hits[:limit] if limit is not None else hits)

    def count(self, query: str, start: datetime | None = None, end: datetime | None = None) -> int:
        return len(self._matching(query, start, end))

    def aggregate(self, requests: Sequence[AggRequest]) -> list[AggResult]:
        return [self._aggregate(r) for r in requests]

    def _aggregate(self, req: AggRequest) -> AggResult:
        hits = self._matching(req.query, req.start, req.end)
        rows: dict[tuple[Any, ...], list[Hit]] = {}
        for h in hits:
            group = tuple(_get(h.source, f) for f in req.group_by)
            if any(v is None for v in group):
                continue
            bucket = h.ts - h.ts % req.interval if req.interval else None
            rows.setdefault((*group, bucket), []).append(h)
        groups = {k[:-1] for k in rows}
        keep = sorted(groups, key=lambda g: -sum(len(v) for k, v in rows.items() if k[:-1] == g))
        keep = keep[: req.group_limit]
        out = [
            AggRow(dict(zip(req.group_by, k[:-1], strict=True)), len(v), self._metrics(req, v), k[-1])
            for k, v in rows.items()
            if k[:-1] in keep
        ]
        if not req.group_by and not req.interval and not out:
            out = [AggRow({}, 0, self._metrics(req, []))]  # ungrouped: always one row, even of 0
        # Groups by count (desc) then value, like the real backends; a histogram's rows in time order.
        out.sort(key=lambda r: (r.bucket or 0, -r.count, [str(v) for v in r.group.values()]))
        return AggResult(len(hits), out, truncated=len(groups) > req.group_limit, groups_total=len(groups))

    def _metrics(self, req: AggRequest, hits: list[Hit]) -> dict[str, float | int | None]:
        values: dict[str, float | int | None] = {}
        for m in req.metrics:
            if m.kind == "count":
                node = parse_query(m.query or "")
                values[m.name] = sum(1 for h in hits if matches(node, h.source))
                continue
            nums = [v for h in hits if isinstance(v := _get(h.source, m.field or ""), int | float)]
            if m.kind == "cardinality":
                values[m.name] = len({str(_get(h.source, m.field or "")) for h in hits} - {"None"})
            elif not nums:
                values[m.name] = None
            elif m.kind == "avg":
                values[m.name] = sum(nums) / len(nums)
            elif m.kind in ("min", "max", "sum"):
                values[m.name] = {"min": min, "max": max, "sum": sum}[m.kind](nums)
            else:  # percentile: nearest rank
                ordered = sorted(nums)
                values[m.name] = ordered[max(0, math.ceil((m.percent or 100) / 100 * len(ordered)) - 1)]
        return values

    def retention(self, now: datetime | None = None) -> RetentionResult:
        if self.config.retention is None:
            return RetentionResult(0)
        cutoff = datetime_to_ms((now or datetime.now().astimezone()) - self.config.retention)
        with self._lock:
            old = [k for k, h in self._docs.items() if h.ts < cutoff]
            for k in old:
                del self._docs[k]
        return RetentionResult(len(old))

    def refresh(self) -> None:
        pass

    def health(self) -> Health:
        return Health(True, f"{len(self._docs)} docs in memory")

    def close(self) -> None:
        pass


# The toy's "disk": a store's docs outlive one open/close, as a file's or a cluster's do. Tests
# clear it (``STORES.clear()``) for a fresh, empty store.
STORES: dict[str, ToyStore] = {}


def open_toy(config: ToyConfig) -> Store:
    store = STORES.setdefault(config.name, ToyStore(config))
    store.config = config
    return store


def _alert_state(store: Store, config: ToyConfig) -> Any:
    from alerter.state import MemoryStateStore

    return MemoryStateStore()


def _notify_state(store: Store, config: ToyConfig) -> Any:
    from alerter.notify.state.memory import MemoryNotifyState

    return MemoryNotifyState()


BACKEND = Backend(
    name="toy",
    config=ToyConfig,
    open_store=open_toy,
    open_alert_state=_alert_state,
    open_notify_state=_notify_state,
)
