"""Parsers: known shapes map to the right fields; any bytes at all yield a doc, never an exception."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logstore.types import format_ts
from shipper.build import DocBuilder, doc_id, id_hasher
from shipper.parsers import PARSERS, make_parser
from shipper.parsers._time import format_ms, parse_any, parse_clf, parse_iso

FID = "0123456789abcdef"


def _build(fmt: str, line: bytes, fields: dict[str, object] | None = None) -> dict[str, object]:
    b = DocBuilder(make_parser(fmt), "host1", "svc", dict(fields or {}))
    doc = b.build(id_hasher(FID), "/var/log/x.log", 42, line, 1_700_000_000_000)
    assert doc.raw is not None
    assert orjson.loads(doc.raw) == doc.source, "raw must be the source, serialized"
    assert doc.id == doc_id(FID, 42) == doc.source["event"]["id"]
    assert doc.source["@timestamp"] == format_ts(doc.ts)
    return doc.source


def test_json_bunyan_line() -> None:
    """bunyan: numeric level, msg and ISO time map to log.level, message and @timestamp, name to
    log.logger; the err fields that are not ECS go to the namespace (the service's name)."""
    src = _build(
        "json", b'{"name":"shop","level":50,"msg":"boom","time":"2026-11-22T06:39:00.123Z","err":{"x":1}}'
    )
    assert src["@timestamp"] == "2026-11-22T06:39:00.123Z"
    assert src["message"] == "boom"
    assert src["log"] == {
        "level": "error",
        "offset": 42,
        "file": {"path": "/var/log/x.log"},
        "logger": "shop",
    }
    assert src["svc"] == {"err": {"x": 1}} and "name" not in src and "msg" not in src
    assert src["host"] == {"name": "host1"} and src["service"] == {"name": "svc"}


def test_json_pino_epoch_ms_and_winston_message() -> None:
    """pino epoch-ms time and winston's own string message and level name are understood."""
    src = _build("json", b'{"level":30,"time":1700000000123,"msg":"hi"}')
    assert src["@timestamp"] == "2023-11-14T22:13:20.123Z" and src["log"]["level"] == "info"  # type: ignore[index]
    src = _build("json", b'{"level":"WARN","message":"careful","timestamp":"2026-01-02T03:04:05+01:00"}')
    assert src["message"] == "careful" and src["log"]["level"] == "warn"  # type: ignore[index]
    assert src["@timestamp"] == "2026-01-02T02:04:05.000Z"


def test_json_epoch_seconds_float() -> None:
    """Epoch seconds with a fraction become milliseconds."""
    assert _build("json", b'{"ts": 1700000000.5, "msg": "x"}')["@timestamp"] == "2023-11-14T22:13:20.500Z"


def test_json_without_time_uses_read_time() -> None:
    """A line with no time of its own gets the read time."""
    assert _build("json", b'{"msg":"x"}')["@timestamp"] == format_ts(1_700_000_000_000)


def test_invalid_json_is_shipped_tagged() -> None:
    """A line that is not JSON is shipped with its text as message and a parse_error tag."""
    src = _build("json", b"not { json")
    assert src["message"] == "not { json" and src["tags"] == ["parse_error"]
    src = _build("json", b"[1,2]")
    assert src["tags"] == ["parse_error"]


def test_invalid_utf8_is_replaced_and_tagged() -> None:
    """Bytes that are not UTF-8 are replaced and tagged, and JSON inside is still parsed."""
    src = _build("json", b'{"msg":"caf\xe9"}')
    assert src["message"] == "caf\ufffd" and src["tags"] == ["invalid_utf8"]
    src = _build("plain", b"caf\xe9")
    assert src["message"] == "caf\ufffd" and src["tags"] == ["invalid_utf8", "time_from_read"]


def test_colliding_fields_are_kept_in_the_namespace() -> None:
    """A line's own host (a string where ECS has an object) goes to the namespace; its log.logger is
    ECS and merges with ours; its @timestamp is the doc's, normalized."""
    src = _build(
        "json", b'{"host":"web1","log":{"logger":"a"},"@timestamp":"2026-11-22T06:39:00Z","msg":"m"}'
    )
    assert src["host"] == {"name": "host1"} and src["svc"] == {"host": "web1"}
    assert src["log"]["logger"] == "a" and src["log"]["offset"] == 42  # type: ignore[index]
    assert src["@timestamp"] == "2026-11-22T06:39:00.000Z"


def test_input_fields_added() -> None:
    """An input's fields are added to every doc."""
    assert _build("plain", b"hello", {"env": "prod", "team": {"name": "a"}})["team"] == {"name": "a"}


def test_logfmt_line() -> None:
    """logfmt: msg, level and time are mapped (and not kept twice); the other pairs go to the
    namespace; quoted values unescape."""
    src = _build("logfmt", b'time=2026-11-22T06:39:00Z level=ERROR msg="db \\"down\\"" retries=3 flag')
    assert src["message"] == 'db "down"' and src["log"]["level"] == "error"  # type: ignore[index]
    assert src["@timestamp"] == "2026-11-22T06:39:00.000Z"
    assert src["svc"] == {"retries": "3", "flag": True}


def test_logfmt_garbage_is_tagged() -> None:
    """A line with no key=value pair is a parse_error with the text as message."""
    assert _build("logfmt", b'"just a quote')["tags"] == ["parse_error"]


def test_nginx_combined_with_request_time() -> None:
    """nginx combined (+ $request_time) maps to ECS names, numbers as numbers, duration in ns."""
    line = (
        b'203.0.113.7 - bob [22/Nov/2026:06:39:00 +0000] "GET /api/cart?id=1 HTTP/1.1" 502 157 '
        b'"https://shop.example.com/" "Mozilla/5.0 (X11)" 0.250'
    )
    src = _build("nginx", line)
    assert src["source"] == {"ip": "203.0.113.7"} and src["user"] == {"name": "bob"}
    assert src["@timestamp"] == "2026-11-22T06:39:00.000Z"
    assert src["http"] == {
        "request": {"method": "GET", "referrer": "https://shop.example.com/"},
        "version": "1.1",
        "response": {"status_code": 502, "body": {"bytes": 157}},
    }
    assert src["url"] == {"original": "/api/cart?id=1"}
    assert src["user_agent"] == {"original": "Mozilla/5.0 (X11)"}
    assert src["event"]["duration"] == 250_000_000  # type: ignore[index]
    assert src["message"] == line.decode()


def test_nginx_json_escape_format() -> None:
    """nginx escape=json lines map the usual variables to the same ECS names; others go to the namespace."""
    line = (
        b'{"time_local":"22/Nov/2026:06:39:00 +0000","remote_addr":"198.51.100.2","remote_user":"",'
        b'"request":"POST /checkout HTTP/2.0","status":200,"body_bytes_sent":"12","http_referer":"",'
        b'"http_user_agent":"curl/8","request_time":0.004,"upstream":"10.0.0.1:80"}'
    )
    src = _build("nginx", line)
    assert src["http"]["response"]["status_code"] == 200  # type: ignore[index]
    assert src["http"]["response"]["body"]["bytes"] == 12  # type: ignore[index]
    assert src["http"]["request"]["method"] == "POST"  # type: ignore[index]
    assert src["url"]["original"] == "/checkout" and "user" not in src  # type: ignore[index]
    assert src["event"]["duration"] == 4_000_000 and src["svc"] == {"upstream": "10.0.0.1:80"}  # type: ignore[index]


def test_nginx_other_line_is_tagged() -> None:
    """A line in neither nginx shape is a parse_error with the line as message."""
    assert _build("nginx", b"2026/11/22 06:39:00 [error] 12#12: oops")["tags"] == ["parse_error"]


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-11-22T06:39:00.123Z", 1795329540123),
        ("2026-11-22T06:39:00Z", 1795329540000),
        ("2026-11-22 06:39:00", 1795329540000),
        ("2026-11-22T07:39:00.5+01:00", 1795329540500),
        ("yesterday", None),
    ],
)
def test_iso_times(text: str, ms: int | None) -> None:
    """ISO 8601 variants parse to epoch ms (naive = UTC); other text does not."""
    assert parse_iso(text) == ms
    assert parse_iso(text) == ms  # and the per-second cache answers the same


def test_time_helpers_edges() -> None:
    """Epoch units are told apart by size; bogus values are refused; formatting matches logstore."""
    assert parse_any(1700000000) == 1700000000000
    assert parse_any("1700000000123") == 1700000000123
    assert parse_any(True) is None and parse_any(-5) is None and parse_any(1e30) is None
    assert parse_clf("22/Nov/2026:07:39:00 +0100") == 1795329540000
    assert parse_clf("32/Foo/2026:07:39:00 +0100") is None
    assert format_ms(1795329540123) == format_ts(1795329540123)


@settings(max_examples=300, deadline=None)
@given(line=st.binary(max_size=300), fmt=st.sampled_from(sorted(PARSERS)))
def test_any_bytes_yield_a_doc(line: bytes, fmt: str) -> None:
    """Whatever the bytes, every parser yields a serializable doc with message or fields, never raises."""
    line = line.replace(b"\n", b"")
    src = _build(fmt, line)
    assert "message" in src


@settings(max_examples=200, deadline=None)
@given(
    obj=st.dictionaries(
        st.text(max_size=8),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers(-(2**63), 2**63 - 1)
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
            ),
            max_leaves=10,
        ),
        max_size=6,
    )
)
def test_any_json_object_keeps_its_fields(obj: dict[str, object]) -> None:
    """Any JSON object line becomes a doc that keeps each of its own fields that is no ECS or logger
    name, as it was, in the namespace."""
    from shipper.ecs import LOGGER_KEYS, TOP_NAMES

    src = _build("json", orjson.dumps(obj))
    special = {
        "time",
        "timestamp",
        "ts",
        "asctime",
        "created",
        "level",
        "levelname",
        "severity",
        "lvl",
        "msg",
    }
    for key, value in obj.items():
        if key not in TOP_NAMES and key not in LOGGER_KEYS and key not in special and "." not in key:
            assert src["svc"][key] == value  # type: ignore[index]


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_line_in_every_format(text: str) -> None:
    """Any UTF-8 text line parses in every format without raising."""
    line = text.replace("\n", " ").encode()
    for fmt in PARSERS:
        assert "message" in _build(fmt, line)


_line_strategy = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda d, t, lv, m: orjson.dumps({**d, **t, **lv, **m}),
        st.dictionaries(
            st.sampled_from(["a", "b", "msg", "severity", "host", "n", "a.b"]),  # a.b: not final
            st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5),
            max_size=3,
        ),
        st.sampled_from(
            [
                {},
                {"time": "2026-11-22T06:39:00.123Z"},
                {"time": "2026-11-22T06:39:00.12Z"},
                {"ts": 1700000000},
                {"timestamp": "2026-11-22T06:39:01.000Z"},
                {"time": None},
            ]
        ),
        st.sampled_from([{}, {"level": 30}, {"level": 35}, {"level": "WARN"}, {"level": True}, {"lvl": "x"}]),
        st.sampled_from([{}, {"message": "m"}, {"message": 5}, {"msg": "hi"}, {"msg": 3}]),
    ),
)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_line_strategy, max_size=8), day=st.integers(0, 3))
def test_bulk_many_equals_bulk_lines_of_build_many(lines: list[bytes], day: int) -> None:
    """The build processes' path (body lines without docs) is byte for byte the docs' bulk body."""
    from logstore.elastic import IndexNamer, bulk_lines

    b = DocBuilder(make_parser("json"), "h", "svc", {"env": "x"})
    namer = IndexNamer("logs-{service.name}-%Y.%m.%d")
    events = [(i * 100, i * 100 + 50, line, ()) for i, line in enumerate(lines)]
    now = 1_700_000_000_000 + day * 86_400_000
    got = b.bulk_many(id_hasher(FID), "/p.log", events, now, namer)
    parts, local = bulk_lines(namer, b.build_many(id_hasher(FID), "/p.log", events, now))
    assert got is not None and not local
    assert b"\n".join(got) == b"\n".join(parts)


def test_bulk_many_defers_to_the_docs_when_the_index_name_needs_a_line_field() -> None:
    """An index pattern on a field of the line itself cannot be named from the input's fields: None."""
    from logstore.elastic import IndexNamer

    b = DocBuilder(make_parser("json"), "h", "svc", {})
    events = [(0, 10, b'{"app":"x","msg":"m"}', ())]
    assert b.bulk_many(id_hasher(FID), "/p.log", events, 0, IndexNamer("logs-{app}-%Y.%m.%d")) is None
    assert b.bulk_many(id_hasher(FID), "/p.log", events, 0, IndexNamer("logs-{service.name}")) is not None
