"""The shipper's hot path: block-hashed doc ids, ``Doc.final``, and the Elasticsearch write shortcuts."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logstore.protocol import BodyWrite, FastWrite
from logstore.types import Doc, Outcome, format_ts
from shipper.build import ID_BLOCK, DocBuilder, Event, FileIds, doc_id, id_hasher
from shipper.parsers import make_parser

FID = "0123456789abcdef"
LINE = b'{"time":"2026-11-22T06:39:00.123Z","level":30,"msg":"done","req":{"id":7}}'


def _events(lines: list[bytes], start: int = 0) -> list[Event]:
    out: list[Event] = []
    off = start
    for line in lines:
        out.append((off, off + len(line) + 1, line, ()))
        off += len(line) + 1
    return out


def test_ids_are_deterministic_24_hex_and_distinct_across_blocks() -> None:
    """An id depends only on (fid, offset): 24 hex digits, the same from any FileIds, distinct per offset."""
    offsets = [0, 1, ID_BLOCK - 1, ID_BLOCK, ID_BLOCK + 1, 5 * ID_BLOCK + 17, 1 << 40]
    ids = FileIds(FID)
    got = [ids.id(o) for o in offsets]
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in got)
    assert len(set(got)) == len(got)
    # Out of order and from fresh states: the block cache never changes the answer.
    assert [doc_id(FID, o) for o in reversed(offsets)] == list(reversed(got))
    assert FileIds("fedcba9876543210").id(0) != got[0]


def test_build_many_ids_match_doc_id_across_a_block_boundary() -> None:
    """Docs built in one batch that crosses a 1 MiB block carry doc_id(fid, their offset)."""
    events = _events([LINE] * 4, start=ID_BLOCK - 2 * (len(LINE) + 1))
    b = DocBuilder(make_parser("json"), "h", "svc", {})
    docs = b.build_many(id_hasher(FID), "/p.log", events, 0)
    assert [d.id for d in docs] == [doc_id(FID, off) for off, _, _, _ in events]
    assert all(d.source["event"]["id"] == d.id for d in docs)


def test_common_lines_are_final_and_raw_is_the_source() -> None:
    """A plain JSON line yields a final doc whose raw bytes are exactly its source."""
    b = DocBuilder(make_parser("json"), "h", "svc", {"env": "prod"})
    (doc,) = b.build_many(id_hasher(FID), "/p.log", _events([LINE]), 0)
    assert doc.final and doc.raw is not None
    assert orjson.loads(doc.raw) == doc.source
    assert doc.source["@timestamp"] == format_ts(doc.ts) == "2026-11-22T06:39:00.123Z"
    assert doc.source["log"]["level"] == "info" and doc.source["message"] == "done"


def test_percent_signs_in_the_path_and_fields_are_spliced_as_they_are() -> None:
    """A '%' in the file path or an input field (both are in the splice format) reaches raw as it is."""
    b = DocBuilder(make_parser("json"), "h", "svc", {"team": "100%s %d %%"})
    (doc,) = b.build_many(id_hasher(FID), "/var/log/50%d-%s%%.log", _events([LINE]), 0)
    assert doc.final and orjson.loads(doc.raw or b"") == doc.source
    assert doc.source["log"]["file"]["path"] == "/var/log/50%d-%s%%.log"
    assert doc.source["team"] == "100%s %d %%"


@pytest.mark.parametrize(
    ("line", "fields", "final"),
    [
        (b'{"time":"2026-11-22T06:39:00.123Z","http.status":200}', {}, True),  # expanded by the builder
        (b'{"time":"2026-11-22T06:39:00.123Z",\n"a":1}', {}, True),  # serialized again: one line
        (LINE, {"deploy.env": "x"}, False),  # a dotted key in the input's fields
    ],
)
def test_dotted_keys_and_newlines_are_final_only_when_the_store_need_not_reshape(
    line: bytes, fields: dict[str, Any], final: bool
) -> None:
    """A line's dotted keys are expanded and its doc serialized on one line (final); a dotted key in
    the input's fields is left to the store (not final), on both paths."""
    b = DocBuilder(make_parser("json"), "h", "svc", fields)
    (many,) = b.build_many(id_hasher(FID), "/p.log", _events([line]), 0)
    one = b.build(id_hasher(FID), "/p.log", 0, line, 0)
    assert many.final == one.final == final
    assert b"\n" not in (many.raw or b"")
    (again,) = b.build_many(id_hasher(FID), "/p.log", _events([line], 500), 0)
    assert again.final == final


def test_es_write_final_and_plain_docs_in_one_batch(es_store: Any) -> None:
    """Final, non-final and refused docs in one bulk: each is classified in place and stored once."""
    b = DocBuilder(make_parser("json"), "h", "svc", {})
    dotted = DocBuilder(make_parser("json"), "h", "svc", {"a.b": 1})
    (final,) = b.build_many(id_hasher(FID), "/p.log", _events([LINE]), 0)
    (other,) = dotted.build_many(
        id_hasher(FID), "/p.log", _events([b'{"time":"2026-11-22T06:39:01.000Z"}'], 900), 0
    )
    assert final.final and not other.final
    no_time = Doc("no-time", final.ts, {"message": "x"})
    results = es_store.write([final, no_time, other])
    assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.REJECTED, Outcome.CREATED]
    assert [r.outcome for r in es_store.write([final, other])] == [Outcome.DUPLICATE] * 2
    es_store.refresh()
    hits = {h.id: h for h in es_store.search("*")}
    assert set(hits) == {final.id, other.id}
    assert hits[other.id].source["a"] == {"b": 1}  # the non-final doc was reshaped by the store
    assert hits[final.id].source["event"]["id"] == final.id


def test_es_write_unless_all_created_is_none_only_when_all_created(es_store: Any) -> None:
    """None for a batch that was all created; per-doc results once any doc is a duplicate."""
    b = DocBuilder(make_parser("json"), "h", "svc", {})
    docs = b.build_many(id_hasher(FID), "/p.log", _events([LINE] * 3), 0)
    assert es_store.write_unless_all_created(docs[:2]) is None
    again = es_store.write_unless_all_created(docs)
    assert again is not None
    assert [r.outcome for r in again] == [Outcome.DUPLICATE, Outcome.DUPLICATE, Outcome.CREATED]


def test_the_shipper_fast_paths_are_store_capabilities(store: Any) -> None:
    """Both backends offer FastWrite; only Elasticsearch offers BodyWrite (the shipper's blocks)."""
    assert isinstance(store, FastWrite)
    assert isinstance(store, BodyWrite) is (store.name == "elasticsearch")


@pytest.mark.parametrize(
    "fields",
    [{}, {"process": {"pid": 1}}, {"host": {"hostname": "static"}}, {"log": "x"}],
    ids=["plain", "process-clash", "host-clash", "scalar-log"],
)
def test_moved_lines_build_the_docs_the_general_way_builds(fields: dict[str, Any]) -> None:
    """A line whose logger keys are only moved gets the general way's doc, byte for byte."""
    head = b'{"time":"2026-11-22T06:39:00.123Z","level":30,"msg":"m",'
    lines = [
        head + b'"name":"shop","hostname":"web-1","pid":42,"req_id":"a","status":200,"ms":1.5}',
        head + b'"name":"shop","hostname":"web-1","pid":"main","status":200}',  # pid of the wrong type
        head + b'"hostname":"web-1","name":"a","logger":"b"}',  # two keys to one field, no namespace
        head + b'"thread":7,"pid":42}',  # a deeper ECS path: the general way
        b'{"level":"info","name":"shop","seq":1}',  # no time, a named level
    ]
    b = DocBuilder(make_parser("json"), "h", "svc", fields)
    events = _events(lines)
    docs = b.build_many(id_hasher(FID), "/p.log", events, 0)
    general = [b._general(id_hasher(FID), "/p.log", off, line, 0, ()) for off, _, line, _ in events]
    assert [d.raw for d in docs] == [g.raw for g in general]
    assert [d.source for d in docs] == [g.source for g in general]
    assert {"req_id": "a", "status": 200, "ms": 1.5}.items() <= docs[0].source["svc"].items()


_BUNYAN = (
    b'{"time":"2026-11-22T06:39:00.123Z","level":30,"name":"shop","hostname":"web-1","pid":42,'
    b'"req_id":"a1","msg":"request completed","path":"/x","status":200,"latency_ms":35.38,"seq":1}'
)
# Lines of many shapes next to the bench's bunyan line: the ones the key-tuple plan builds and the
# ones it must leave to the other ways (each built both ways below).
_SHAPES = [
    _BUNYAN,
    _BUNYAN.replace(b'"seq":1', b'"seq":2'),  # the same key tuple again: the cached plan
    _BUNYAN.replace(b'"path":"/x"', b'"path":{"a":{"b":[1,{"c":null}]}}'),  # nested namespace value
    _BUNYAN.replace(b'"path":"/x"', b'"path":"say \\"hi\\", \\\\ ok"'),  # escaped quotes, backslash
    _BUNYAN.replace(b'"path":"/x"', b'"path":"a,\\"status\\":1"'),  # ,"key": inside a string
    _BUNYAN.replace(b",", b", ").replace(b'":', b'": '),  # white space after commas and colons
    _BUNYAN.replace(b'"/x"', '"caf\u00e9 \u2603 \U0001f600"'.encode()),  # unicode
    _BUNYAN.replace(b'"/x"', b'"\\u00e9\\/"'),  # escaped unicode, an escaped slash
    _BUNYAN.replace(b'"seq":1', b'"seq":1,"status":404'),  # a repeated key
    _BUNYAN.replace(b'"seq":1', b'"seq":1,"level":50'),  # a repeated meta key
    b'{"msg":"m","pid":42,"seq":1,"hostname":"web-1","level":40,"time":"2026-11-22T06:39:00.123Z"}',
    b'{"level":30,"time":"2026-11-22T06:39:00.123Z","msg":"m","name":"shop"}',  # no namespace keys
    _BUNYAN.replace(b'"pid":42', b'"pid":"main"'),  # a moved key of the wrong type
    _BUNYAN.replace(b'"level":30', b'"level":"info"'),  # a named level
    _BUNYAN.replace(b'"level":30', b'"level":35'),  # a custom level number
    _BUNYAN.replace(b'"level":30', b'"level":true'),
    _BUNYAN.replace(b'"level":30', b'"level":30.0'),
    _BUNYAN.replace(b"00.123Z", b"00.123+00:00"),  # a time that is not canonical
    _BUNYAN.replace(b'"time":"2026-11-22T06:39:00.123Z"', b'"time":1795329540123'),  # epoch ms
    _BUNYAN.replace(b'"time":"2026-11-22T06:39:00.123Z"', b'"time":null'),
    _BUNYAN.replace(b'"msg":"request completed"', b'"msg":["a"]'),  # a message that is no string
    _BUNYAN.replace(b'"msg"', b'"message"'),  # the line's own message
    _BUNYAN.replace(b'"time"', b'"@timestamp"'),
    _BUNYAN.replace(b'"time"', b'"ts"').replace(b'"seq":1', b'"time":"x"'),
    _BUNYAN.replace(b'"req_id"', b'"host"'),  # a key that meets an ECS object
    _BUNYAN.replace(b'"req_id"', b'"svc"'),  # a key named as the namespace
    _BUNYAN.replace(b'"req_id"', b'"a.b"'),  # a dotted key
    _BUNYAN.replace(b'"name"', b'"thread"'),  # a deeper ECS path
    _BUNYAN + b"  ",  # white space around the object
    b"\t" + _BUNYAN,
]


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"process": {"pid": 1}},
        {"host": {"hostname": "static"}},
        {"log": "x"},
        {"svc": {"a": 1}},
        {"message": "s"},
    ],
    ids=["plain", "process-clash", "host-clash", "scalar-log", "namespace-static", "static-message"],
)
def test_key_tuple_plans_build_the_docs_the_general_way_builds(fields: dict[str, Any]) -> None:
    """Lines of many shapes (the bench's, nested, escaped, spaced, unicode, repeated keys, other
    orders and types) get the general way's docs byte for byte, in build_many and bulk_many."""
    b = DocBuilder(make_parser("json"), "h", "svc", fields)
    events = _events(_SHAPES, start=ID_BLOCK - 300)  # the ids cross a block boundary too
    docs = b.build_many(id_hasher(FID), "/p.log", events, 0)
    general = [b._general(id_hasher(FID), "/p.log", off, line, 0, ()) for off, _, line, _ in events]
    assert [d.raw for d in docs] == [g.raw for g in general]
    assert [(d.id, d.ts, d.source, d.final) for d in docs] == [
        (g.id, g.ts, g.source, g.final) for g in general
    ]
    if not fields:  # the bench's line is built from its key tuple's plan (the case this guards)
        assert b._fast[tuple(orjson.loads(_BUNYAN))] is not None
        alone = DocBuilder(make_parser("json"), "h", "svc", fields)
        alone.build_many(id_hasher(FID), "/p.log", events[:2], 0)
        assert not alone._plans  # built by the key tuple's plan: line_meta's way never ran
        assert docs[0].source["svc"] == {
            "req_id": "a1",
            "path": "/x",
            "status": 200,
            "latency_ms": 35.38,
            "seq": 1,
        }
        assert docs[0].source["process"] == {"pid": 42}


_KEYS = ["time", "level", "msg", "name", "hostname", "pid", "req_id", "status", 'a,"b":', "é"]
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["2026-11-22T06:39:00.123Z", "2026-11-22T06:39:00Z", "web-1", 30, 50, 35]),
    st.dictionaries(st.sampled_from(["a", "status", "pid"]), st.integers(), max_size=2),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.lists(st.tuples(st.sampled_from(_KEYS), _VALUES), min_size=1, max_size=9),
            st.sampled_from([(",", ":"), (", ", ": "), (",", " : ")]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_line_is_built_as_the_general_way_builds_it(
    lines: list[tuple[list[tuple[str, Any]], tuple[str, str]]],
) -> None:
    """Any JSON object line (keys in any order, repeated, spaced, any value types) gets the general
    way's doc byte for byte, whichever plan builds it."""
    raw = []
    for pairs, (comma, colon) in lines:
        items = comma.join(json.dumps(k) + colon + json.dumps(v, ensure_ascii=False) for k, v in pairs)
        raw.append(("{" + items + "}").encode())
    raw.append(_BUNYAN)
    b = DocBuilder(make_parser("json"), "h", "svc", {})
    events = _events(raw)
    docs = b.build_many(id_hasher(FID), "/p.log", events, 0)
    general = [b._general(id_hasher(FID), "/p.log", off, line, 0, ()) for off, _, line, _ in events]
    assert [d.raw for d in docs] == [g.raw for g in general]
    assert [(d.ts, d.source) for d in docs] == [(g.ts, g.source) for g in general]
