"""The _bulk subset shippers speak: actions, ids, _index, timestamps, malformed NDJSON, gzip, filter_path.

One server for the module (each test writes its own dataset or ids, so they do not see each other).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from server.bulk import NO_TIMESTAMP_TAG
from tests.server.harness import Running, serve, server_config
from tests.server.http import bulk, ndjson, stored

TS = "2026-12-02T10:00:00.000Z"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serve(server_config(tmp_path_factory.mktemp("bulk"))) as running:
        yield running


def _items(answer: Any) -> list[dict[str, Any]]:
    """Each item's body, whatever its action."""
    return [next(iter(item.values())) for item in answer.json["items"]]


def test_create_and_index_store_each_doc_with_es_shaped_items(srv: Running) -> None:
    """create and index each store their doc; items carry _index, _id, status 201, result created."""
    body = ndjson(
        {"create": {"_index": "t-shape", "_id": "shape-1"}},
        {"@timestamp": TS, "message": "one"},
        {"index": {"_index": "t-shape", "_id": "shape-2"}},
        {"@timestamp": TS, "message": "two"},
    )
    answer = bulk(srv.url, body)
    assert answer.status == 200 and answer.headers["X-Elastic-Product"] == "Elasticsearch"
    assert answer.json["errors"] is False and isinstance(answer.json["took"], int)
    assert [list(i) for i in answer.json["items"]] == [["create"], ["index"]]
    assert [(i["_index"], i["_id"], i["status"], i["result"]) for i in _items(answer)] == [
        ("t-shape", "shape-1", 201, "created"),
        ("t-shape", "shape-2", 201, "created"),
    ]
    assert [d["message"] for d in stored(srv.config, "event.dataset:t-shape")] == ["one", "two"]


def test_create_of_a_stored_id_is_a_409_item(srv: Running) -> None:
    """A create whose _id is stored already: 409 version_conflict_engine_exception, errors: true."""
    body = ndjson({"create": {"_index": "t-409", "_id": "dup-1"}}, {"@timestamp": TS, "message": "first"})
    assert bulk(srv.url, body).json["errors"] is False
    again = bulk(srv.url, body)
    assert again.json["errors"] is True
    (item,) = _items(again)
    assert item["status"] == 409 and item["error"]["type"] == "version_conflict_engine_exception"
    assert len(stored(srv.config, "event.dataset:t-409")) == 1


def test_index_of_a_stored_id_is_a_200_noop_that_keeps_the_first_doc(srv: Running) -> None:
    """An index whose _id is stored already: 200 result noop, errors: false, the stored doc unchanged."""
    first = ndjson({"index": {"_index": "t-noop", "_id": "noop-1"}}, {"@timestamp": TS, "message": "first"})
    second = ndjson({"index": {"_index": "t-noop", "_id": "noop-1"}}, {"@timestamp": TS, "message": "second"})
    assert bulk(srv.url, first).json["errors"] is False
    again = bulk(srv.url, second)
    assert again.json["errors"] is False
    (item,) = _items(again)
    assert (item["status"], item["result"], item["_id"]) == (200, "noop", "noop-1")
    assert [d["message"] for d in stored(srv.config, "event.dataset:t-noop")] == ["first"]


def test_an_id_is_generated_when_absent(srv: Running) -> None:
    """Docs without _id get distinct generated ids, answered in their items and stored as event.id."""
    body = ndjson(*[x for i in range(3) for x in ({"index": {}}, {"@timestamp": TS, "message": f"gen {i}"})])
    ids = [i["_id"] for i in _items(bulk(srv.url, body, "/t-gen/_bulk"))]
    assert len(set(ids)) == 3 and all(ids)
    assert sorted(d["event"]["id"] for d in stored(srv.config, "event.dataset:t-gen")) == sorted(ids)


def test_index_name_becomes_event_dataset_unless_the_doc_has_one(srv: Running) -> None:
    """_index (the action's, else the URL's) is set as event.dataset; a doc's own dataset is kept."""
    body = ndjson(
        {"create": {"_index": "t-ds-action", "_id": "ds-1"}},
        {"@timestamp": TS, "message": "action"},
        {"create": {"_id": "ds-2"}},
        {"@timestamp": TS, "message": "url"},
        {"create": {"_id": "ds-3"}},
        {"@timestamp": TS, "message": "own", "event": {"dataset": "t-ds-own"}},
    )
    answer = bulk(srv.url, body, "/t-ds-url/_bulk")
    assert [i["_index"] for i in _items(answer)] == ["t-ds-action", "t-ds-url", "t-ds-url"]
    for dataset, message in [("t-ds-action", "action"), ("t-ds-url", "url"), ("t-ds-own", "own")]:
        assert [d["message"] for d in stored(srv.config, f"event.dataset:{dataset}")] == [message]


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("2026-12-02T12:00:00+02:00", "2026-12-02T10:00:00.000Z"),
        ("2026-12-02T04:30:00.25-05:30", "2026-12-02T10:00:00.250Z"),
        ("2026-12-02T10:00:00.123456789Z", "2026-12-02T10:00:00.123Z"),
        ("2026-12-02T10:00:00", "2026-12-02T10:00:00.000Z"),
        (1796205600000, "2026-12-02T10:00:00.000Z"),
        ("1796205600000", "2026-12-02T10:00:00.000Z"),
        ("2026-12-02T10:00:00.000Z", "2026-12-02T10:00:00.000Z"),
    ],
)
def test_timestamps_with_any_offset_or_epoch_millis_are_stored_as_utc(
    srv: Running, sent: Any, expected: str
) -> None:
    """RFC 3339 with any offset (none: UTC) and epoch millis are stored as RFC 3339 UTC milliseconds."""
    dataset = f"t-ts-{abs(hash(repr(sent)))}"
    answer = bulk(srv.url, ndjson({"index": {"_index": dataset}}, {"@timestamp": sent, "message": "t"}))
    assert answer.json["errors"] is False
    (doc,) = stored(srv.config, f"event.dataset:{dataset}")
    assert doc["@timestamp"] == expected
    assert NO_TIMESTAMP_TAG not in doc.get("tags", [])


@pytest.mark.parametrize("sent", [None, "yesterday", "2026-13-45T99:00:00Z", True, {"a": 1}])
def test_a_missing_or_unparsable_timestamp_is_the_receive_time_and_tagged(srv: Running, sent: Any) -> None:
    """No usable @timestamp: stored at the receive time, tagged, and an unparsable value kept aside."""
    dataset = f"t-nots-{abs(hash(repr(sent)))}"
    source: dict[str, Any] = {"message": "t", "tags": ["mine"]}
    if sent is not None:
        source["@timestamp"] = sent
    before = datetime.now(UTC)
    assert bulk(srv.url, ndjson({"index": {"_index": dataset}}, source)).json["errors"] is False
    (doc,) = stored(srv.config, f"event.dataset:{dataset}")
    stamped = datetime.fromisoformat(doc["@timestamp"])
    assert before.replace(microsecond=0) <= stamped <= datetime.now(UTC)
    assert doc["tags"] == ["mine", NO_TIMESTAMP_TAG]
    assert doc.get("logwarden", {}).get("unparsed_timestamp") == sent


def test_update_and_delete_are_400_items_naming_the_action(srv: Running) -> None:
    """update, delete and unknown actions: a 400 item naming the action; the other items are stored."""
    body = ndjson(
        {"update": {"_index": "t-act", "_id": "a-1"}},
        {"doc": {"message": "x"}},
        {"delete": {"_index": "t-act", "_id": "a-2"}},
        {"frobnicate": {"_index": "t-act"}},
        {"message": "x"},
        {"create": {"_index": "t-act", "_id": "a-3"}},
        {"@timestamp": TS, "message": "kept"},
    )
    answer = bulk(srv.url, body)
    assert answer.json["errors"] is True
    items = _items(answer)
    assert [i["status"] for i in items] == [400, 400, 400, 201]
    assert "[update]" in items[0]["error"]["reason"] and "line 1:" in items[0]["error"]["reason"]
    assert "[delete]" in items[1]["error"]["reason"] and "line 3:" in items[1]["error"]["reason"]
    assert "[frobnicate]" in items[2]["error"]["reason"] and "line 4:" in items[2]["error"]["reason"]
    assert [d["message"] for d in stored(srv.config, "event.dataset:t-act")] == ["kept"]


def test_malformed_lines_are_items_naming_the_line_and_the_rest_is_stored(srv: Running) -> None:
    """Not JSON, not a one-key action, a missing source line, a non-object source: each a 400 item
    whose reason starts with its line number; every good doc around them is stored."""
    good = [{"create": {"_index": "t-bad", "_id": f"bad-{i}"}} for i in range(5)]
    body = ndjson(
        good[0], {"@timestamp": TS, "message": "ok 0"},  # lines 1-2
        b"{this is not json", {"message": "its source"},  # lines 3-4
        {"create": {}, "index": {}}, {"message": "two keys"},  # lines 5-6
        good[1], {"@timestamp": TS, "message": "ok 1"},  # lines 7-8
        {"create": {"_index": "t-bad", "_id": "no-source"}},  # line 9: the next line is an action
        good[2], {"@timestamp": TS, "message": "ok 2"},  # lines 10-11
        {"create": {"_index": "t-bad"}}, b"[1, 2, 3]",  # lines 12-13
        {"create": {"_index": "t-bad"}}, b'{"message": "cut',  # lines 14-15
        good[3], {"@timestamp": TS, "message": "ok 3"},  # lines 16-17
        good[4],  # line 18: the body ends
    )  # fmt: skip
    answer = bulk(srv.url, body)
    assert answer.status == 200 and answer.json["errors"] is True
    items = _items(answer)
    assert [i["status"] for i in items] == [201, 400, 400, 201, 400, 201, 400, 400, 201, 400]
    reasons = [i["error"]["reason"] for i in items if i["status"] == 400]
    assert [r.split(":")[0] for r in reasons] == [
        "line 3",
        "line 5",
        "line 9",
        "line 13",
        "line 15",
        "line 18",
    ]
    assert "not JSON" in reasons[0] and "no source line" in reasons[2] and "not a JSON object" in reasons[3]
    assert [d["message"] for d in stored(srv.config, "event.dataset:t-bad")] == [
        "ok 0",
        "ok 1",
        "ok 2",
        "ok 3",
    ]


@pytest.mark.parametrize("body", [b"", b"\n\n  \n"])
def test_an_empty_body_is_a_400_json_error(srv: Running, body: bytes) -> None:
    """An empty (or blank) body: 400 with an Elasticsearch-shaped JSON error saying a body is needed."""
    answer = bulk(srv.url, body)
    assert answer.status == 400
    assert "body is required" in answer.json["error"]["reason"]


def test_a_gzip_body_is_stored_like_a_plain_one(srv: Running) -> None:
    """Content-Encoding: gzip bodies (several members too) are read as the NDJSON they hold."""
    part = [
        ndjson({"create": {"_index": "t-gzip", "_id": f"gz-{i}"}}, {"@timestamp": TS, "message": f"gz {i}"})
        for i in range(2)
    ]
    answer = bulk(
        srv.url, gzip.compress(part[0]) + gzip.compress(part[1]), headers={"Content-Encoding": "gzip"}
    )
    assert answer.status == 200 and answer.json["errors"] is False
    assert [d["message"] for d in stored(srv.config, "event.dataset:t-gzip")] == ["gz 0", "gz 1"]


def test_a_body_that_is_not_gzip_is_a_400(srv: Running) -> None:
    """A body sent as gzip that is not gzip: 400 naming the problem, not a 500."""
    answer = bulk(srv.url, b"plain text", headers={"Content-Encoding": "gzip"})
    assert answer.status == 400 and "gzip" in answer.json["error"]["reason"]


def test_filter_path_keeps_what_the_client_asked_for(srv: Running) -> None:
    """filter_path=errors,items.*.error: only errors, and only the failed items' errors."""
    body = ndjson(
        {"create": {"_index": "t-filter", "_id": "f-1"}}, {"@timestamp": TS, "message": "ok"},
        b"garbage", {"message": "its source"},
    )  # fmt: skip
    answer = bulk(srv.url, body, "/_bulk?filter_path=errors,items.*.error")
    assert answer.json == {
        "errors": True,
        "items": [{"index": {"error": answer.json["items"][0]["index"]["error"]}}],
    }
    clean = ndjson({"create": {"_index": "t-filter", "_id": "f-2"}}, {"@timestamp": TS, "message": "ok"})
    assert bulk(srv.url, clean, "/_bulk?filter_path=errors,items.*.error").json == {"errors": False}


@pytest.mark.parametrize(
    "line",
    [
        b'{"create":{"_id":"7fd81767e1c45db70fdcf6f6"}}',
        b'{"create":{"_id":"a-b_c.d:e+f/g="}}',
        b'{"create":{"_id":"tab\\there"}}',
        b'{"create":{"_id":"q\\"uote"}}',
        b'{"create":{"_id":""}}',
        b'{"create":{"_id":"x","_index":"y"}}',
        b'{"create":{"_id":"caf\xc3\xa9"}}',
    ],
)
def test_the_fast_action_path_reads_a_line_as_the_json_parser_does(line: bytes) -> None:
    """A create action line read without the JSON parser gives the same action and id as with it."""
    from server.bulk import _action

    assert _action(line) == ("create", orjson.loads(line)["create"])


def test_a_doc_already_in_the_stored_shape_is_stored_as_parsed(srv: Running) -> None:
    """A doc the server need not change (the shipper's: stored-form @timestamp, event.id = _id) takes
    the fast way into the store and comes back the same; a line that repeats a key is stored as
    parsed, last value only, so queries on the stored bytes agree with what the server read."""
    from logstore import open_store
    from logstore.protocol import RawSearch

    same = b'{"@timestamp":"2026-12-02T10:00:00.000Z","event":{"id":"as-sent-1"},"message":"kept as sent"}'
    twice = (
        b'{"@timestamp":"2026-12-02T10:00:00.000Z","event":{"id":"as-sent-2"},'
        b'"message":"first","k":"old","k":"new"}'
    )
    body = ndjson({"create": {"_id": "as-sent-1"}}, same, {"create": {"_id": "as-sent-2"}}, twice)
    assert bulk(srv.url, body).json["errors"] is False
    store = open_store(srv.config.store, create=False)
    try:
        assert isinstance(store, RawSearch)
        raw = {c.id: line for c, line in store.search_raw("event.id:as-sent-*")}
        assert raw["as-sent-1"] == same
        assert orjson.loads(raw["as-sent-2"])["k"] == "new" and raw["as-sent-2"].count(b'"k"') == 1
        assert store.count("k:new") == 1 and store.count("k:old") == 0
    finally:
        store.close()


_PAIRS: list[bytes] = [
    # usual pairs: a create with a plain id, a JSON object
    b'{"create":{"_id":"0a1b2c"}}\n{"@timestamp":"2026-12-02T10:00:00.000Z","event":{"id":"0a1b2c"},"m":1}',
    b'{"create":{"_id":"0a1b2d"}}\n{"@timestamp":"2026-12-02T10:00:00.000Z","event":{"id":"other"},"m":2}',
    b'{"create":{"_id":"0a1b2e"}}\n{"@timestamp":"2026-12-02T10:00:00.001Z","event":{"id":"0a1b2e"},"a.b":3}',
    b'{"create":{"_id":"0a1b2f"}}\n{"@timestamp":"2026-12-02 10:00:00","event":"text"}',
    b'{"create":{"_id":"0a1b30"}}\n{"@timestamp":1764669600000}',
    b'{"create":{"_id":"0a1b31"}}\n{"@timestamp":"2026-12-02T10:00:00.0x1Z","event":{"id":"0a1b31"}}',
    b'{"create":{"_id":"0a1b32"}}\n{"@timestamp":"not a time","tags":"t"}',
    b'{"create":{"_id":"a-b_c.d:e+f/g="}}\n{"message":"plain id with the other characters"}',
    b'{"create":{"_id":"0a1b33"}}\n{"k":"old","k":"new","event":{"id":"0a1b33"}}',
    b'{"create":{"_id":"0a1b34"}}\n{"create":{"_id":"x"}}',  # a source that is an action
    b'{"create":{"_id":"0a1b35"}}\n[1,2]',  # not an object
    b'{"create":{"_id":"0a1b36"}}\n{"broken":',  # not JSON
    b'{"create":{"_id":"0a1b37"}}',  # no source line: the next item's action follows
    b'{"create":{"_id":""}}\n{"m":"empty id"}',
    b'{"create":{"_id":"' + b"x" * 513 + b'"}}\n{"m":"id too long"}',
    b'{"create":{"_id":"q\\"uote"}}\n{"m":"escaped id"}',
    b'{"create":{"_id":"y","_index":"idx"}}\n{"m":"index in the action"}',
    b'{"index":{"_id":"0a1b38"}}\n{"m":"index action"}',
    b'{"create":{}}\n{"m":"generated id"}',
    b'{"delete":{"_id":"0a1b39"}}',
    b'{"update":{"_id":"0a1b3a"}}\n{"doc":{}}',
    b"",  # a blank line
    b"not json at all",
]


def _general(monkeypatch: pytest.MonkeyPatch, body: bytes, url_index: str, max_docs: int) -> Any:
    """``parse`` with the usual-pair loop switched off: every item through the general code."""
    from server import bulk as module

    with monkeypatch.context() as m:
        m.setattr(module, "_usual", lambda lines, i, *rest: i)
        m.setattr(module, "_ids", lambda: lambda: "generated")
        return module.parse(body, url_index, max_docs, 1_764_669_600_000)


@pytest.mark.parametrize("url_index", ["", "logs"])
def test_the_usual_pair_loop_parses_every_body_as_the_general_code_does(
    monkeypatch: pytest.MonkeyPatch, url_index: str
) -> None:
    """Any mix of usual and unusual items (bad lines, other actions, escaped or long ids, docs not
    in the stored shape) parses to the same docs, items and errors with the fast loop as without."""
    import random

    from server import bulk as module

    rng = random.Random(7)
    for _ in range(300):
        body = b"\n".join(rng.choice(_PAIRS) for _ in range(rng.randint(1, 12))) + b"\n"
        expected = _general(monkeypatch, body, url_index, 100)
        with monkeypatch.context() as m:
            m.setattr(module, "_ids", lambda: lambda: "generated")
            got = module.parse(body, url_index, 100, 1_764_669_600_000)
        assert (got.docs, got.items, got.ops, got.indices, got.failed, got.refused) == (
            expected.docs,
            expected.items,
            expected.ops,
            expected.indices,
            expected.failed,
            expected.refused,
        ), body


def test_the_usual_pair_loop_stops_at_max_docs_as_the_general_code_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One doc past ``max_docs`` refuses the request (TooManyDocs), however the docs were read."""
    from server.bulk import TooManyDocs, parse

    body = b"\n".join([_PAIRS[0]] * 3) + b"\n"
    with pytest.raises(TooManyDocs):
        parse(body, "", 2, 0)
    with pytest.raises(TooManyDocs):
        _general(monkeypatch, body, "", 2)
    assert len(parse(body, "", 3, 0).docs) == 3


@pytest.mark.parametrize(
    "ids",
    [
        ["0a1b2c", "0a1b2d"],
        ['q"uote', "back\\slash", 'a","b', "x\\", "caf\u00e9", "tab\there", ","],
        ["only"],
        [],
    ],
)
@pytest.mark.parametrize("mixed", [False, True])
def test_the_all_created_answer_is_orjsons_rendering_byte_for_byte(ids: list[str], mixed: bool) -> None:
    """The hot path's answer, written as bytes, is what ``orjson.dumps`` of the items writes, for ids
    that need escaping too, and for requests mixing actions and indices."""
    from logstore.types import Doc
    from server.bulk import Parsed, all_created, render

    parsed = Parsed()
    for k, doc_id in enumerate(ids):
        parsed.docs.append(Doc(doc_id, 0, {}))
        parsed.items.append(k)
        parsed.ops.append("index" if mixed and k % 2 else "create")
        parsed.indices.append("other" if mixed and k == 0 else "logwarden")
    items, errors = render(parsed, None)
    assert all_created(parsed, 5) == orjson.dumps({"took": 5, "errors": errors, "items": items})
