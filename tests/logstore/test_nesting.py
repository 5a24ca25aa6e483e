"""One deeply nested doc never blinds a store: it is stored capped (tagged), and every query over it works."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from logstore import AggRequest, Doc, Metric, Outcome, Store
from logstore._source import MAX_DEPTH, NESTING_TAG, cap_nesting, nested_deeper_than
from logstore.types import format_ts, ms_to_datetime
from tests.logstore.corpus import BASE_MS


def _deep(levels: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(levels - 1):
        node["n"] = {}
        node = node["n"]
    node["leaf"] = 1
    return root


def _depth(value: Any) -> int:
    stack, best = [(value, 1)], 0
    while stack:
        node, d = stack.pop()
        best = max(best, d)
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))
    return best


def _doc(i: int, **extra: Any) -> Doc:
    ms = BASE_MS + i * 1000
    source = {"@timestamp": format_ts(ms), "message": f"line {i}", "log": {"level": "error"}, **extra}
    return Doc(id=f"n{i}", ts=ms, source=source)


@pytest.mark.parametrize("levels", [1000, 1022])
def test_a_doc_nested_1000_deep_leaves_every_query_working(store: Store, levels: int) -> None:
    """A 1,000+-level doc (orjson reads up to 1,024; SQLite's JSON 1,000) is capped; field, text and
    aggregate queries over its window still answer, and later docs are still found by text."""
    # orjson writes at most 255 levels, so the line is built as text, as a log line arrives.
    deep = b'{"n":' * (levels - 1) + b'{"leaf":1}' + b"}" * (levels - 1)
    raw = (
        b'{"@timestamp":"' + format_ts(BASE_MS).encode() + b'","message":"nested line","deep":' + deep + b"}"
    )
    first = Doc(id="deep", ts=BASE_MS, source=orjson.loads(raw), raw=raw)
    results = store.write([first, *(_doc(i) for i in range(1, 4))])
    assert [r.outcome for r in results] == [Outcome.CREATED] * 4
    store.write([_doc(5, message="written after the deep one")])
    store.refresh()
    start, end = ms_to_datetime(BASE_MS), ms_to_datetime(BASE_MS + 60_000)
    assert store.count("log.level:error", start, end) == 4
    assert [h.id for h in store.search('"written after"', start, end)] == ["n5"]
    [stored] = list(store.search("message:nested", start, end))
    assert NESTING_TAG in stored.source["tags"]
    assert _depth(stored.source) <= MAX_DEPTH
    [agg] = store.aggregate(
        [AggRequest("*", start, end, metrics=(Metric("leaves", "avg", "deep.n.leaf"),), interval=1000)]
    )
    assert agg.total == 5


def test_cap_keeps_shallow_docs_untouched_and_text_below_the_limit() -> None:
    """A doc within the limit is left alone; a deeper one keeps its top levels and the rest as JSON text."""
    assert cap_nesting({"a": {"b": [1, {"c": 2}]}}) is None
    capped = cap_nesting({"tags": ["x"], "deep": _deep(30)})
    assert capped is not None and capped["tags"] == ["x", NESTING_TAG]
    node: Any = capped["deep"]
    for _ in range(MAX_DEPTH - 2):
        node = node["n"]
    assert isinstance(node["n"], str) and orjson.loads(node["n"])["n"]["n"]


@given(
    raw=st.binary(max_size=80).map(lambda b: b.replace(b"a", b"{").replace(b"b", b"[")),
    limit=st.integers(0, 30),
)
def test_nested_deeper_than_is_more_brackets_than_the_limit(raw: bytes, limit: int) -> None:
    """The ingest paths' depth pre-check is true exactly when the bytes hold more brackets than the limit."""
    assert nested_deeper_than(raw, limit) is (raw.count(b"{") + raw.count(b"[") > limit)
