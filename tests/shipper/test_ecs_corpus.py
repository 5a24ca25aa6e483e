"""Issue #18: real-shaped logs of 12+ kinds in ONE index: nothing rejected, every field ECS or namespaced.

The corpus is shipped by the real shipper (``once``) into one index on each backend (SQLite, the
Elasticsearch rig, a logwarden server). Every field of every stored doc must either be an ECS field
of the pinned ECS version (tests/shipper/ecs_fields.json) with a value of its ECS type, or sit under
the namespace of its input; on Elasticsearch the index mapping is checked the same way.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from logstore import Store
from logstore.config import StoreConfig
from logstore.ecs import OWN_FIELDS
from shipper.registry import Registry
from tests.shipper.harness import Harness

PINNED = json.loads((Path(__file__).parent / "ecs_fields.json").read_text())
ECS: dict[str, str] = PINNED["fields"]

T = "2026-12-02T10:00:0"  # + second digit + ".123Z"

# (file, input settings, lines, events the file makes). Every kind the issue names.
CORPUS: list[tuple[str, dict[str, Any], list[str], int]] = [
    (
        "bunyan.log",
        {"format": "json", "service": "shop"},
        [
            json.dumps(
                {
                    "name": "shop",
                    "hostname": "web-1",
                    "pid": 4242,
                    "level": 30,
                    "msg": "request completed",
                    "time": f"{T}1.123Z",
                    "v": 0,
                    "req_id": "a1",
                    "latency_ms": 12.5,
                    "status": 200,
                }
            ),
            json.dumps(
                {
                    "name": "shop",
                    "hostname": "web-1",
                    "pid": 4242,
                    "level": 50,
                    "msg": "checkout failed",
                    "time": f"{T}2.123Z",
                    "v": 0,
                    "err": {
                        "name": "TypeError",
                        "message": "x is undefined",
                        "stack": "TypeError: x is undefined\n    at checkout (/app/cart.js:10:5)",
                    },
                    "req": {
                        "method": "POST",
                        "url": "/checkout",
                        "headers": {"user-agent": "curl/8.4.0"},
                        "remoteAddress": "10.1.2.3",
                        "remotePort": 51000,
                    },
                    "res": {"statusCode": 500},
                    "user": {"id": 7, "plan": "gold"},
                }
            ),
        ],
        2,
    ),
    (
        "pino.log",
        {"format": "json", "service": "api"},
        [
            json.dumps(
                {
                    "level": 30,
                    "time": 1796205601123,
                    "pid": 7,
                    "hostname": "web-2",
                    "req": {
                        "id": 1,
                        "method": "GET",
                        "url": "/api/items?page=2",
                        "headers": {"host": "api.example.com", "user-agent": "Mozilla/5.0"},
                        "remoteAddress": "192.168.1.20",
                        "remotePort": 40000,
                    },
                    "res": {"statusCode": 200, "headers": {"content-type": "application/json"}},
                    "responseTime": 4.5,
                    "msg": "request completed",
                }
            ),
            json.dumps(
                {
                    "level": 40,
                    "time": 1796205602123,
                    "pid": 7,
                    "hostname": "web-2",
                    "msg": "slow query",
                    "user": "bob",
                    "error": "timeout",
                    "query_ms": 950,
                }
            ),
        ],
        2,
    ),
    (
        "winston.log",
        {"format": "json", "service": "users"},
        [
            json.dumps(
                {
                    "level": "info",
                    "message": "user logged in",
                    "service": "user-service",
                    "timestamp": f"{T}3.123Z",
                    "user": {"name": "alice", "role": "admin"},
                }
            ),
            json.dumps(
                {
                    "level": "error",
                    "message": "boom",
                    "stack": "Error: boom\n    at main (/srv/x.js:1:1)",
                    "timestamp": f"{T}4.123Z",
                    "error": {"code": "E_BOOM", "retryable": False},
                }
            ),
            json.dumps(
                {"level": "warn", "message": "level words", "timestamp": f"{T}5.123Z", "level_no": 40}
            ),
        ],
        3,
    ),
    (
        "structlog.log",
        {"format": "json", "service": "auth"},
        [
            json.dumps(
                {
                    "event": "user.login",
                    "level": "info",
                    "logger": "auth.views",
                    "timestamp": f"{T}1.500Z",
                    "user_id": 5,
                    "event_id": "x",
                }
            ),
            json.dumps(
                {
                    "event": "token check failed",
                    "level": "error",
                    "logger": "auth.tokens",
                    "timestamp": f"{T}2.500Z",
                    "exception": 'Traceback (most recent call last):\n  File "t.py", line 3, in check\n'
                    "ValueError: bad signature",
                }
            ),
        ],
        2,
    ),
    (
        "pjl.log",
        {"format": "json", "service": "billing"},
        [
            json.dumps(
                {
                    "asctime": "2026-12-02 10:00:03,123",
                    "name": "billing.invoices",
                    "levelname": "WARNING",
                    "message": "invoice late",
                    "process": 1234,
                    "processName": "MainProcess",
                    "thread": 140001,
                    "threadName": "MainThread",
                    "filename": "invoices.py",
                    "funcName": "send",
                    "lineno": 88,
                    "module": "invoices",
                    "invoice": 991,
                }
            ),
            json.dumps(
                {
                    "asctime": "2026-12-02 10:00:04,123",
                    "name": "billing",
                    "levelname": "ERROR",
                    "message": "charge failed",
                    "exc_info": "Traceback (most recent call last):\n"
                    "  File \"pay.py\", line 9, in charge\nKeyError: 'card'",
                }
            ),
        ],
        2,
    ),
    (
        "ecs-python.log",
        {"format": "json", "service": "orders-py"},
        [
            json.dumps(
                {
                    "@timestamp": f"{T}6.123Z",
                    "log.level": "info",
                    "message": "order placed",
                    "ecs.version": "1.6.0",
                    "log": {
                        "logger": "orders",
                        "origin": {"file": {"line": 12, "name": "orders.py"}, "function": "place"},
                        "original": "x",
                    },
                    "process": {"name": "MainProcess", "pid": 42, "thread": {"id": 1, "name": "MainThread"}},
                    "service": {"name": "orders"},
                    "trace": {"id": "abc"},
                    "order_total": 12.5,
                }
            ),
        ],
        1,
    ),
    (
        "ecs-node.log",
        {"format": "json", "service": "orders-node"},
        [
            json.dumps(
                {
                    "log.level": "info",
                    "@timestamp": f"{T}7.123Z",
                    "process.pid": 77,
                    "host": {"hostname": "node-1"},
                    "ecs.version": "8.10.0",
                    "service.name": "checkout",
                    "event.dataset": "checkout.log",
                    "message": "handled request",
                    "http": {"request": {"method": "GET"}, "response": {"status_code": 404}},
                    "url": {"path": "/cart", "full": "http://shop/cart"},
                    "user_agent": {"original": "curl/8.4.0"},
                    "client": {"ip": "10.9.9.9"},
                }
            ),
        ],
        1,
    ),
    (
        "nginx.log",
        {"format": "nginx", "service": "nginx"},
        [
            '203.0.113.7 - bob [02/Dec/2026:10:00:01 +0000] "GET /api/cart?id=1 HTTP/1.1" 502 157 '
            '"https://shop.example.com/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 '
            '(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36" 0.250',
            '10.0.0.5 - - [02/Dec/2026:10:00:02 +0000] "GET /healthz HTTP/1.1" 200 2 "-" "kube-probe/1.29"',
            '2001:db8::1 - - [02/Dec/2026:10:00:03 +0000] "POST /login HTTP/2.0" 302 0 "-" "curl/8.4.0"',
        ],
        3,
    ),
    (
        "nginx-json.log",
        {"format": "nginx", "service": "edge"},
        [
            json.dumps(
                {
                    "time_iso8601": f"{T}4+00:00",
                    "remote_addr": "10.20.30.40",
                    "remote_user": "",
                    "request": "GET /img/a.png HTTP/1.1",
                    "status": "200",
                    "body_bytes_sent": "5120",
                    "http_referer": "",
                    "http_user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac "
                    "OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                    "request_time": "0.012",
                    "upstream_addr": "127.0.0.1:8080",
                    "host": "cdn.example.com",
                    "request_id": "f00",
                }
            ),
        ],
        1,
    ),
    (
        "logfmt.log",
        {"format": "logfmt", "service": "worker"},
        [
            f'time={T}5.123Z level=info msg="job done" job=resize duration=35ms pid=99 hostname=w-1',
            f'time={T}6.123Z level=error msg="job failed" job=resize error="disk full" user=carol',
        ],
        2,
    ),
    (
        "traceback.log",
        {"format": "plain", "service": "pyapp", "multiline": {"start": r"^\d{4}-\d{2}-\d{2}"}},
        [
            "2026-12-02 10:00:01,123 ERROR app: request failed",
            "Traceback (most recent call last):",
            '  File "/srv/app.py", line 10, in handle',
            "ZeroDivisionError: division by zero",
            "2026-12-02 10:00:02,000 INFO app: recovered",
        ],
        2,
    ),
    (
        "syslog.log",
        {"format": "plain", "service": "system"},
        [
            "Dec  2 10:00:01 web-1 sshd[812]: Accepted publickey for deploy from 10.0.0.9 port 50022",
            "Dec  2 10:00:02 web-1 CRON[901]: (root) CMD (run-parts /etc/cron.hourly)",
        ],
        2,
    ),
    (
        "java.log",
        {"format": "plain", "service": "jvm", "multiline": {"start": r"^\d{4}-\d{2}-\d{2}"}},
        [
            "2026-12-02 10:00:03.456 ERROR [main] c.e.Service - call failed",
            "java.lang.IllegalStateException: not ready",
            "\tat com.example.Service.call(Service.java:42)",
            "\tat com.example.Main.main(Main.java:7)",
            "Caused by: java.io.IOException: refused",
            "\t... 2 more",
        ],
        1,
    ),
]
NAMESPACES = {settings["service"] for _, settings, _, _ in CORPUS}
EVENTS = sum(n for *_, n in CORPUS)

_KEYWORDS = {"keyword", "constant_keyword", "wildcard", "match_only_text", "text"}


def _value_fits(kind: str, value: Any) -> bool:
    """Whether a JSON value has the ECS type ``kind`` (as the shipper must write it)."""
    if isinstance(value, list):
        return all(_value_fits(kind, v) for v in value)
    if kind in _KEYWORDS or kind == "object:keyword":
        return isinstance(value, str)
    if kind in ("long", "integer"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in ("float", "double", "scaled_float"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "date":
        return isinstance(value, str) and value.endswith("Z") and value[10] == "T"
    if kind == "ip":
        return isinstance(value, str) and bool(ipaddress.ip_address(value))
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "geo_point":
        return isinstance(value, dict) and {"lat", "lon"} <= value.keys()
    return False


def _leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict) and not (path in ECS and ECS[path] in ("geo_point", "object:keyword")):
        out: list[tuple[str, Any]] = []
        for key, child in value.items():
            out.extend(_leaves(child, f"{path}.{key}" if path else key))
        return out
    return [(path, value)]


def strays(source: dict[str, Any]) -> list[str]:
    """The doc's fields that are neither ECS (with the ECS type) nor in an input's namespace."""
    bad = []
    for path, value in _leaves(source):
        if path.split(".")[0] in NAMESPACES:
            continue
        parent = path.rsplit(".", 1)[0]
        kind = ECS.get(path) or (ECS.get(parent) if ECS.get(parent) == "object:keyword" else None)
        if path in OWN_FIELDS:
            kind = "long"
        if kind is None or not _value_fits(kind, value):
            bad.append(f"{path}={value!r} (ECS: {kind})")
    return bad


# The mapping's type for an ECS type: logwarden maps message as text and match_only_text fields as
# keyword (every field but message is queried exactly on both backends: logstore/ecs.py).
_MAPPED = {"match_only_text": {"text", "keyword", "match_only_text"}, "constant_keyword": {"keyword"}}


def mapping_strays(properties: dict[str, Any], path: str = "") -> list[str]:
    """The index mapping's fields that are neither ECS (with a matching type) nor under a namespace."""
    bad = []
    for name, spec in properties.items():
        full = f"{path}.{name}" if path else name
        if full.split(".")[0] in NAMESPACES:
            continue
        if "properties" in spec and ECS.get(full) != "object:keyword":
            bad.extend(mapping_strays(spec["properties"], full))
            continue
        kind = "long" if full in OWN_FIELDS else ECS.get(full)
        mapped = spec.get("type", "object")
        if kind is None or mapped not in _MAPPED.get(kind, {kind.split(":")[0]}):
            bad.append(f"{full}: mapped {mapped}, ECS {kind}")
    return bad


def _one_index(config: StoreConfig) -> StoreConfig:
    """The rig's per-test namespace, with every doc in one index (no service, no day in the name)."""
    es = config.elasticsearch
    if es is None:
        return config
    prefix = es.index.split("-{", 1)[0]
    return StoreConfig(elasticsearch=es.model_copy(update={"index": f"{prefix}-corpus"}))


def _ship_corpus(tmp_path: Path, config: StoreConfig) -> Harness:
    inputs = []
    for name, settings, lines, _ in CORPUS:
        path = tmp_path / "logs" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        inputs.append({"paths": [str(path)], **settings})
    h = Harness(tmp_path, config, inputs=inputs)
    h.once()
    h.store.refresh()
    return h


@pytest.fixture(params=["sqlite", "elasticsearch", "server"])
def corpus_store_config(request: pytest.FixtureRequest) -> StoreConfig:
    """SQLite, the Elasticsearch rig (one index) and a logwarden server."""
    config: StoreConfig = request.getfixturevalue(
        f"{request.param}_store_config".replace("elasticsearch", "es")
    )
    return _one_index(config)


def test_corpus_in_one_index_is_all_accepted_and_every_field_is_ecs_or_namespaced(
    tmp_path: Path, corpus_store_config: StoreConfig
) -> None:
    """12+ kinds of real-shaped logs in one index: 0 rejected, 0 dead letters, every event stored, and
    every field of every doc ECS with its ECS type or under its input's namespace."""
    h = _ship_corpus(tmp_path, corpus_store_config)
    try:
        reg = Registry(h.config.shipper.registry)
        try:
            dead = reg.dlq_list()
        finally:
            reg.close()
        assert [d.reason for d in dead] == []
        hits = list(h.store.search("*", limit=1000))
        assert len(hits) == EVENTS
        bad = {h.source["log"]["file"]["path"].rsplit("/", 1)[-1]: strays(h.source) for h in hits}
        assert {k: v for k, v in bad.items() if v} == {}
        _check_queries(h.store)
        if corpus_store_config.elasticsearch is not None:
            store: Any = h.store
            index = corpus_store_config.elasticsearch.index
            body = store.client.perform_request(
                "GET", f"/{index}/_mapping", headers={"accept": "application/json"}
            ).body
            assert mapping_strays(body[index]["mappings"]["properties"]) == []
    finally:
        h.close()


def _check_queries(store: Store) -> None:
    """The same answers on every backend: CIDR on source.ip, levels, namespaced numbers, ECS names."""
    assert store.count('source.ip:"10.0.0.0/8"') == 2  # nginx 10.0.0.5 and nginx-json 10.20.30.40
    assert store.count('source.ip:"2001:db8::/32"') == 1
    assert store.count("source.ip:203.0.113.7") == 1
    assert store.count('client.ip:"10.0.0.0/8"') == 2  # bunyan's req.remoteAddress, ecs-node's client.ip
    # bunyan, winston, structlog, python-json-logger, logfmt, and the plain Python traceback and Java
    # stack trace (their first line's level word; plain text time/level detection)
    assert store.count("log.level:error") == 7
    assert store.count("service.name:pyapp AND NOT tags:time_from_read") == 2  # their own times
    assert store.count("shop.latency_ms:>10") == 1
    assert store.count("service.name:user-service") == 1  # winston's own service wins over the input's
    assert store.count("service.name:checkout AND event.dataset:checkout.log") == 1
    assert store.count("user.name:bob") == 2  # nginx's $remote_user and pino's "user": "bob"
    assert store.count("error.type:ValueError") == 1 and store.count("error.type:KeyError") == 1
    assert store.count("user_agent.name:Chrome AND user_agent.os.name:Windows") == 1
    assert store.count("http.response.status_code:>=500") == 2
    assert store.count("_exists_:msg") == 0  # msg became message, once
