"""The Elasticsearch backend on osmem-server through the fault proxy (or a real cluster).

Covers what the shared contract suite does not: bulk classification under injected faults, open
errors, the index template, daily index naming, retention by whole indices, and the query DSL.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from logstore import AggRequest, Cursor, Doc, Metric, Outcome, QueryError, StoreError, parse_query
from logstore._source import expand_dotted, prepare_source
from logstore.config import ElasticsearchConfig, StoreConfig
from logstore.elastic import ElasticStore, _write
from logstore.elastic import _aggs as aggs_module
from logstore.elastic._dsl import MATCH_NONE, fields_needing_types, translate
from logstore.elastic._naming import IndexNamer
from logstore.types import StoreAuthError, format_ts
from tests.rig.proxy import FaultProxy

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
BASE_MS = int(DAY0.timestamp() * 1000)


def make_doc(i: int, *, ts: int | None = None, service: str = "web", **extra: Any) -> Doc:
    ts = BASE_MS + i * 1000 if ts is None else ts
    source: dict[str, Any] = {
        "@timestamp": format_ts(ts),
        "message": f"request {i} served",
        "service": {"name": service},
        **extra,
    }
    return Doc(id=f"doc-{i:05d}", ts=ts, source=source, raw=orjson.dumps(source))


def es_config(base: StoreConfig, **changes: Any) -> ElasticsearchConfig:
    assert base.elasticsearch is not None
    return ElasticsearchConfig.model_validate({**base.elasticsearch.model_dump(), **changes})


@pytest.fixture
def store(es_store: ElasticStore) -> ElasticStore:
    return es_store


def index_names(store: ElasticStore) -> list[str]:
    rows = store.client.perform_request(
        "GET",
        f"/_cat/indices/{store.index_pattern}",
        params={"format": "json", "h": "index"},
        headers={"accept": "application/json"},
    ).body
    return sorted(r["index"] for r in rows)


# ---- write: classification ----------------------------------------------------------------------


def test_write_creates_then_duplicates(store: ElasticStore) -> None:
    """Writing a batch twice answers CREATED then DUPLICATE per doc and stores each doc once."""
    docs = [make_doc(i) for i in range(20)]
    assert {r.outcome for r in store.write(docs)} == {Outcome.CREATED}
    again = store.write(docs)
    assert [r.id for r in again] == [d.id for d in docs]
    assert {r.outcome for r in again} == {Outcome.DUPLICATE}
    store.refresh()
    assert store.count("*") == 20


def test_whole_request_429_makes_every_doc_retryable(store: ElasticStore, es_proxy: FaultProxy) -> None:
    """A 429 for the whole _bulk makes every doc RETRYABLE with the reason, and nothing is stored."""
    es_proxy.fail_requests(429, 1, path_contains="_bulk")
    results = store.write([make_doc(i) for i in range(5)])
    assert {r.outcome for r in results} == {Outcome.RETRYABLE}
    assert "429" in results[0].reason
    store.refresh()
    assert store.count("*") == 0


def test_whole_request_503_is_retryable_and_retry_stores(store: ElasticStore, es_proxy: FaultProxy) -> None:
    """A 503 is RETRYABLE; the same batch sent again is stored."""
    docs = [make_doc(i) for i in range(5)]
    es_proxy.fail_requests(503, 1, path_contains="_bulk")
    assert {r.outcome for r in store.write(docs)} == {Outcome.RETRYABLE}
    assert {r.outcome for r in store.write(docs)} == {Outcome.CREATED}
    store.refresh()
    assert store.count("*") == 5


def test_partial_bulk_failure_then_retry_stores_exactly_once(
    store: ElasticStore, es_proxy: FaultProxy
) -> None:
    """Failed items in a 200 errors:true reply are RETRYABLE; re-sending the batch stores each doc once."""
    docs = [make_doc(i) for i in range(10)]
    es_proxy.fail_bulk_items(429, 3, reason="queue full")
    first = store.write(docs)
    assert [r.outcome for r in first[:3]] == [Outcome.RETRYABLE] * 3
    assert "queue full" in first[0].reason
    assert {r.outcome for r in first[3:]} == {Outcome.CREATED}
    assert es_proxy.bulk_items_failed == 3
    second = store.write(docs)
    assert [r.outcome for r in second[:3]] == [Outcome.CREATED] * 3
    assert {r.outcome for r in second[3:]} == {Outcome.DUPLICATE}
    store.refresh()
    assert store.count("*") == 10
    assert sorted(h.id for h in store.search("*")) == sorted(d.id for d in docs)


def test_bulk_item_5xx_is_retryable(store: ElasticStore, es_proxy: FaultProxy) -> None:
    """An item failing with 503 inside a bulk reply is RETRYABLE, the others CREATED."""
    es_proxy.fail_bulk_items(503, 1)
    results = store.write([make_doc(i) for i in range(3)])
    assert [r.outcome for r in results] == [Outcome.RETRYABLE, Outcome.CREATED, Outcome.CREATED]


def test_mapping_conflict_is_rejected_with_reason(store: ElasticStore) -> None:
    """A doc whose field type conflicts with the index mapping is REJECTED with the server's reason."""
    ok = make_doc(1, latency_ms=12)
    bad = make_doc(2, latency_ms="fast")
    assert store.write([ok])[0].outcome is Outcome.CREATED
    result = store.write([bad])[0]
    assert result.outcome is Outcome.REJECTED
    assert "latency_ms" in result.reason


def test_refused_connection_makes_write_retryable(store: ElasticStore, es_proxy: FaultProxy) -> None:
    """While the store is down, write answers RETRYABLE for every doc instead of raising."""
    es_proxy.refuse_connections(True)
    results = store.write([make_doc(i) for i in range(3)])
    assert {r.outcome for r in results} == {Outcome.RETRYABLE}
    assert results[0].reason
    es_proxy.refuse_connections(False)
    assert {r.outcome for r in store.write([make_doc(i) for i in range(3)])} == {Outcome.CREATED}


def test_write_sends_one_bulk_request(store: ElasticStore, es_proxy: FaultProxy) -> None:
    """A batch costs exactly one HTTP request (the client does not retry on its own)."""
    before = es_proxy.requests
    es_proxy.fail_requests(503, 5, path_contains="_bulk")
    store.write([make_doc(i) for i in range(50)])
    assert es_proxy.requests - before == 1


def test_dotted_keys_are_expanded_and_event_id_set(store: ElasticStore) -> None:
    """Dotted top-level keys are stored nested and event.id carries the doc id."""
    source = {
        "@timestamp": format_ts(BASE_MS),
        "message": "x",
        "http.response.status_code": 502,
        "service.name": "api",
    }
    store.write([Doc(id="dotted-1", ts=BASE_MS, source=source, raw=orjson.dumps(source))])
    store.refresh()
    hits = list(store.search("http.response.status_code:502"))
    assert [h.id for h in hits] == ["dotted-1"]
    assert hits[0].source["http"] == {"response": {"status_code": 502}}
    assert hits[0].source["event"] == {"id": "dotted-1"}
    assert index_names(store)[0].split("-")[1] == "api"


# ---- open / health ------------------------------------------------------------------------------


def test_refused_port_at_open_is_one_line_store_error(es_store_config: StoreConfig) -> None:
    """An unreachable cluster at open raises StoreError with one line naming the URL and the reason."""
    dead = FaultProxy("http://127.0.0.1:9").start()
    url = dead.url
    dead.stop()  # the port is free again: nothing listens there
    with pytest.raises(StoreError) as err:
        ElasticStore(es_config(es_store_config, hosts=[url]))
    text = str(err.value)
    assert "\n" not in text
    assert url in text
    assert "refused" in text


def test_down_proxy_at_open_is_store_error(es_store_config: StoreConfig, es_proxy: FaultProxy) -> None:
    """A cluster resetting connections at open raises StoreError naming the URL."""
    es_proxy.refuse_connections(True)
    with pytest.raises(StoreError) as err:
        ElasticStore(es_config(es_store_config))
    assert es_proxy.url in str(err.value)
    assert "\n" not in str(err.value)


def test_tls_to_a_plain_http_port_is_one_line_store_error(
    es_store_config: StoreConfig, es_proxy: FaultProxy
) -> None:
    """Speaking TLS to a server that does not raises StoreError naming the URL and a TLS error."""
    url = es_proxy.url.replace("http://", "https://")
    with pytest.raises(StoreError) as err:
        ElasticStore(es_config(es_store_config, hosts=[url], verify_certs=False))
    text = str(err.value)
    assert url in text and "TLS" in text
    assert "\n" not in text


def test_401_at_open_names_authentication(es_store_config: StoreConfig, es_proxy: FaultProxy) -> None:
    """A 401 from the cluster at open raises one line saying authentication failed."""
    es_proxy.fail_requests(401, 1)
    with pytest.raises(StoreError) as err:
        ElasticStore(es_config(es_store_config, username="elastic", password="wrong"))
    text = str(err.value)
    assert "401" in text and "authentication" in text and es_proxy.url in text
    assert "\n" not in text
    assert isinstance(err.value, StoreAuthError)  # callers stop retrying on the type, not the text


def test_credentials_reach_the_server(es_store_config: StoreConfig, es_proxy: FaultProxy) -> None:
    """api_key is sent as 'ApiKey ...' and username/password as HTTP basic auth."""
    store = ElasticStore(es_config(es_store_config, api_key="a2V5OnNlY3JldA=="))
    store.close()
    assert es_proxy.last_headers["authorization"] == "ApiKey a2V5OnNlY3JldA=="
    store = ElasticStore(es_config(es_store_config, username="elastic", password="changeme"))
    store.close()
    assert es_proxy.last_headers["authorization"] == "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="


def test_template_install_is_idempotent(es_store_config: StoreConfig, store: ElasticStore) -> None:
    """Opening the store again re-installs the same template without error; health reports it."""
    again = ElasticStore(es_config(es_store_config))
    try:
        body = again.client.perform_request(
            "GET", f"/_index_template/{again.config.template_name}", headers={"accept": "application/json"}
        ).body
        assert len(body["index_templates"]) == 1
        assert body["index_templates"][0]["index_template"]["index_patterns"] == [again.index_pattern]
        health = again.health()
        assert health.ok, health.detail
    finally:
        again.close()


def test_missing_composable_templates_fall_back_to_legacy(
    es_store_config: StoreConfig, es_proxy: FaultProxy, caplog: Any
) -> None:
    """A server without _index_template gets a legacy _template, with one warning, and still works."""
    es_proxy.fail_requests(404, 1, path_contains="/_index_template/")
    with caplog.at_level(logging.WARNING, logger="logstore.elastic"):
        store = ElasticStore(es_config(es_store_config))
    try:
        warnings = [r for r in caplog.records if r.name == "logstore.elastic"]
        assert len(warnings) == 1 and "legacy" in warnings[0].getMessage()
        body = store.client.perform_request(
            "GET", f"/_template/{store.config.template_name}", headers={"accept": "application/json"}
        ).body
        assert body[store.config.template_name]["index_patterns"] == [store.index_pattern]
        assert store.health().ok
        assert store.write([make_doc(1)])[0].outcome is Outcome.CREATED
    finally:
        store.close()


def test_template_maps_message_as_text_and_strings_as_keyword(store: ElasticStore) -> None:
    """Daily indices get the template: message is text, other strings keyword, numbers long/double.
    (``customer``, not ``user``: ``user`` is an ECS object, and a string there is refused.)"""
    store.write([make_doc(1, customer="Bob", latency=1.5, bytes=10)])
    index = index_names(store)[0]
    props = store.client.perform_request(
        "GET", f"/{index}/_mapping", headers={"accept": "application/json"}
    ).body[index]["mappings"]["properties"]
    assert props["message"]["type"] == "text"
    assert props["customer"]["type"] == "keyword"
    assert props["latency"]["type"] == "double"
    assert props["bytes"]["type"] == "long"
    assert props["event"]["properties"]["id"]["type"] == "keyword"


def test_health_reports_unreachable(store: ElasticStore, es_proxy: FaultProxy) -> None:
    """health() says not ok, naming the URL, while the cluster is down."""
    es_proxy.refuse_connections(True)
    health = store.health()
    assert not health.ok
    assert es_proxy.url in health.detail


# ---- naming and retention -----------------------------------------------------------------------


def test_daily_index_naming() -> None:
    """{field} takes the sanitized doc value (missing -> default) and %Y.%m.%d the doc's UTC day."""
    namer = IndexNamer("logs-{service.name}-%Y.%m.%d")
    ts = int(datetime(2026, 11, 22, 23, 59, tzinfo=UTC).timestamp() * 1000)
    assert namer.name({"service": {"name": "Checkout API"}}, ts) == "logs-checkout_api-2026.11.22"
    assert namer.name({}, ts) == "logs-default-2026.11.22"
    assert namer.name({"service": {"name": "a/b*c"}}, ts + 60_000) == "logs-a_b_c-2026.11.23"
    assert namer.search_pattern == "logs-*-*.*.*"
    assert namer.day_of("logs-web-2026.11.22") == datetime(2026, 11, 22, tzinfo=UTC)
    assert namer.day_of("logwarden-state") is None


def test_docs_land_in_daily_indices(store: ElasticStore) -> None:
    """Docs of two days and two services go to four daily indices."""
    docs = [
        make_doc(1, service="web"),
        make_doc(2, service="API"),
        make_doc(3, service="web", ts=BASE_MS + 86_400_000),
        make_doc(4, service="API", ts=BASE_MS + 86_400_000),
    ]
    store.write(docs)
    prefix = store.config.template_name
    assert index_names(store) == [
        f"{prefix}-api-2026.03.01",
        f"{prefix}-api-2026.03.02",
        f"{prefix}-web-2026.03.01",
        f"{prefix}-web-2026.03.02",
    ]


def test_retention_drops_whole_old_daily_indices(es_store_config: StoreConfig, caplog: Any) -> None:
    """Without ILM (osmem) retention deletes daily indices wholly older than N days, and warns once."""
    with caplog.at_level(logging.WARNING, logger="logstore.elastic"):
        store = ElasticStore(es_config(es_store_config, retention=timedelta(days=2)))
    try:
        assert any("lifecycle" in r.getMessage() for r in caplog.records)
        day = 86_400_000
        store.write([make_doc(i, ts=BASE_MS + i * day) for i in range(5)])  # 03-01 .. 03-05
        now = DAY0 + timedelta(days=5, hours=1)  # cutoff 03-04 01:00: 03-01..03-03 are wholly older
        result = store.retention(now)
        prefix = store.config.template_name
        assert result.deleted_indices == tuple(f"{prefix}-web-2026.03.0{d}" for d in (1, 2, 3))
        assert index_names(store) == [f"{prefix}-web-2026.03.04", f"{prefix}-web-2026.03.05"]
        store.refresh()
        assert store.count("*") == 2
    finally:
        store.close()


def test_retention_with_ilm_leaves_deletion_to_the_policy(
    es_store_config: StoreConfig, es_proxy: FaultProxy, caplog: Any
) -> None:
    """Where the server has ILM and takes the template, retention() leaves deletion to the policy."""
    es_proxy.stub_requests(200, {"operation_mode": "RUNNING"}, 1, "/_ilm/status", method="GET")
    es_proxy.stub_requests(200, {"acknowledged": True}, 1, "/_ilm/policy/", method="PUT")
    es_proxy.stub_requests(200, {"acknowledged": True}, 1, "/_index_template/", method="PUT")
    with caplog.at_level(logging.WARNING, logger="logstore.elastic"):
        store = ElasticStore(es_config(es_store_config, retention=timedelta(days=14)))
    try:
        assert [r for r in caplog.records if r.name == "logstore.elastic"] == []
        store.write([make_doc(1)])
        assert store.retention(DAY0 + timedelta(days=400)).deleted_indices == ()
        assert len(index_names(store)) == 1
    finally:
        store.close()


def test_template_refusing_lifecycle_setting_degrades_to_index_deletion(
    es_store_config: StoreConfig, es_proxy: FaultProxy, caplog: Any
) -> None:
    """ILM answers but the template refuses index.lifecycle.name: one warning, manual retention."""
    es_proxy.stub_requests(200, {"operation_mode": "RUNNING"}, 1, "/_ilm/status", method="GET")
    es_proxy.stub_requests(200, {"acknowledged": True}, 1, "/_ilm/policy/", method="PUT")
    with caplog.at_level(logging.WARNING, logger="logstore.elastic"):
        store = ElasticStore(es_config(es_store_config, retention=timedelta(days=14)))
    try:
        warnings = [r.getMessage() for r in caplog.records if r.name == "logstore.elastic"]
        assert len(warnings) == 1 and "lifecycle" in warnings[0]
        assert store.health().ok
        store.write([make_doc(1)])
        prefix = store.config.template_name
        assert store.retention(DAY0 + timedelta(days=400)).deleted_indices == (f"{prefix}-web-2026.03.01",)
    finally:
        store.close()


def test_retention_without_setting_keeps_everything(store: ElasticStore) -> None:
    """With no retention configured, retention() deletes nothing."""
    store.write([make_doc(1)])
    assert store.retention(DAY0 + timedelta(days=400)).deleted_indices == ()
    assert len(index_names(store)) == 1


# ---- search and aggregate -----------------------------------------------------------------------


def test_search_streams_pages_in_order_with_cursor(es_store_config: StoreConfig) -> None:
    """Small pages stream every hit in (@timestamp, event.id) order; after= resumes strictly after."""
    store = ElasticStore(es_config(es_store_config), page_size=7)
    try:
        docs = [make_doc(i, ts=BASE_MS + (i // 3) * 1000) for i in range(40)]  # ties on @timestamp
        store.write(docs)
        store.refresh()
        asc = [h.id for h in store.search("*")]
        assert asc == [d.id for d in sorted(docs, key=lambda d: (d.ts, d.id))]
        desc = [h.id for h in store.search("*", order="desc")]
        assert desc == asc[::-1]
        hits = list(store.search("*", limit=10))
        assert [h.id for h in hits] == asc[:10]
        rest = [h.id for h in store.search("*", after=hits[-1].cursor)]
        assert rest == asc[10:]
        back = [h.id for h in store.search("*", order="desc", after=Cursor(hits[5].ts, hits[5].id))]
        assert back == asc[:5][::-1]
        window = list(store.search("*", DAY0 + timedelta(seconds=2), DAY0 + timedelta(seconds=4)))
        assert {h.ts for h in window} == {BASE_MS + 2000, BASE_MS + 3000}
    finally:
        store.close()


def test_empty_store_searches_and_aggregates_to_zero(store: ElasticStore) -> None:
    """With no indices at all, search is empty and aggregates are zero, not errors."""
    assert list(store.search("status:502")) == []
    assert store.count("*") == 0
    [res] = store.aggregate(
        [
            AggRequest(
                "*", DAY0, DAY0 + timedelta(hours=1), metrics=(Metric("p", "percentile", "lat", percent=99),)
            )
        ]
    )
    assert res.total == 0
    assert res.rows[0].count == 0 and res.rows[0].values == {"p": None}


def test_bad_regex_is_a_query_error(store: ElasticStore) -> None:
    """A query the server refuses surfaces as QueryError (a user error), not a crash."""
    store.write([make_doc(1, user="bob")])
    store.refresh()
    with pytest.raises(QueryError):
        list(store.search("user:/[unclosed/"))


def test_search_while_down_is_store_error(store: ElasticStore, es_proxy: FaultProxy) -> None:
    """A search while the cluster is down raises StoreError naming the URL."""
    es_proxy.refuse_connections(True)
    with pytest.raises(StoreError) as err:
        list(store.search("*"))
    assert es_proxy.url in str(err.value)


def test_aggregate_batches_in_one_msearch(store: ElasticStore, es_proxy: FaultProxy) -> None:
    """Several aggregation requests cost one _msearch round trip, with exact results."""
    docs = [
        make_doc(i, service="web" if i % 4 else "api", status=502 if i % 5 == 0 else 200) for i in range(40)
    ]
    store.write(docs)
    store.refresh()
    end = DAY0 + timedelta(hours=1)
    reqs = [
        AggRequest(
            "*",
            DAY0,
            end,
            metrics=(Metric("errors", "count", query="status:502"),),
            group_by=("service.name",),
        ),
        AggRequest("status:502", DAY0, end),
        AggRequest("*", DAY0, end, interval=10_000),
    ]
    before = es_proxy.requests
    by_service, errors, hist = store.aggregate(reqs)
    assert es_proxy.requests - before == 1
    assert [(r.group["service.name"], r.count, r.values["errors"]) for r in by_service.rows] == [
        ("web", 30, 6),
        ("api", 10, 2),
    ]
    assert errors.total == 8
    assert [(r.bucket, r.count) for r in hist.rows] == [(BASE_MS + k * 10_000, 10) for k in range(4)]


def test_group_limit_paginates_and_reports_truncation(store: ElasticStore, monkeypatch: Any) -> None:
    """Groups spanning several composite pages are counted exactly and a cut is reported."""
    monkeypatch.setattr(aggs_module, "COMPOSITE_PAGE_MIN", 2)
    docs = [make_doc(i, customer=f"u{i % 7}") for i in range(7 * 3 + 2)]  # u0, u1: 4 docs; others 3
    store.write(docs)
    store.refresh()
    [res] = store.aggregate(
        [AggRequest("*", DAY0, DAY0 + timedelta(hours=1), group_by=("customer",), group_limit=3)]
    )
    assert res.total == 23
    assert res.truncated and res.groups_total == 7
    assert [(r.group["customer"], r.count) for r in res.rows] == [("u0", 4), ("u1", 4), ("u2", 3)]


def test_numeric_metrics(store: ElasticStore) -> None:
    """avg/min/max/sum/cardinality read numbers; a metric on a string field is None."""
    store.write([make_doc(i, latency=float(i), customer=f"u{i % 3}") for i in range(1, 11)])
    store.refresh()
    metrics = (
        Metric("avg", "avg", "latency"),
        Metric("min", "min", "latency"),
        Metric("max", "max", "latency"),
        Metric("sum", "sum", "latency"),
        Metric("users", "cardinality", "customer"),
        Metric("nonsense", "avg", "customer"),
        Metric("p50", "percentile", "latency", percent=50),
    )
    [res] = store.aggregate([AggRequest("*", DAY0, DAY0 + timedelta(hours=1), metrics=metrics)])
    values = res.rows[0].values
    assert (values["avg"], values["min"], values["max"], values["sum"]) == (5.5, 1.0, 10.0, 55.0)
    assert values["users"] == 3
    assert values["nonsense"] is None
    assert values["p50"] is not None and 4.5 <= values["p50"] <= 6.0


# ---- aggregate: coalescing ----------------------------------------------------------------------


def _msearch_spy(store: ElasticStore, monkeypatch: Any, bodies: list[Any] | None = None) -> list[int]:
    """Record how many searches each _msearch carried (a spy on the transport; the server is real)."""
    seen: list[int] = []
    real = store.client.perform_request

    def spy(method: str, path: str, **kwargs: Any) -> Any:
        if path.endswith("/_msearch"):
            lines = [orjson.loads(line) for line in bytes(kwargs["body"]).splitlines() if line.strip()]
            seen.append(len(lines) // 2)
            if bodies is not None:
                bodies.extend(lines[1::2])
        return real(method, path, **kwargs)

    monkeypatch.setattr(store.client, "perform_request", spy)
    return seen


def _rows(res: Any) -> list[tuple[Any, ...]]:
    return [(r.group, r.count, r.bucket, r.values) for r in res.rows]


def test_coalesced_requests_equal_one_by_one_in_fewer_searches(
    store: ElasticStore, es_proxy: FaultProxy, monkeypatch: Any
) -> None:
    """Same-window requests with clashing metric names answer as one by one, in fewer searches."""
    docs = [
        make_doc(
            i,
            service=("web", "api", "db")[i % 3],
            status=502 if i % 5 == 0 else 200,
            latency=float(i % 17),
        )
        for i in range(60)
    ]
    store.write(docs)
    store.refresh()
    end = DAY0 + timedelta(hours=1)
    by = ("service.name",)
    reqs = [
        AggRequest("*", DAY0, end, metrics=(Metric("value", "avg", "latency"),), group_by=by),
        AggRequest(
            "*", DAY0, end, metrics=(Metric("value", "percentile", "latency", percent=95),), group_by=by
        ),
        AggRequest("*", DAY0, end, metrics=(Metric("value", "count", query="status:502"),), group_by=by),
        AggRequest("status:502", DAY0, end, group_by=by),
        AggRequest(
            "*",
            DAY0,
            end,
            metrics=(
                Metric("value", "max", "latency"),
                Metric("low", "min", "latency"),
                Metric("p50", "percentile", "latency", percent=50),
                Metric("again", "avg", "latency"),
            ),
            group_by=by,
        ),
        AggRequest("*", DAY0, end, metrics=(Metric("value", "avg", "latency"),), group_by=by, group_limit=2),
        AggRequest("*", DAY0, end, metrics=(Metric("value", "sum", "latency"),)),
    ]
    alone = [store.aggregate([r])[0] for r in reqs]
    seen = _msearch_spy(store, monkeypatch)
    before = es_proxy.requests
    together = store.aggregate(reqs)
    assert es_proxy.requests - before == 1
    # Five requests share ("*", window, by service, limit 1000); the rest stand alone: 4 searches.
    assert seen == [4]
    for one, both in zip(alone, together, strict=True):
        assert (both.total, both.truncated, both.groups_total) == (one.total, one.truncated, one.groups_total)
        assert _rows(both) == _rows(one)
    assert {r.group["service.name"]: r.values["value"] for r in together[2].rows} == {
        "web": 4,
        "api": 4,
        "db": 4,
    }
    assert together[5].truncated and together[5].groups_total == 3 and len(together[5].rows) == 2
    assert set(together[4].rows[0].values) == {"value", "low", "p50", "again"}
    assert together[4].rows[0].values["again"] == together[0].rows[0].values["value"]


def test_known_groups_answer_exactly_and_new_groups_fall_back(store: ElasticStore, monkeypatch: Any) -> None:
    """Remembered group values answer by filters; a new value costs one composite search; all exact."""
    store.write([make_doc(i, service=("web", "api")[i % 2], latency=float(i)) for i in range(20)])
    store.refresh()
    end = DAY0 + timedelta(hours=1)
    req = AggRequest("*", DAY0, end, metrics=(Metric("avg", "avg", "latency"),), group_by=("service.name",))
    first = store.aggregate([req])[0]  # composite; learns web, api
    bodies: list[Any] = []
    seen = _msearch_spy(store, monkeypatch, bodies)
    second = store.aggregate([req])[0]
    assert seen == [1] and "known" in bodies[-1]["aggs"] and "groups" not in bodies[-1]["aggs"]
    assert _rows(second) == _rows(first) and (second.total, second.groups_total) == (20, 2)
    # Docs without the field form the group None: one composite search learns it, then filters answer.
    store.write([make_doc(50 + i, latency=1.0) for i in range(2)])
    nameless = make_doc(60, latency=1.0)
    del nameless.source["service"]
    nameless.raw = orjson.dumps(nameless.source)
    store.write([nameless])
    store.refresh()
    seen.clear()
    missing = store.aggregate([req])[0]
    assert seen == [1, 1] and "groups" in bodies[-1]["aggs"]
    assert [(r.group["service.name"], r.count) for r in missing.rows] == [("web", 12), ("api", 10), (None, 1)]
    assert missing.total == 23 and missing.groups_total == 3
    seen.clear()
    again = store.aggregate([req])[0]
    assert seen == [1] and "known" in bodies[-1]["aggs"]
    assert _rows(again) == _rows(missing)
    # A service never seen before: the filters' other bucket catches it and the composite runs after all.
    store.write([make_doc(100 + i, service="db", latency=1.0) for i in range(3)])
    store.refresh()
    seen.clear()
    third = store.aggregate([req])[0]
    assert seen == [1, 1] and "groups" in bodies[-1]["aggs"]
    assert [(r.group["service.name"], r.count) for r in third.rows] == [
        ("web", 12),
        ("api", 10),
        ("db", 3),
        (None, 1),
    ]
    assert third.total == 26 and third.groups_total == 4
    # A window where only one remembered value has docs: empty groups are not answered.
    seen.clear()
    [only_db] = store.aggregate(
        [AggRequest("*", DAY0 + timedelta(seconds=100), end, group_by=("service.name",))]
    )
    assert seen == [1] and "known" in bodies[-1]["aggs"]
    assert [(r.group, r.count) for r in only_db.rows] == [({"service.name": "db"}, 3)]
    assert only_db.groups_total == 1 and not only_db.truncated


def test_numeric_group_field_always_uses_composite(store: ElasticStore, monkeypatch: Any) -> None:
    """A numeric group field is never grouped by remembered values (its values are not strings)."""
    store.write([make_doc(i, status=(200, 502)[i % 2]) for i in range(10)])
    store.refresh()
    req = AggRequest("*", DAY0, DAY0 + timedelta(hours=1), group_by=("status",))
    store.aggregate([req])
    bodies: list[Any] = []
    _msearch_spy(store, monkeypatch, bodies)
    [res] = store.aggregate([req])
    assert "groups" in bodies[-1]["aggs"]
    assert sorted((r.group["status"], r.count) for r in res.rows) == [(200, 5), (502, 5)]


def test_metrics_on_one_field_share_one_aggregation() -> None:
    """avg/min/max/sum of a field are one stats, its percentiles one percentiles, equal counts one filter."""
    types = _types({"lat": {"float"}, "status": {"long"}})
    req = AggRequest(
        "*",
        DAY0,
        DAY0 + timedelta(hours=1),
        metrics=(
            Metric("a", "avg", "lat"),
            Metric("b", "max", "lat"),
            Metric("c", "percentile", "lat", percent=95),
            Metric("d", "percentile", "lat", percent=99.9),
            Metric("e", "count", query="status:502"),
            Metric("f", "count", query="status:502"),
            Metric("g", "percentile", "lat", percent=95.0),
        ),
    )
    p = aggs_module.plan(req, "logs-*", types)
    aggs = p.body["aggs"]
    assert sorted(next(iter(a)) for a in aggs.values()) == ["filter", "percentiles", "stats"]
    [pct] = [a["percentiles"] for a in aggs.values() if "percentiles" in a]
    assert pct["percents"] == [95.0, 99.9]
    assert set(p.readers) == {"a", "b", "c", "d", "e", "f", "g"}


def test_bulk_reply_walk_classifies_each_item() -> None:
    """Item statuses map to outcomes; errors:false is all CREATED; missing items are RETRYABLE."""
    docs = [make_doc(i) for i in range(6)]
    reply = {
        "errors": True,
        "items": [
            {"create": {"status": 201}},
            {"create": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}},
            {
                "create": {
                    "status": 429,
                    "error": {"type": "es_rejected", "reason": "busy"},
                }
            },
            {"create": {"status": 503, "error": {"type": "unavailable_shards_exception", "reason": "x"}}},
            {"create": {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "bad field"}}},
        ],
    }
    got = _write.classify([d.id for d in docs], reply)
    assert [r.outcome for r in got] == [
        Outcome.CREATED,
        Outcome.DUPLICATE,
        Outcome.RETRYABLE,
        Outcome.RETRYABLE,
        Outcome.REJECTED,
        Outcome.RETRYABLE,
    ]
    assert got[4].reason == "mapper_parsing_exception: bad field"
    assert {r.outcome for r in _write.classify([d.id for d in docs], {"errors": False, "items": []})} == {
        Outcome.CREATED
    }


# ---- DSL (no server) ----------------------------------------------------------------------------


def _types(table: dict[str, set[str]]) -> Any:
    return lambda f: frozenset(table.get(f, set()))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("*", {"match_all": {}}),
        ("timeout", {"match_phrase": {"message": {"query": "timeout"}}}),
        ('"upstream timed out"', {"match_phrase": {"message": {"query": "upstream timed out"}}}),
        ("Time*", {"wildcard": {"message": {"value": "time*"}}}),
        ("user:bob", {"match": {"user": {"query": "bob", "lenient": True}}}),
        ("user:B?b", {"wildcard": {"user": {"value": "B?b"}}}),
        ("status:5*", MATCH_NONE),
        ("status:>=500", {"range": {"status": {"gte": 500}}}),
        ("user:[a TO m}", {"range": {"user": {"gte": "a", "lt": "m"}}}),
        ("_exists_:user", {"exists": {"field": "user"}}),
        ("NOT user:bob", {"bool": {"must_not": [{"match": {"user": {"query": "bob", "lenient": True}}}]}}),
        (
            "a OR user:x",
            {
                "bool": {
                    "should": [
                        {"match_phrase": {"message": {"query": "a"}}},
                        {"match": {"user": {"query": "x", "lenient": True}}},
                    ],
                    "minimum_should_match": 1,
                }
            },
        ),
        (
            "@timestamp:[2026-03-01T00:00:00Z TO *]",
            {"range": {"@timestamp": {"format": "epoch_millis", "gte": BASE_MS}}},
        ),
        ("user:/b.b/", {"regexp": {"user": {"value": "b.b"}}}),
    ],
)
def test_dsl_translation(query: str, expected: dict[str, Any]) -> None:
    """Each query form translates to the DSL that gives SQLite's semantics."""
    types = _types({"status": {"long"}, "user": {"keyword"}})
    assert translate(parse_query(query), types, query) == expected


def test_dsl_implicit_and_and_type_lookups() -> None:
    """Juxtaposed terms are AND (bool filter); only type-dependent clauses ask for field types."""
    node = parse_query("error user:b* status:>500 code:x")
    assert fields_needing_types(node) == {"user", "status"}
    dsl = translate(node, _types({"status": {"long"}, "user": {"keyword"}}))
    assert list(dsl["bool"]) == ["filter"] and len(dsl["bool"]["filter"]) == 4


def test_dsl_numeric_range_on_string_field_matches_nothing() -> None:
    """Numeric bounds compare numbers only, so a keyword-only field matches nothing (as on SQLite)."""
    assert translate(parse_query("user:[1 TO 5]"), _types({"user": {"keyword"}})) == MATCH_NONE


def test_dsl_bad_timestamp_is_query_error() -> None:
    """A bound on @timestamp that is not a time is a QueryError."""
    with pytest.raises(QueryError):
        translate(parse_query("@timestamp:>yesterday"), query="@timestamp:>yesterday")


def test_prepare_source_only_copies_when_needed() -> None:
    """A doc already nested with event.id is used as is; dotted keys are merged into objects."""
    fine = {"message": "m", "event": {"id": "x"}}
    assert prepare_source(fine, "x") is None
    assert prepare_source({"message": "m"}, "x") == {"message": "m", "event": {"id": "x"}}
    assert expand_dotted({"log": {"file": {"path": "/a"}}, "log.level": "info", "a.b.c": 1}) == {
        "log": {"file": {"path": "/a"}, "level": "info"},
        "a": {"b": {"c": 1}},
    }


def test_bulk_reply_without_errors_is_not_parsed() -> None:
    """The client's JSON serializer answers {"errors": false} for a clean bulk reply, parses all else."""
    from logstore.elastic._client import _serializers

    loads = _serializers()["application/json"].loads
    clean = b'{"took":3,"errors":false,"items":[' + b",".join([b'{"create":{"status":201}}'] * 3) + b"]}"
    assert loads(clean) == {"errors": False}
    assert loads(b'{"errors":false,"took":1,"ingest_took":0,"items":[]}') == {"errors": False}
    failed = b'{"took":3,"errors":true,"items":[{"create":{"status":409}}]}'
    assert loads(failed)["items"][0]["create"]["status"] == 409
    search = b'{"took":1,"timed_out":false,"hits":{"items":1,"errors":false}}'
    assert loads(search)["hits"] == {"items": 1, "errors": False}
