"""The store contract, run on every registered backend through ``store_config`` (tests/logstore/conftest.py).

What both backends must agree on: idempotent writes with per-doc outcomes, search order, tiebreak,
cursor and streaming, every aggregation kind, retention, and the query equivalence table: >= 40
Lucene queries over tests/logstore/corpus.py, each with its hand-checked set of expected doc ids.
Deliberate differences between the backends are listed in docs/query-semantics.md; the table avoids
them (see the note above QUERY_TABLE).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from logstore import BACKENDS, AggRequest, Cursor, Doc, Metric, Outcome, Store
from logstore.config import StoreConfig
from logstore.types import datetime_to_ms, format_ts, ms_to_datetime
from tests.logstore.conftest import CONTRACT
from tests.logstore.corpus import ALL_IDS, BASE_MS, CORPUS, MINUTE, ids

WINDOW_START = ms_to_datetime(BASE_MS)
WINDOW_END = ms_to_datetime(BASE_MS + 60 * MINUTE)


def open_backend(
    config: StoreConfig, *, page_size: int | None = None, retention: timedelta | None = None
) -> Store:
    """Open the backend of ``config`` directly, with the knobs the fixture's open_store cannot pass."""
    settings = config.settings
    if retention is not None:
        settings = settings.model_copy(update={"retention": retention})
    return CONTRACT[config.backend].open(settings, page_size)


def test_every_registered_backend_has_a_contract_fixture() -> None:
    """Each backend in the registry runs this suite: tests/logstore/conftest.py has its entry."""
    assert set(BACKENDS) <= set(CONTRACT)


@pytest.fixture(params=list(CONTRACT))
def store_config(request: pytest.FixtureRequest) -> StoreConfig:
    """A fresh, empty store of each backend in the contract table (one per registered backend):
    this suite's own, so that every backend runs it, not only the two the other suites use."""
    config: StoreConfig = request.getfixturevalue(CONTRACT[request.param].config_fixture)
    return config


@pytest.fixture
def corpus_store(store: Store) -> Store:
    results = store.write(CORPUS)
    assert [r.outcome for r in results] == [Outcome.CREATED] * len(CORPUS)
    store.refresh()
    return store


def make_docs(n: int, *, start_ms: int = BASE_MS, step_ms: int = 1000, prefix: str = "d") -> list[Doc]:
    docs = []
    for i in range(n):
        ts = start_ms + i * step_ms
        source = {
            "@timestamp": format_ts(ts),
            "message": f"event number {i}",
            "service": {"name": "ab"[i % 2]},
            "n": i + 1,
        }
        docs.append(Doc(f"{prefix}{i:05d}", ts, source))
    return docs


# ---- the query equivalence table -------------------------------------------------------------------

NGINX = ids(
    "ng01 ng02 ng03 ng04 ng05 ng06 ng07 ng08 ng09 ng10 ng11 ng12 ng13 ng14 ng15 ng16 ng17 ng18 ng19 ng20"
)
API = ids("ng04 ng05 ng06 ng07 ng10 ng11 ng14 ng15 ng17 ng18 mx17")
WEB = ids("ng01 ng02 ng03 ng08 ng09 ng12 ng13 ng16 ng19 ng20")
BUNYAN = ids("bu01 bu02 bu03 bu04 bu05 bu06 bu07 bu08 bu09 bu10")
LEVEL_30 = ids("bu01 bu02 bu05 bu07 bu09 pi01 pi02 pi05 pi06 pi08 pi10")

# Each row: query, the exact set of ids it must return on every backend. Hand-checked against corpus.py.
# Deliberately absent (the backends' text analysis differs, see docs/query-semantics.md): free-text
# queries on CJK text, on words joined by '.', '_' or '@' (example.com, foo_bar), and on decimal
# numbers inside messages (3.14); Elasticsearch's standard analyzer keeps those as one token.
QUERY_TABLE: list[tuple[str, frozenset[str]]] = [
    ("*", ALL_IDS),
    ("", ALL_IDS),
    # full text on message
    ("error", ids("bu10")),
    ("message:invoice", ids("bu01 bu02 bu05 bu09")),
    ('"request completed"', ids("pi01 pi02 pi06 pi08 pi10")),
    ('"completed request"', ids()),
    ("request", ids("pi01 pi02 pi04 pi06 pi08 pi10 mx17")),
    ("request AND NOT completed", ids("pi04 mx17")),
    ("request -completed", ids("pi04 mx17")),
    ("payment OR refund", ids("bu03 bu04 bu06 bu07")),
    ("pay*", ids("bu03 bu04 bu06")),
    (
        "message:*ed",
        ids(
            "bu01 bu03 bu04 bu05 bu07 bu09 bu10",
            "pi01 pi02 pi04 pi05 pi06 pi08 pi10",
            "mx03 mx04 mx12 mx13 mx14 mx17 mx20",
        ),
    ),
    ("re?und", ids("bu07")),
    ("Zürich", ids("mx01")),
    ("cafe", ids()),  # neither backend folds diacritics
    ('"déjà vu"', ids("mx01")),
    ('message:"connection refused"', ids("bu10")),
    ("connection", ids("bu10 mx10")),
    ('"50% off"', ids("mx14")),
    ("Quoted AND special", ids("mx14")),
    ("user", ids("mx03 mx04 pi09")),
    ("api", ids("ng04 ng05 ng06 ng07 ng10 ng11 ng14 ng15 ng17 ng18")),
    ("v2", ids("ng15 mx20")),
    ("nullpointerexception", ids("mx09")),
    # exact keyword values
    ("service.name:api", API),
    ("service.name:API", ids()),
    ("service.name:(web OR auth)", WEB | ids("mx03 mx04")),
    ("NOT service.name:api", ALL_IDS - API),  # includes mx08, which has no service at all
    ("-_exists_:service.name", ids("mx08")),
    ("log.level:error", ids("ng06 ng07 ng11 bu04 bu06 bu10 pi04 mx18")),
    ("log.level:ERROR", ids("mx09")),
    ("host.name:web-?", NGINX),
    ("host.name:/web-[12]/", NGINX - ids("ng06 ng07 ng12 ng13 ng17 ng18")),
    ("host.name:/db-.*/", ids("mx05 mx06")),
    ("url.path:\\/api\\/v1\\/users*", ids("ng04 ng05 ng10 ng17")),
    ('url.path:"/api/v1/orders"', ids("ng06 ng07 ng18")),
    ("req.url:\\/q*", ids("pi01 pi02 pi03 pi04 pi10")),
    ('req.url:"/q?term=*"', ids("pi03")),
    ("mail.to:ops@example.com", ids("mx16")),
    ("deploy.version:2.3.1", ids("mx20")),
    ("event.dataset:nginx.access", NGINX),  # ng19/ng20 were written with dotted keys
    ("event.id:mx1*", ids("mx10 mx11 mx12 mx13 mx14 mx15 mx16 mx17 mx18 mx19")),
    ("kubernetes.pod.name:geo-7d9f", ids("mx01")),
    ("error.type:NullPointerException", ids("mx09")),
    ("invoice.currency:EUR AND NOT invoice.id:INV-1001", ids("bu05")),
    ("name:billing AND hostname:app-1 AND pid:4242", BUNYAN),
    # numbers stored as numbers
    ("http.response.status_code:502", ids("ng07")),
    ("http.response.status_code:>=500", ids("ng06 ng07 ng11")),
    ("http.response.status_code:[400 TO 499]", ids("ng05 ng13 ng16 ng18 mx17")),
    ("http.response.status_code:{200 TO 304}", ids("ng03 ng10")),
    ("status:502", ids("mx11")),  # a string equal as text matches a numeric query value
    ("latency_ms:>1000", ids("ng07 ng11 ng13")),
    ("latency_ms:[0.4 TO 1.0]", ids("ng08 ng09 ng16 ng20")),
    ("invoice.amount:<0", ids("bu07")),
    ("invoice.amount:99.5", ids("bu01 bu02")),
    ("level:>=50", ids("bu04 bu06 bu10 pi04 pi07")),
    ("NOT level:30", ALL_IDS - LEVEL_30),
    ("res.statusCode:200 AND responseTime:<20", ids("pi01 pi08 pi10")),
    ("disk.used_pct:>90", ids("mx05")),
    ("retry.attempt:3 AND retry.max:5", ids("mx10")),
    ("duration_ms:1200 OR latency_ms:1200.5", ids("mx19 ng07")),
    ("http.request.method:POST AND service.name:api", ids("ng06 ng07")),
    ("(service.name:billing AND level:50) OR (service.name:search AND level:60)", ids("bu04 bu06 bu10 pi07")),
    # arrays: any element matches
    ("tags:prod", ids("mx01 mx03 mx17 mx20")),
    ("tags:prod AND tags:deploy", ids("mx20")),
    ("user.roles:dev", ids("mx03 mx04")),
    ("ports:5432", ids("mx05 mx06")),
    ("ports:9187", ids("mx05")),
    # booleans, nulls, missing fields
    ("flag.enabled:true", ids("mx12")),
    ("flag.enabled:false", ids("mx13")),
    ("_exists_:tags", ids("mx01 mx02 mx03 mx17 mx20")),  # mx15's empty array does not exist
    ("_exists_:labels.campaign", ids("mx14")),  # mx15's null does not exist
    ("NOT _exists_:message", ids("mx07")),
    # time
    ('@timestamp:["2026-01-01T00:00:00Z" TO "2026-01-01T00:04:00Z"]', ids("ng01 ng02 ng03 ng04 ng05")),
    ('@timestamp:>="2026-01-01T00:58:00Z"', ids("mx19 mx20")),
]


def test_query_table_has_at_least_40_queries() -> None:
    """The equivalence table keeps at least 40 queries, each with a distinct query string."""
    assert len(QUERY_TABLE) >= 40
    assert len({q for q, _ in QUERY_TABLE}) == len(QUERY_TABLE)


def test_query_table(corpus_store: Store) -> None:
    """Every query of the equivalence table returns exactly its expected ids, via search and via count."""
    failures = []
    for query, expected in QUERY_TABLE:
        got = {h.id for h in corpus_store.search(query)}
        counted = corpus_store.count(query)
        if got != expected or counted != len(expected):
            failures.append(
                f"{query!r}: missing {sorted(expected - got)} extra {sorted(got - expected)} count {counted}"
            )
    assert not failures, "\n".join(failures)


# ---- write -----------------------------------------------------------------------------------------


def test_write_is_idempotent(store: Store) -> None:
    """Writing the same batch twice answers CREATED then DUPLICATE and stores each doc once."""
    docs = make_docs(20)
    assert [r.outcome for r in store.write(docs)] == [Outcome.CREATED] * 20
    second = store.write(docs)
    assert [r.outcome for r in second] == [Outcome.DUPLICATE] * 20
    assert all(r.outcome.delivered for r in second)
    store.refresh()
    assert store.count("") == 20


def test_duplicate_inside_one_batch(store: Store) -> None:
    """An id repeated inside one batch is stored once; the repeat answers DUPLICATE."""
    doc = make_docs(1)[0]
    results = store.write([doc, doc])
    assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.DUPLICATE]
    store.refresh()
    assert store.count("") == 1


def test_rejected_doc_does_not_sink_the_batch(store: Store) -> None:
    """A doc without @timestamp or with an unserializable value is REJECTED; the rest land, in order."""
    good = make_docs(4)
    no_ts = Doc("no-ts", BASE_MS, {"message": "no timestamp here"})
    unserializable = Doc(
        "bad-json", BASE_MS, {"@timestamp": format_ts(BASE_MS), "message": "x", "obj": object()}
    )
    batch = [good[0], no_ts, good[1], unserializable, good[2], good[3]]
    results = store.write(batch)
    assert [r.id for r in results] == [d.id for d in batch]
    assert [r.outcome for r in results] == [
        Outcome.CREATED,
        Outcome.REJECTED,
        Outcome.CREATED,
        Outcome.REJECTED,
        Outcome.CREATED,
        Outcome.CREATED,
    ]
    assert results[1].reason and results[3].reason
    store.refresh()
    assert {h.id for h in store.search("")} == {d.id for d in good}


def test_stored_source_is_nested_and_carries_event_id(corpus_store: Store) -> None:
    """Hits carry event.id in the source, and dotted keys were expanded into nested objects."""
    hits = {h.id: h for h in corpus_store.search("")}
    assert all(h.source["event"]["id"] == doc_id for doc_id, h in hits.items())
    ng19 = hits["ng19"].source
    assert ng19["http"]["response"]["status_code"] == 304
    assert ng19["service"]["name"] == "web"
    assert "service.name" not in ng19
    assert hits["ng19"].source["@timestamp"] == format_ts(hits["ng19"].ts)


# ---- search ----------------------------------------------------------------------------------------


def _sort_key(doc: Doc) -> tuple[int, str]:
    return doc.ts, doc.id


def test_search_order_and_tiebreak(corpus_store: Store) -> None:
    """Hits come sorted by (@timestamp, event.id), ascending or descending; equal times tie-break by id."""
    expected = [d.id for d in sorted(CORPUS, key=_sort_key)]
    assert [h.id for h in corpus_store.search("")] == expected
    assert [h.id for h in corpus_store.search("", order="desc")] == expected[::-1]
    same_ts = [h.id for h in corpus_store.search("mail.to:* OR tags:throttle")]
    assert same_ts == ["mx16", "mx17"]


def test_search_after_cursor_and_limit(corpus_store: Store) -> None:
    """after=cursor resumes strictly after that hit in the requested order; limit caps the hits."""
    expected = [d.id for d in sorted(CORPUS, key=_sort_key)]
    first = list(corpus_store.search("", limit=7))
    assert [h.id for h in first] == expected[:7]
    rest = list(corpus_store.search("", after=first[-1].cursor, limit=5))
    assert [h.id for h in rest] == expected[7:12]
    # A cursor on a tied timestamp resumes on the id, not the time.
    mx16 = next(d for d in CORPUS if d.id == "mx16")
    after_tie = [h.id for h in corpus_store.search("", after=Cursor(mx16.ts, "mx16"), limit=1)]
    assert after_tie == ["mx17"]
    back = [h.id for h in corpus_store.search("", order="desc", after=Cursor(mx16.ts, "mx17"), limit=2)]
    assert back == ["mx16", expected[expected.index("mx16") - 1]]


def test_search_time_window(corpus_store: Store) -> None:
    """start <= @timestamp < end; either end may be open."""
    start = ms_to_datetime(BASE_MS + 10 * MINUTE)
    end = ms_to_datetime(BASE_MS + 20 * MINUTE)
    got = [h.id for h in corpus_store.search("", start, end)]
    assert got == [f"ng{i}" for i in range(11, 21)]
    assert corpus_store.count("", start, end) == 10
    assert corpus_store.count("", None, end) == 20
    assert corpus_store.count("", start, None) == 50
    assert corpus_store.count("service.name:api", start, end) == 5


def test_search_streams_more_hits_than_one_page(store_config: StoreConfig) -> None:
    """With page_size=50, 230 hits stream completely and in order, both directions, with and without limit."""
    store = open_backend(store_config, page_size=50)
    try:
        docs = make_docs(230)
        assert all(r.outcome is Outcome.CREATED for r in store.write(docs))
        store.refresh()
        expected = [d.id for d in docs]
        assert [h.id for h in store.search("")] == expected
        assert [h.id for h in store.search("", order="desc")] == expected[::-1]
        assert [h.id for h in store.search("", limit=120)] == expected[:120]
        assert [h.id for h in store.search("service.name:a")] == expected[::2]
        resumed = [h.id for h in store.search("", after=Cursor(docs[99].ts, docs[99].id))]
        assert resumed == expected[100:]
    finally:
        store.close()


# ---- aggregations ----------------------------------------------------------------------------------


def _nginx_sources() -> list[dict[str, Any]]:
    return [d.source for d in CORPUS if d.id.startswith("ng")]


def _field(source: dict[str, Any], dotted: str) -> Any:
    if dotted in source:
        return source[dotted]
    node: Any = source
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def test_aggregate_ungrouped_count_and_ratio(corpus_store: Store) -> None:
    """An ungrouped request answers one row: the exact total plus a count of a second query inside it."""
    req = AggRequest(
        "event.dataset:nginx.access",
        WINDOW_START,
        WINDOW_END,
        metrics=(Metric("all", "count"), Metric("errors", "count", query="http.response.status_code:>=500")),
    )
    (result,) = corpus_store.aggregate([req])
    assert result.total == 20
    assert len(result.rows) == 1
    row = result.rows[0]
    assert row.group == {}
    assert row.count == 20
    assert row.values == {"all": 20, "errors": 3}
    assert result.truncated is False


def test_aggregate_numeric_metrics_grouped(corpus_store: Store) -> None:
    """avg/min/max/sum of a numeric field and cardinality, per group, match the corpus."""
    req = AggRequest(
        "event.dataset:nginx.access",
        WINDOW_START,
        WINDOW_END,
        group_by=("service.name",),
        metrics=(
            Metric("avg", "avg", field="latency_ms"),
            Metric("min", "min", field="latency_ms"),
            Metric("max", "max", field="latency_ms"),
            Metric("sum", "sum", field="http.response.body.bytes"),
            Metric("hosts", "cardinality", field="host.name"),
            Metric("errors", "count", query="log.level:error"),
        ),
    )
    (result,) = corpus_store.aggregate([req])
    by_service: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in _nginx_sources():
        by_service[_field(s, "service.name")].append(s)
    assert result.total == 20
    assert [r.group for r in result.rows] == [
        {"service.name": "api"},
        {"service.name": "web"},
    ]  # 10 each: by value
    for row in result.rows:
        docs = by_service[row.group["service.name"]]
        lat = [_field(s, "latency_ms") for s in docs]
        assert row.count == len(docs)
        assert row.values["avg"] == pytest.approx(sum(lat) / len(lat))
        assert row.values["min"] == pytest.approx(min(lat))
        assert row.values["max"] == pytest.approx(max(lat))
        assert row.values["sum"] == pytest.approx(sum(_field(s, "http.response.body.bytes") for s in docs))
        assert row.values["hosts"] == len({_field(s, "host.name") for s in docs})
        assert row.values["errors"] == sum(1 for s in docs if _field(s, "log.level") == "error")


def test_aggregate_metrics_of_missing_field_are_none(corpus_store: Store) -> None:
    """avg/min/max/sum over docs with no number in the field answer None; counts answer 0."""
    req = AggRequest(
        "service.name:billing",
        WINDOW_START,
        WINDOW_END,
        metrics=(Metric("avg", "avg", field="latency_ms"), Metric("max", "max", field="latency_ms")),
    )
    (result,) = corpus_store.aggregate([req])
    assert result.total == 10
    assert result.rows[0].values == {"avg": None, "max": None}


def test_aggregate_percentiles(store: Store) -> None:
    """Percentiles of 1..200 are within 2% of the exact (linear) value; ES's TDigest may differ slightly."""
    docs = make_docs(200)
    store.write(docs)
    store.refresh()
    start, end = ms_to_datetime(BASE_MS), ms_to_datetime(BASE_MS + 200_000)
    req = AggRequest(
        "",
        start,
        end,
        metrics=(
            Metric("p50", "percentile", field="n", percent=50),
            Metric("p99", "percentile", field="n", percent=99),
            Metric("p90", "percentile", field="n", percent=90),
        ),
    )
    (result,) = store.aggregate([req])
    values = result.rows[0].values
    for name, exact in (("p50", 100.5), ("p90", 180.1), ("p99", 198.01)):
        got = values[name]
        assert got is not None and math.isclose(got, exact, abs_tol=4.0), (name, got)
    grouped = store.aggregate(
        [AggRequest("", start, end, group_by=("service.name",), metrics=req.metrics[:1])]
    )[0]
    # service a holds the odd n (1, 3, ..., 199), b the even ones: both medians are near 100.
    assert {r.group["service.name"] for r in grouped.rows} == {"a", "b"}
    assert all(math.isclose(r.values["p50"] or 0, 100.0, abs_tol=4.0) for r in grouped.rows)


def test_aggregate_group_by_two_fields(corpus_store: Store) -> None:
    """Grouping by two fields gives one row per pair, sorted by count desc then group values."""
    req = AggRequest(
        "event.dataset:nginx.access",
        WINDOW_START,
        WINDOW_END,
        group_by=("service.name", "http.request.method"),
    )
    (result,) = corpus_store.aggregate([req])
    counts = Counter((_field(s, "service.name"), _field(s, "http.request.method")) for s in _nginx_sources())
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    got = [((r.group["service.name"], r.group["http.request.method"]), r.count) for r in result.rows]
    assert got == expected
    assert result.total == 20
    assert result.truncated is False
    assert result.groups_total == len(expected)


def test_aggregate_groups_docs_without_the_field_as_none(corpus_store: Store) -> None:
    """Docs lacking a group field form the group None (logq's "(missing)"); the rows add up to the total."""
    req = AggRequest("connection OR orphan", WINDOW_START, WINDOW_END, group_by=("service.name",))
    (result,) = corpus_store.aggregate([req])
    assert result.total == 3  # bu10, mx10 and mx08 (no service)
    got = sorted(((r.group["service.name"] or ""), r.count) for r in result.rows)
    assert got == [("", 1), ("billing", 1), ("legacy", 1)]


def test_aggregate_date_histogram(corpus_store: Store) -> None:
    """A date histogram buckets on epoch multiples of the interval and leaves out empty buckets."""
    interval = 10 * MINUTE
    req = AggRequest("service.name:api", WINDOW_START, WINDOW_END, interval=interval)
    (result,) = corpus_store.aggregate([req])
    buckets = Counter((d.ts // interval) * interval for d in CORPUS if d.id in API)
    assert [(r.bucket, r.count) for r in result.rows] == sorted(buckets.items())
    assert [(r.bucket, r.count) for r in result.rows][:2] == [(BASE_MS, 5), (BASE_MS + interval, 5)]
    assert result.total == len(API)


def test_aggregate_histogram_grouped(corpus_store: Store) -> None:
    """A grouped histogram answers one row per (bucket, group), buckets in time order."""
    interval = 10 * MINUTE
    req = AggRequest(
        "event.dataset:nginx.access", WINDOW_START, WINDOW_END, group_by=("service.name",), interval=interval
    )
    (result,) = corpus_store.aggregate([req])
    counts = Counter(
        ((d.ts // interval) * interval, _field(d.source, "service.name")) for d in CORPUS if d.id in NGINX
    )
    expected = sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))
    got = [((r.bucket, r.group["service.name"]), r.count) for r in result.rows]
    assert got == expected


def test_aggregate_group_limit_reports_truncation(corpus_store: Store) -> None:
    """More groups than group_limit keeps the largest, sets truncated and reports how many groups exist."""
    req = AggRequest(
        "event.dataset:nginx.access", WINDOW_START, WINDOW_END, group_by=("host.name",), group_limit=2
    )
    (result,) = corpus_store.aggregate([req])
    assert result.truncated is True
    assert result.groups_total == 3
    assert [(r.group["host.name"], r.count) for r in result.rows] == [("web-1", 8), ("web-2", 6)]
    assert result.total == 20


def test_aggregate_several_requests_in_one_call(corpus_store: Store) -> None:
    """Several requests in one aggregate call answer in order, each on its own query and window."""
    reqs = [
        AggRequest("service.name:api", WINDOW_START, WINDOW_END),
        AggRequest("service.name:billing", WINDOW_START, WINDOW_END, group_by=("log.level",)),
        AggRequest("", ms_to_datetime(BASE_MS + 5 * MINUTE), ms_to_datetime(BASE_MS + 7 * MINUTE)),
        AggRequest("", ms_to_datetime(BASE_MS - 10 * MINUTE), ms_to_datetime(BASE_MS - 5 * MINUTE)),
    ]
    results = corpus_store.aggregate(reqs)
    assert [r.total for r in results] == [len(API), 10, 2, 0]
    assert [(r.group["log.level"], r.count) for r in results[1].rows] == [
        ("info", 5),
        ("error", 3),
        ("warn", 2),
    ]
    assert [(r.group, r.count) for r in results[3].rows] == [({}, 0)]


# ---- retention -------------------------------------------------------------------------------------


def test_retention_drops_old_docs(store_config: StoreConfig) -> None:
    """retention(now) drops docs older than the configured retention and keeps the recent ones."""
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    store = open_backend(store_config, retention=timedelta(days=1))
    try:
        old = make_docs(30, start_ms=datetime_to_ms(now - timedelta(days=4)), prefix="old")
        new = make_docs(20, start_ms=datetime_to_ms(now - timedelta(hours=1)), prefix="new")
        store.write(old + new)
        store.refresh()
        assert store.count("") == 50
        result = store.retention(now)
        assert result.deleted_docs in (None, 30)
        store.refresh()
        assert store.count("") == 20
        assert {h.id for h in store.search("event")} == {d.id for d in new}
    finally:
        store.close()
