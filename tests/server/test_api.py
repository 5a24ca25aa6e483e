"""The Store API over HTTP (server/api.py, server/state.py), spoken raw: the NDJSON search stream, the
error answers a client gets, the token, the OpenAPI description, and the alert state's round trip."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import urllib3

from alerter.state.base import Instance, RuleMeta
from logstore import Doc, get_backend, open_store
from logstore.config import StoreConfig
from logstore.types import format_ts, ms_to_datetime
from tests.server.harness import Running, serve, server_config

TOKEN = "api-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
V1 = "/_logwarden/v1"
BASE_MS = 1_767_225_600_000


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with serve(server_config(tmp_path, {"auth": {"tokens": [TOKEN]}})) as srv:
        yield srv


@pytest.fixture
def store_config(running: Running) -> StoreConfig:
    return StoreConfig.model_validate({"server": {"url": running.url, "token": TOKEN}})


def _post(url: str, body: Any, headers: dict[str, str] | None = None, raw: bytes | None = None) -> Any:
    data = raw if raw is not None else orjson.dumps(body)
    return urllib3.request("POST", url, body=data, headers={**AUTH, **(headers or {})}, timeout=10)


def _write(config: StoreConfig, n: int) -> list[Doc]:
    docs = [
        Doc(
            f"d{i:05d}",
            BASE_MS + i,
            {"@timestamp": format_ts(BASE_MS + i), "message": f"event {i}", "pad": "x" * 80},
        )
        for i in range(n)
    ]
    store = open_store(config)
    try:
        assert store.write_unless_all_created(docs) is None  # type: ignore[attr-defined]
    finally:
        store.close()
    return docs


def test_search_streams_hit_lines_in_chunks_and_ends_with_the_count(
    running: Running, store_config: StoreConfig
) -> None:
    """3000 hits arrive as NDJSON in several chunks: {ts, id, source} per line, then {"end":{"hits":3000}}."""
    docs = _write(store_config, 3000)
    resp = urllib3.request(
        "POST", running.url + f"{V1}/search", body=b"{}", headers=AUTH, preload_content=False, timeout=10
    )
    assert resp.status == 200 and resp.headers["content-type"].startswith("application/x-ndjson")
    chunks = list(resp.stream(1 << 20))
    assert len(chunks) > 1  # streamed, not built whole
    lines = b"".join(chunks).splitlines()
    assert orjson.loads(lines[-1]) == {"end": {"hits": 3000}}
    first = orjson.loads(lines[0])
    assert list(first) == ["ts", "id", "source"]
    assert (first["ts"], first["id"], first["source"]["message"]) == (docs[0].ts, "d00000", "event 0")
    assert [orjson.loads(line)["id"] for line in lines[:-1]] == [d.id for d in docs]


def test_search_takes_order_limit_window_and_cursor(running: Running, store_config: StoreConfig) -> None:
    """order, limit, start/end (ISO 8601) and after (a cursor) select the same hits the store would."""
    _write(store_config, 10)
    body = {
        "order": "desc",
        "limit": 3,
        "start": ms_to_datetime(BASE_MS + 2).isoformat(),
        "end": ms_to_datetime(BASE_MS + 9).isoformat(),
        "after": {"ts": BASE_MS + 8, "id": "d00008"},
    }
    lines = _post(running.url + f"{V1}/search", body).data.splitlines()
    assert [orjson.loads(line)["id"] for line in lines[:-1]] == ["d00007", "d00006", "d00005"]


@pytest.mark.parametrize(
    ("route", "body", "words"),
    [
        ("search", {"limit": "many"}, "limit: input should be a valid integer"),
        ("search", {"order": "sideways"}, "order: input should be 'asc' or 'desc'"),
        ("count", {"start": "yesterday"}, "start: input should be a valid datetime"),
        ("count", {"querry": "x"}, "querry: unknown key"),
        ("aggregate", {"requests": [{"query": ""}]}, "requests.0.start: field required"),
        ("search", None, "the body is not JSON"),
        (
            "notify-state/claim",
            {"owner": "a", "now": "2026-01-01T00:00:00+00:00", "lease_seconds": 60},
            "/_logwarden/v1/notify-state/claim: missing key 'slot'",
        ),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field(running: Running, route: str, body: Any, words: str) -> None:
    """A body that does not fit the route: 400 bad_request, one line naming the field and why."""
    resp = _post(running.url + f"{V1}/{route}", body, raw=b"{nope" if body is None else None)
    error = orjson.loads(resp.data)["error"]
    assert resp.status == 400 and error["type"] == "bad_request"
    assert words in error["reason"] and "\n" not in error["reason"]


def test_a_query_error_is_a_400_with_the_query_and_its_column(running: Running) -> None:
    """A bad query: 400 query_error carrying the reason, the query and the column logq's caret needs."""
    resp = _post(running.url + f"{V1}/count", {"query": "status:(500 OR"})
    error = orjson.loads(resp.data)["error"]
    assert resp.status == 400 and error["type"] == "query_error"
    assert error["query"] == "status:(500 OR" and error["column"] == 14
    assert error["message"].startswith("query error at column 15: ")


def test_every_api_route_needs_the_token(running: Running) -> None:
    """Without the token every /_logwarden/v1 route answers 401, the search stream included."""
    for path in (f"{V1}/search", f"{V1}/health", f"{V1}/notify-state/claim", f"{V1}/openapi.json"):
        resp = urllib3.request("POST" if "health" not in path else "GET", running.url + path, timeout=10)
        assert resp.status == 401, path


# A minimal structure of an OpenAPI 3.1 document: enough to catch a malformed one.
_OPENAPI = {
    "type": "object",
    "required": ["openapi", "info", "paths", "components"],
    "properties": {
        "openapi": {"type": "string", "pattern": r"^3\.1\.\d+$"},
        "info": {"type": "object", "required": ["title", "version"]},
        "paths": {
            "type": "object",
            "propertyNames": {"pattern": "^/"},
            "additionalProperties": {
                "type": "object",
                "propertyNames": {"enum": ["get", "post", "put", "delete"]},
                "additionalProperties": {
                    "type": "object",
                    "required": ["summary", "responses"],
                    "properties": {
                        "responses": {
                            "type": "object",
                            "propertyNames": {"pattern": r"^[1-5]\d\d$"},
                            "additionalProperties": {"type": "object", "required": ["description"]},
                        },
                        "requestBody": {"type": "object", "required": ["content"]},
                    },
                },
            },
        },
    },
}


def test_openapi_describes_every_route_and_is_well_formed(running: Running) -> None:
    """openapi.json is OpenAPI 3.1 in shape, every $ref resolves, and each route of server.api and
    server.state is there with its method."""
    from server import api

    resp = urllib3.request("GET", running.url + f"{V1}/openapi.json", headers=AUTH, timeout=10)
    doc = orjson.loads(resp.data)
    jsonschema.validate(doc, _OPENAPI)
    schemas = doc["components"]["schemas"]
    for ref in re.findall(r'"\$ref":"#/components/schemas/([^"]+)"', resp.data.decode()):
        assert ref in schemas, ref
    described = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = {(r.path, m) for r in api.routes() for m in (r.methods or ()) if m != "HEAD"}  # type: ignore[attr-defined]
    assert served <= described, served - described
    assert described <= served, described - served


def test_alert_state_round_trips_through_the_server(store_config: StoreConfig) -> None:
    """Instances and rule records saved by one alerter load back equal in another; delete forgets them."""
    backend = get_backend(store_config.backend)
    a, b = open_store(store_config), open_store(store_config)
    try:
        mine, theirs = (
            backend.open_alert_state(a, store_config.settings),
            backend.open_alert_state(b, store_config.settings),
        )
        t = ms_to_datetime(BASE_MS)
        inst = Instance("r1", "fp1", {"host.name": "web1"}, "firing", 62.0, t, None, 3, t, t, t)
        meta = RuleMeta("r1", failures=1, last_error="boom", last_eval=t, extra={"k": [1, 2]})
        mine.save([inst], [meta])
        assert theirs.load() == ([inst], [meta])
        theirs.delete([("r1", "fp1")])
        assert mine.load() == ([], [meta])
    finally:
        a.close()
        b.close()
