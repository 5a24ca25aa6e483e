"""Elasticsearch aggregation split by group (max_concurrent_searches > 1, remembered values), on osmem.

Each part groups some of the remembered values with every metric; part 0 also counts the total.
Answers must equal the unsplit answers exactly (rows, totals, truncation, group order); the
reference is the composite grouping (nothing remembered), which does not depend on remembered values.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from logstore import AggRequest, AggResult, AggRow, Doc, Metric
from logstore.config import StoreConfig
from logstore.elastic import ElasticStore, _aggs, _store
from logstore.types import format_ts
from tests.logstore.test_elastic_fanout import config, flat, spy

DAY0 = datetime(2026, 4, 1, tzinfo=UTC)
END = DAY0 + timedelta(hours=2)
BASE_MS = int(DAY0.timestamp() * 1000)
BY = ("host.name",)
# Skewed on purpose: a split balanced by doc counts differs from one by number of values.
HOSTS = ("web-1",) * 9 + ("web-2",) * 6 + ("api-1",) * 4 + ("db-1",) * 2 + ("auth-1", "cache-1")
N_DOCS = 2000


def make_doc(i: int, host: str | None) -> Doc:
    source: dict[str, Any] = {
        "@timestamp": format_ts(BASE_MS + i * 1000),
        "message": f"request {i} served",
        "service": {"name": "shop"},
        "status": 502 if i % 11 == 0 else 503 if i % 13 == 0 else 200,
        # Per-host distributions differ, so a value landing in the wrong group changes the answer.
        "latency": float((i * 37) % 997 + 100 * len(host or "")),
    }
    if host is not None:
        source["host"] = {"name": host}
    return Doc(id=f"doc-{i:06d}", ts=BASE_MS + i * 1000, source=source, raw=orjson.dumps(source))


def corpus(start: int, n: int, without_host_every: int = 0) -> list[Doc]:
    return [
        make_doc(i, None if without_host_every and i % without_host_every == 0 else HOSTS[i % len(HOSTS)])
        for i in range(start, start + n)
    ]


@pytest.fixture
def stores(es_store_config: StoreConfig) -> Iterator[tuple[ElasticStore, ElasticStore]]:
    """Two stores on the same (empty) index pattern: one request at a time, and two at once."""
    one = ElasticStore(config(es_store_config, 1))
    two = ElasticStore(config(es_store_config, 2))
    try:
        yield one, two
    finally:
        one.close()
        two.close()


def load(store: ElasticStore, docs: list[Doc]) -> None:
    assert all(r.outcome.delivered for r in store.write(docs))
    store.refresh()


def rule_requests(limit: int = 1000) -> list[AggRequest]:
    """avg, max, p50, p95 and a ratio's count under one grouping, a count-only query, one single read."""
    return [
        AggRequest(
            "*",
            DAY0,
            END,
            metrics=(
                Metric("avg", "avg", "latency"),
                Metric("max", "max", "latency"),
                Metric("p50", "percentile", "latency", percent=50),
                Metric("p95", "percentile", "latency", percent=95),
                Metric("errors", "count", query="status:[500 TO 599]"),
            ),
            group_by=BY,
            group_limit=limit,
        ),
        AggRequest("status:502", DAY0, END, group_by=BY, group_limit=limit),
        AggRequest(
            "status:200",
            DAY0,
            END,
            metrics=(Metric("p99", "percentile", "latency", percent=99),),
            group_by=BY,
        ),
    ]


Flat = list[tuple[Any, ...]]


def reference(store: ElasticStore, requests: list[AggRequest], monkeypatch: Any) -> Flat:
    """The composite answer: nothing remembered, so no filters and no split."""
    with monkeypatch.context() as m:
        m.setattr(_store, "_KNOWN_GROUPS", _aggs.KnownGroups())
        return [flat(r) for r in store.aggregate(requests)]


def answer(
    store: ElasticStore, requests: list[AggRequest], monkeypatch: Any
) -> tuple[Flat, list[dict[str, Any]]]:
    """The store's answer and every search body it sent."""
    with monkeypatch.context() as m:
        seen = spy(store, m)
        out = [flat(r) for r in store.aggregate(requests)]
    return out, [b for batch in seen for b in batch]


def known_filters(body: dict[str, Any]) -> list[str]:
    """The values a body groups by ``filters`` (in filter order); [] for any other body."""
    filters = ((body.get("aggs") or {}).get("known") or {}).get("filters", {}).get("filters", {})
    return [next(iter(f["term"].values())) for f in filters.values()]


def value_reading(body: dict[str, Any]) -> set[str]:
    """The aggregation types under a body's ``filters`` grouping."""
    sub = ((body.get("aggs") or {}).get("known") or {}).get("aggs") or {}
    return {next(iter(a)) for a in sub.values()}


def test_split_by_group_equals_unsplit(stores: tuple[ElasticStore, ElasticStore], monkeypatch: Any) -> None:
    """Once values are remembered, two lanes split by group, every part with all metrics, exactly."""
    one, two = stores
    load(one, corpus(0, N_DOCS))
    requests = rule_requests()
    expected = reference(one, requests, monkeypatch)
    first, _ = answer(two, requests, monkeypatch)  # composite (nothing remembered yet) learns values
    got, bodies = answer(two, requests, monkeypatch)
    assert first == got == expected == [flat(r) for r in one.aggregate(requests)]
    hosts = sorted(set(HOSTS))
    by_query: dict[bytes, list[dict[str, Any]]] = {}
    for body in bodies:
        if known_filters(body) and value_reading(body):
            by_query.setdefault(orjson.dumps(body["query"]), []).append(body)
    # Both requests that read values (the five metrics; the p99) are split in two parts.
    assert sorted(len(parts) for parts in by_query.values()) == [2, 2]
    for parts in by_query.values():
        assert sorted(v for b in parts for v in known_filters(b)) == hosts, "each value in one part"
        assert [b["track_total_hits"] for b in parts].count(True) == 1, "one part counts the total"
        assert value_reading(parts[0]) == value_reading(parts[1]), "every part has every metric"
    five = next(ps for ps in by_query.values() if value_reading(ps[0]) == {"stats", "percentiles", "filter"})
    # Balanced by doc counts: web-1 (9 of 23 docs) shares its part with the small groups only.
    heavy = next(known_filters(b) for b in five if "web-1" in known_filters(b))
    assert sorted(heavy) == ["cache-1", "db-1", "web-1"]
    # The count-only request is left whole: one filters search over every value, nothing read.
    assert any(sorted(known_filters(b)) == hosts and not value_reading(b) for b in bodies)


def test_a_wrong_merge_is_caught(stores: tuple[ElasticStore, ElasticStore], monkeypatch: Any) -> None:
    """A wrong join (a part's rows dropped, the total from another part) changes the answer."""
    one, two = stores
    load(one, corpus(0, N_DOCS))
    requests = rule_requests()[:1]
    expected = reference(one, requests, monkeypatch)
    two.aggregate(requests)  # learn
    real = _aggs.join_parts

    def drop_last(p: _aggs.AggPlan) -> dict[str, Any] | None:
        p.parts = p.parts[:-1]
        return real(p)

    def total_from_last(p: _aggs.AggPlan) -> dict[str, Any] | None:
        p.parts = [*p.parts[1:], p.parts[0]]
        return real(p)

    for wrong in (drop_last, total_from_last):
        with monkeypatch.context() as m:
            m.setattr(_aggs, "join_parts", wrong)
            assert [flat(r) for r in two.aggregate(requests)] != expected
    assert [flat(r) for r in two.aggregate(requests)] == expected


def test_a_new_value_falls_back_to_the_composite(
    stores: tuple[ElasticStore, ElasticStore], monkeypatch: Any
) -> None:
    """An unremembered value sends the composite after the parts: still exact, then learnt."""
    one, two = stores
    load(one, corpus(0, N_DOCS))
    requests = rule_requests()[:1]
    two.aggregate(requests)  # learn the six hosts
    load(one, [make_doc(N_DOCS + i, "new-1") for i in range(40)])
    expected = reference(one, requests, monkeypatch)
    assert any(row[0] == {"host.name": "new-1"} for row in expected[0][3])
    got, bodies = answer(two, requests, monkeypatch)
    assert got == expected
    assert sum(len(known_filters(b)) for b in bodies) == 6 and any(
        "composite" in orjson.dumps(b).decode() for b in bodies
    )
    again, bodies = answer(two, requests, monkeypatch)
    assert again == expected
    assert sorted(v for b in bodies for v in known_filters(b)) == sorted({*HOSTS, "new-1"})
    assert not any("composite" in orjson.dumps(b).decode() for b in bodies)


def test_docs_without_the_group_field(stores: tuple[ElasticStore, ElasticStore], monkeypatch: Any) -> None:
    """Docs lacking the field count in the total, in no group; once seen, part 0 carries the check."""
    one, two = stores
    load(one, corpus(0, N_DOCS, without_host_every=7))
    requests = rule_requests()[:1]
    expected = reference(one, requests, monkeypatch)
    total, rows = expected[0][0], expected[0][3]
    assert total == N_DOCS and sum(r[1] for r in rows) < total
    two.aggregate(requests)  # learn the values (and that docs lack the field)
    got, bodies = answer(two, requests, monkeypatch)
    assert got == expected
    parts = [b for b in bodies if known_filters(b)]
    assert len(bodies) == len(parts) == 2, "no second round trip for the check"
    assert [("unknown" in b["aggs"]) for b in parts].count(True) == 1
    # Forgetting that docs lacked the field costs one round trip for the check, still exact.
    monkeypatch.setattr(_store._KNOWN_GROUPS, "missing", lambda key, scope="": False)
    got, bodies = answer(two, requests, monkeypatch)
    assert got == expected
    assert len(bodies) == 3 and set(bodies[-1]["aggs"]) == {"unknown"}


def test_group_limit_cuts_the_joined_groups(
    stores: tuple[ElasticStore, ElasticStore], monkeypatch: Any
) -> None:
    """More groups than group_limit: the split answer is cut like the unsplit one."""
    one, two = stores
    load(one, corpus(0, N_DOCS))
    requests = rule_requests(limit=3)[:1]
    expected = reference(one, requests, monkeypatch)
    _, truncated, groups_total, rows = expected[0]
    assert truncated and groups_total == 6 and len(rows) == 3
    assert [r[0]["host.name"] for r in rows] == ["web-1", "web-2", "api-1"]
    two.aggregate(requests)
    got, bodies = answer(two, requests, monkeypatch)
    assert got == expected and sum(len(known_filters(b)) for b in bodies) == 6


def test_join_parts_takes_total_from_part_zero_and_rows_from_all() -> None:
    """join_parts: part 0's total, every part's rows; a shortfall asks the check, an unknown the composite."""
    req = AggRequest("*", DAY0, END, metrics=(Metric("a", "avg", "lat"),), group_by=BY)
    types = lambda f: frozenset({"keyword"}) if f == "host.name" else frozenset({"float"})  # noqa: E731

    def split(missing: bool = False) -> tuple[_aggs.AggPlan, list[_aggs.AggPlan]]:
        p = _aggs.plan(req, "logs-*", types, ["a", "b", "c"])
        return p, _aggs.split_by_group(p, 2, {"a": 10, "b": 6, "c": 5}, missing)

    p, parts = split()
    assert [part.known for part in parts] == [["a"], ["b", "c"]]
    assert [part.first_body()["track_total_hits"] for part in parts] == [True, False]

    def reply(total: int | None, counts: dict[str, int], unknown: int | None = None) -> dict[str, Any]:
        buckets = {
            f"k{i}": {"doc_count": c, "m0": {"count": c, "avg": float(c)}}
            for i, c in enumerate(counts.values())
        }
        aggs: dict[str, Any] = {"known": {"buckets": buckets}}
        if unknown is not None:
            aggs["unknown"] = {"doc_count": unknown}
        return {"hits": {} if total is None else {"total": {"value": total}}, "aggregations": aggs}

    assert _aggs.absorb(parts[0], reply(21, {"a": 10}), True) is None
    assert _aggs.absorb(parts[1], reply(None, {"b": 6, "c": 5}), True) is None
    assert _aggs.join_parts(p) is None
    res = _aggs.result(p)
    assert res.total == 21 and [(r.group["host.name"], r.count, r.values["a"]) for r in res.rows] == [
        ("a", 10, 10.0),
        ("b", 6, 6.0),
        ("c", 5, 5.0),
    ]
    p, parts = split()  # 2 docs the parts did not see: ask which kind
    _aggs.absorb(parts[0], reply(23, {"a": 10}), True)
    _aggs.absorb(parts[1], reply(None, {"b": 6, "c": 5}), True)
    assert _aggs.join_parts(p) == p.check_body and p.checking
    p, parts = split(missing=True)  # the check rode along in part 0 and found an unknown value
    assert "unknown" in parts[0].first_body()["aggs"]
    _aggs.absorb(parts[0], reply(23, {"a": 10}, unknown=2), True)
    _aggs.absorb(parts[1], reply(None, {"b": 6, "c": 5}), True)
    nxt = _aggs.join_parts(p)
    assert nxt is not None and "groups" in nxt["aggs"] and p.total == 23 and not p.rows


def test_partition_balances_weights() -> None:
    """partition: each value once, heaviest first into the lightest subset; by number without weights."""
    values = ["a", "b", "c", "d", "e", "f"]
    weights = {"a": 50, "b": 20, "c": 12, "d": 10, "e": 5, "f": 3}
    parts = _aggs.partition(values, 2, weights)
    assert sorted(v for p in parts for v in p) == values
    assert parts == [["a", "f"], ["b", "c", "d", "e"]]
    assert _aggs.partition(values, 2) == [["a", "c", "e"], ["b", "d", "f"]]
    assert _aggs.partition(["x", "y", "z"], 2, {"x": 9, "y": 1}) == [["x"], ["y", "z"]]  # z: the mean
    assert _aggs.partition(["x"], 4) == [["x"]]


def test_known_groups_remember_counts_per_query() -> None:
    """KnownGroups keeps each query's doc counts per value and whether docs lacked the field."""
    known = _aggs.KnownGroups()
    key = ("url", "logs-*", "host.name")
    known.learn(key, {"a", "b"}, {"a": 3, "b": 1}, missing=True, scope="*")
    known.learn(key, {"a"}, {"a": 2}, scope="status:502")
    assert known.get(key) == ["a", "b"]
    assert known.weights(key, "*") == {"a": 3, "b": 1} and known.missing(key, "*")
    assert known.weights(key, "status:502") == {"a": 2} and not known.missing(key, "status:502")
    assert known.weights(key, "other") is None
    known.learn(key, {"a", "b"})  # the old signature still works
    assert known.get(key) == ["a", "b"]


def test_fan_out_leaves_group_split_requests_whole() -> None:
    """fan_out's ``whole`` keeps a request out of the metric split (it is split by group instead)."""
    two = AggRequest(
        "*",
        DAY0,
        END,
        metrics=(Metric("a", "avg", "lat"), Metric("p", "percentile", "lat", percent=9)),
        group_by=BY,
    )
    assert len(_aggs.fan_out([two], 2)[0]) == 2
    parts, join = _aggs.fan_out([two], 2, lambda r: True)
    assert parts == [two]
    res = AggResult(1, [AggRow({"host.name": "a"}, 1, {"a": 1.0, "p": 1.0})])
    assert join([res]) == [res]
