"""Elasticsearch aggregation across concurrent searches (max_concurrent_searches > 1), on osmem.

Fan-out splits a search reading several fields' values into parts (by group once its values are
remembered, see test_elastic_group_split.py; by metric otherwise); the parts and the other searches go
out as concurrent ``_msearch`` requests. Answers must equal the one-request answers exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from logstore import AggRequest, AggResult, AggRow, Doc, Metric, StoreError
from logstore.config import ElasticsearchConfig, StoreConfig
from logstore.elastic import ElasticStore, _aggs
from logstore.types import format_ts
from tests.rig.proxy import FaultProxy

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
END = DAY0 + timedelta(hours=1)
BASE_MS = int(DAY0.timestamp() * 1000)
BY = ("service.name",)
N_DOCS = 120


def make_doc(i: int, service: str, status: int, latency: float) -> Doc:
    source: dict[str, Any] = {
        "@timestamp": format_ts(BASE_MS + i * 1000),
        "message": f"request {i} served",
        "service": {"name": service},
        "status": status,
        "latency": latency,
    }
    return Doc(id=f"doc-{i:05d}", ts=BASE_MS + i * 1000, source=source, raw=orjson.dumps(source))


def config(base: StoreConfig, lanes: int) -> ElasticsearchConfig:
    assert base.elasticsearch is not None
    return ElasticsearchConfig.model_validate(
        {**base.elasticsearch.model_dump(), "max_concurrent_searches": lanes}
    )


@pytest.fixture
def stores(es_store_config: StoreConfig) -> Iterator[tuple[ElasticStore, ElasticStore]]:
    """Two stores on the same data: one request at a time, and two at once."""
    one = ElasticStore(config(es_store_config, 1))
    two = ElasticStore(config(es_store_config, 2))
    try:
        services = ("web", "api", "db", "auth")
        one.write(
            [
                make_doc(i, services[i % 4], 502 if i % 7 == 0 else 200, float((i * 37) % 101))
                for i in range(N_DOCS)
            ]
        )
        one.refresh()
        yield one, two
    finally:
        one.close()
        two.close()


def rule_requests() -> list[AggRequest]:
    """The alerter benchmark's shapes: count of a query, avg, p95, a ratio, plus ungrouped/histogram."""
    return [
        AggRequest("status:502", DAY0, END, group_by=BY),
        AggRequest("*", DAY0, END, metrics=(Metric("value", "avg", "latency"),), group_by=BY),
        AggRequest(
            "*", DAY0, END, metrics=(Metric("value", "percentile", "latency", percent=95),), group_by=BY
        ),
        AggRequest("*", DAY0, END, metrics=(Metric("matched", "count", query="status:502"),), group_by=BY),
        AggRequest(
            "*",
            DAY0,
            END,
            metrics=(Metric("p50", "percentile", "latency", percent=50), Metric("max", "max", "latency")),
            interval=600_000,
        ),
        AggRequest("*", DAY0, END, metrics=(Metric("users", "cardinality", "service.name"),)),
    ]


def spy(store: ElasticStore, monkeypatch: Any) -> list[list[dict[str, Any]]]:
    """Record the search bodies of every _msearch (the transport is real; only observed)."""
    seen: list[list[dict[str, Any]]] = []
    real = store.client.perform_request

    def record(method: str, path: str, **kwargs: Any) -> Any:
        if path.endswith("/_msearch"):
            lines = [orjson.loads(line) for line in bytes(kwargs["body"]).splitlines() if line.strip()]
            seen.append(lines[1::2])
        return real(method, path, **kwargs)

    monkeypatch.setattr(store.client, "perform_request", record)
    return seen


def flat(res: AggResult) -> tuple[Any, ...]:
    rows = [(r.group, r.count, r.bucket, r.values) for r in res.rows]
    return (res.total, res.truncated, res.groups_total, rows)


def value_reading(body: dict[str, Any]) -> set[str]:
    """The value-reading aggregation types anywhere in a search body."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in _aggs.VALUE_READING:
                    found.add(k)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(body.get("aggs"))
    return found


def test_concurrent_answers_equal_one_request(
    stores: tuple[ElasticStore, ElasticStore], monkeypatch: Any
) -> None:
    """Two lanes answer exactly what one _msearch answers: split by metric, then by remembered group."""
    one, two = stores
    answers = []
    # First by composite (nothing remembered yet), then by remembered group values (filters).
    for n, store in enumerate((two, one, two)):
        seen = spy(store, monkeypatch)
        answers.append([flat(r) for r in store.aggregate(rule_requests())])
        monkeypatch.undo()
        bodies = [b for batch in seen for b in batch]
        if store is two:
            assert len(seen) == 2, "two concurrent _msearch requests"
            # avg+p95+ratio share one query and grouping: two parts; the histogram's p50+max: two.
            assert len(bodies) == 6
            grouped = [b for b in bodies if "known" in (b.get("aggs") or {}) and value_reading(b)]
            if n == 0:  # split by metric: no search reads two fields' values
                assert all(len(value_reading(b)) <= 1 for b in bodies) and not grouped
            else:  # split by group: each part groups half of the services, reading both
                assert len(grouped) == 2 and all(
                    value_reading(b) == {"stats", "percentiles"} for b in grouped
                )
        else:
            assert len(seen) == 1 and len(bodies) == 4
    assert answers[0] == answers[1] == answers[2]


def test_lanes_run_at_the_same_time(stores: tuple[ElasticStore, ElasticStore], monkeypatch: Any) -> None:
    """Both _msearch requests are in flight together: each waits for the other before it is sent."""
    _, two = stores
    both_sent = threading.Barrier(2, timeout=20)  # a deadline: sequential lanes would break it
    calls: list[str] = []
    real = two.client.perform_request

    def meet(method: str, path: str, **kwargs: Any) -> Any:
        if path.endswith("/_msearch"):
            calls.append(path)
            if len(calls) <= 2:  # the first round's two lanes (later rounds may have one search)
                both_sent.wait()
        return real(method, path, **kwargs)

    monkeypatch.setattr(two.client, "perform_request", meet)
    results = two.aggregate(rule_requests())
    assert results[0].total == len([i for i in range(N_DOCS) if i % 7 == 0])
    assert len(calls) >= 2 and not both_sent.broken


def test_a_failing_lane_raises_store_error(
    stores: tuple[ElasticStore, ElasticStore], es_proxy: FaultProxy
) -> None:
    """A 503 on one of the concurrent _msearch requests fails the call with one StoreError line."""
    _, two = stores
    es_proxy.fail_requests(503, 1, path_contains="_msearch")
    with pytest.raises(StoreError) as err:
        two.aggregate(rule_requests())
    assert "503" in str(err.value) and "\n" not in str(err.value)
    assert two.aggregate(rule_requests())[0].total > 0  # the next call is whole again


def test_fan_out_keeps_counts_in_part_zero_and_joins_by_group() -> None:
    """Count metrics stay with the rows; other parts' values are matched by group and bucket."""
    req = AggRequest(
        "*",
        DAY0,
        END,
        metrics=(
            Metric("m", "count", query="status:502"),
            Metric("a", "avg", "lat"),
            Metric("p", "percentile", "lat", percent=95),
            Metric("x", "max", "lat"),
            Metric("u", "cardinality", "user"),
        ),
        group_by=BY,
    )
    plain = AggRequest("*", DAY0, END, metrics=(Metric("a", "avg", "lat"),), group_by=BY)
    parts, join = _aggs.fan_out([req, plain], 2)
    assert [[m.name for m in p.metrics] for p in parts] == [["m", "a", "x", "u"], ["p"], ["a"]]
    three, _ = _aggs.fan_out([req], 3)
    assert [[m.name for m in p.metrics] for p in three] == [["m", "a", "x"], ["p"], ["u"]]
    rows0 = [
        AggRow({"service.name": "web"}, 5, {"m": 1, "a": 2.0, "x": 3.0, "u": 2}),
        AggRow({"service.name": "db"}, 2, {"m": 0, "a": 1.0, "x": 1.0, "u": 1}),
    ]
    rows1 = [AggRow({"service.name": "web"}, 5, {"p": 9.5})]  # db unseen by this part
    rows2 = [AggRow({"service.name": "web"}, 7, {"a": 4.0})]
    joined, alone = join([AggResult(7, rows0, True, 3), AggResult(7, rows1), AggResult(7, rows2)])
    assert (joined.total, joined.truncated, joined.groups_total) == (7, True, 3)
    assert [(r.group["service.name"], r.count, r.values) for r in joined.rows] == [
        ("web", 5, {"m": 1, "a": 2.0, "x": 3.0, "u": 2, "p": 9.5}),
        ("db", 2, {"m": 0, "a": 1.0, "x": 1.0, "u": 1, "p": None}),
    ]
    assert alone.rows[0].values == {"a": 4.0}


def test_fan_out_leaves_single_reads_alone() -> None:
    """A request reading at most one field's values, or one lane, is not split."""
    reqs = [
        AggRequest("*", DAY0, END, metrics=(Metric("a", "avg", "lat"), Metric("b", "max", "lat"))),
        AggRequest("*", DAY0, END, metrics=(Metric("m", "count", query="x:1"),)),
        AggRequest("*", DAY0, END),
    ]
    parts, _ = _aggs.fan_out(reqs, 4)
    assert parts == reqs
    two = AggRequest(
        "*", DAY0, END, metrics=(Metric("a", "avg", "lat"), Metric("p", "percentile", "lat", percent=9))
    )
    assert _aggs.fan_out([two], 1)[0] == [two]


def test_schedule_balances_lanes() -> None:
    """Every search lands in exactly one lane; lanes are filled longest first, never more than asked."""
    assert _aggs.schedule([3.0, 3.0, 1.0], 2) == [[0, 2], [1]]
    assert _aggs.schedule([1.0], 4) == [[0]]
    costs = [5.0, 1.0, 1.0, 1.0, 4.0, 2.0]
    lanes = _aggs.schedule(costs, 3)
    assert sorted(i for lane in lanes for i in lane) == list(range(6)) and len(lanes) == 3
    assert sorted(sum(costs[i] for i in lane) for lane in lanes) == [4.0, 5.0, 5.0]


def test_max_concurrent_searches_is_validated() -> None:
    """max_concurrent_searches defaults to 1 and must be between 1 and 16."""
    assert ElasticsearchConfig().max_concurrent_searches == 1
    for bad in (0, 17):
        with pytest.raises(ValueError):
            ElasticsearchConfig(max_concurrent_searches=bad)
