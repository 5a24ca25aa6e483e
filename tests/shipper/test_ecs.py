"""Fields that never collide (issue #18): known loggers -> ECS, everything else in the input's namespace.

The defects the issue names each have a test here that fails on the code before the change: mixed
bunyan/winston levels in one Elasticsearch index, ``user``/``error`` strings against ECS objects,
``msg`` kept beside ``message``, and the app's ``service.name`` replaced by the input's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from logstore import Store
from logstore.config import StoreConfig
from logstore.ecs import ECS_VERSION, FIELDS, IP_FIELDS, OWN_FIELDS
from logstore.query import QueryError
from logstore.types import Doc
from shipper.build import DocBuilder, id_hasher
from shipper.config import InputConfig
from shipper.parsers import make_parser
from shipper.parsers.nginx import _UA_CACHE, user_agent
from shipper.registry import Registry
from tests.shipper.harness import Harness

PINNED = json.loads((Path(__file__).parent / "ecs_fields.json").read_text())


def _doc(line: bytes | str, fmt: str = "json", **options: Any) -> dict[str, Any]:
    raw = line.encode() if isinstance(line, str) else line
    b = DocBuilder(make_parser(fmt), "h", "svc", {}, **options)
    doc = b.build(id_hasher("f"), "/p.log", 0, raw, 1_700_000_000_000)
    (many,) = b.build_many(id_hasher("f"), "/p.log", [(0, len(raw) + 1, raw, ())], 1_700_000_000_000)
    assert many.source == doc.source and orjson.loads(doc.raw or b"") == doc.source  # both paths agree
    return doc.source


def test_the_ecs_table_is_pinned_ecs_with_its_types() -> None:
    """Every field logwarden keeps as ECS is in the pinned ECS field list, with ECS's own type."""
    assert PINNED["ecs_version"] == ECS_VERSION
    wrong = {k: (t, PINNED["fields"].get(k)) for k, t in FIELDS.items() if PINNED["fields"].get(k) != t}
    assert wrong.keys() == OWN_FIELDS  # log.offset is Filebeat's, not ECS's
    assert {"source.ip", "client.ip", "host.ip"} <= IP_FIELDS


def _one_index_harness(tmp_path: Path, es_store_config: StoreConfig, inputs: list[dict[str, Any]]) -> Harness:
    es = es_store_config.elasticsearch
    assert es is not None
    one = StoreConfig(elasticsearch=es.model_copy(update={"index": es.index.split("-{", 1)[0] + "-one"}))
    return Harness(tmp_path, one, inputs=inputs)


def _dead(h: Harness) -> list[str]:
    reg = Registry(h.config.shipper.registry)
    try:
        return [d.reason for d in reg.dlq_list()]
    finally:
        reg.close()


def test_bunyan_numeric_and_winston_string_levels_share_one_index(
    tmp_path: Path, es_store_config: StoreConfig
) -> None:
    """bunyan's numeric level and winston's string level in one Elasticsearch index: all 7 docs are
    stored (it was 1 of 7: the others were dead-lettered on the level's type)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "bunyan.log").write_text(json.dumps({"level": 30, "msg": "a", "name": "shop"}) + "\n")
    winston = [
        json.dumps({"level": lv, "message": f"w{i}"}) for i, lv in enumerate(["info", "warn", "error"] * 2)
    ]
    (logs / "winston.log").write_text("\n".join(winston) + "\n")
    h = _one_index_harness(
        tmp_path,
        es_store_config,
        [
            {"paths": [str(logs / "bunyan.log")], "format": "json", "service": "shop"},
            {"paths": [str(logs / "winston.log")], "format": "json", "service": "users"},
        ],
    )
    try:
        h.once()
        h.store.refresh()
        assert _dead(h) == []
        assert h.store.count("*") == 7
        assert h.store.count("log.level:info") == 3 and h.store.count("log.level:error") == 2
    finally:
        h.close()


def test_user_and_error_strings_do_not_clash_with_ecs_objects(
    tmp_path: Path, es_store_config: StoreConfig
) -> None:
    """``user``/``error`` as strings in one app and as objects in another (and in ECS) share an index:
    the strings become user.name / error.message, the objects' ECS fields stay, the rest is namespaced."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(json.dumps({"msg": "a", "user": "bob", "error": "boom"}) + "\n")
    obj = {"msg": "b", "user": {"id": 7, "tier": "gold"}, "error": {"message": "bad", "retry": True}}
    (logs / "b.log").write_text(json.dumps(obj) + "\n")
    h = _one_index_harness(
        tmp_path,
        es_store_config,
        [
            {"paths": [str(logs / "a.log")], "format": "json", "service": "a"},
            {"paths": [str(logs / "b.log")], "format": "json", "service": "b"},
        ],
    )
    try:
        h.once()
        h.store.refresh()
        assert _dead(h) == []
        assert h.store.count("user.name:bob AND error.message:boom") == 1
        assert h.store.count("user.id:7 AND b.user.tier:gold AND b.error.retry:true") == 1
    finally:
        h.close()


def test_msg_becomes_message_and_is_not_kept_twice() -> None:
    """bunyan/pino ``msg`` is the doc's message and is not kept as a field too (nor time and level)."""
    src = _doc('{"msg":"hello","level":30,"time":"2026-12-02T10:00:00.000Z","x":1}')
    assert src["message"] == "hello" and src["svc"] == {"x": 1}
    assert "msg" not in src and "level" not in src and "time" not in src


def test_app_service_name_wins_unless_the_input_overrides() -> None:
    """An ECS-logging app's own service.name (and event.dataset) win over the input's; with
    ``override: true`` the input's win and the app's values are kept in the namespace."""
    line = '{"message":"m","service":{"name":"orders","version":"2"},"event.dataset":"orders.log"}'
    src = _doc(line)
    assert src["service"] == {"name": "orders", "version": "2"} and src["event"]["dataset"] == "orders.log"
    src = _doc(line, override=True)
    assert src["service"] == {"name": "svc", "version": "2"} and src["event"]["dataset"] == "svc.json"
    assert src["svc"] == {"service": {"name": "orders"}, "event": {"dataset": "orders.log"}}
    assert InputConfig(paths=["x"], service="svc", override=True).override


@pytest.mark.parametrize(
    ("line", "ecs", "ns"),
    [
        (  # pino-http
            {
                "req": {
                    "id": 3,
                    "method": "GET",
                    "url": "/a",
                    "headers": {"user-agent": "curl/8", "x-y": "1"},
                    "remoteAddress": "10.0.0.1",
                    "remotePort": 80,
                },
                "res": {"statusCode": 201},
                "responseTime": 2.5,
                "pid": 9,
                "hostname": "h1",
            },
            {
                "http": {"request": {"id": "3", "method": "GET"}, "response": {"status_code": 201}},
                "url": {"original": "/a"},
                "user_agent": {"original": "curl/8"},
                "client": {"ip": "10.0.0.1", "port": 80},
                "event": {"duration": 2_500_000},
                "process": {"pid": 9},
                "host": {"hostname": "h1"},
            },
            {"req": {"headers": {"x-y": "1"}}},
        ),
        (  # python-json-logger
            {
                "name": "app.db",
                "levelname": "ERROR",
                "message": "m",
                "process": 5,
                "thread": 6,
                "threadName": "T",
                "filename": "db.py",
                "funcName": "q",
                "lineno": 3,
                "module": "db",
                "exc_info": 'Traceback (most recent call last):\n  File "db.py"\nOSError: disk',
            },
            {
                "log": {
                    "logger": "app.db",
                    "level": "error",
                    "origin": {"file": {"name": "db.py", "line": 3}, "function": "q"},
                },
                "process": {"pid": 5, "thread": {"id": 6, "name": "T"}},
                "error": {
                    "type": "OSError",
                    "message": "disk",
                    "stack_trace": 'Traceback (most recent call last):\n  File "db.py"\nOSError: disk',
                },
            },
            {"module": "db"},
        ),
        (  # structlog, and values of the wrong type for their ECS field
            {"event": "did it", "logger": "x", "pid": "main", "user": ["a", {"b": 1}], "labels": {"k": 1}},
            {"message": "did it", "log": {"logger": "x"}, "labels": {"k": "1"}},
            {"pid": "main", "user": ["a", {"b": 1}]},
        ),
    ],
)
def test_known_logger_fields_map_to_ecs(
    line: dict[str, Any], ecs: dict[str, Any], ns: dict[str, Any]
) -> None:
    """Known logger keys become their ECS fields (typed); a value of the wrong type stays in the namespace."""
    src = _doc(json.dumps(line))
    for key, want in ecs.items():
        have = src[key]
        if isinstance(want, dict):
            have = {k: v for k, v in have.items() if k in want}
        assert have == want, key
    assert src.get("svc", {}) == ns


def test_namespace_must_not_be_an_ecs_field_set() -> None:
    """A namespace (given, or the service's name by default) that is an ECS field set is a config error."""
    with pytest.raises(ValueError, match="'http' is an ECS field set"):
        InputConfig(paths=["x"], namespace="http")
    with pytest.raises(ValueError, match=r"service 'url' as the namespace.*set namespace:"):
        InputConfig(paths=["x"], service="url")
    assert InputConfig(paths=["x"], service="url", namespace="urlsvc").field_namespace == "urlsvc"
    assert InputConfig(paths=["x"], service="my.app").field_namespace == "my_app"


def test_nginx_user_agent_is_parsed_once_per_agent() -> None:
    """nginx lines get user_agent.name/version/os.* from ua-parser; an agent seen before is not parsed
    again."""
    ua = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36"
    )
    src = _doc(f'203.0.113.7 - - [02/Dec/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 1 "-" "{ua}"', "nginx")
    assert src["user_agent"]["name"] == "Chrome" and src["user_agent"]["version"] == "120.0.0"
    assert src["user_agent"]["os"]["name"] == "Windows" and src["user_agent"]["original"] == ua
    assert user_agent(ua) is _UA_CACHE[ua]  # the cached result, not a second parse


def test_geoip_adds_source_geo_only_when_a_database_is_configured(tmp_path: Path) -> None:
    """With a MaxMind-format database configured, nginx docs get source.geo.*; without one, none."""
    mmdb_writer = pytest.importorskip("mmdb_writer", reason="mmdb-writer builds the test's database")
    from netaddr import IPSet

    from shipper.geoip import GeoIP, GeoIPError

    w = mmdb_writer.MMDBWriter(ip_version=4, database_type="GeoLite2-City", languages=["en"])
    record = {
        "country": {"iso_code": "NZ", "names": {"en": "New Zealand"}},
        "location": {"latitude": -41.29, "longitude": 174.78},
    }
    w.insert_network(IPSet(["203.0.113.0/24"]), record)
    w.to_db_file(str(tmp_path / "geo.mmdb"))
    line = '203.0.113.7 - - [02/Dec/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 1 "-" "-"'
    src = _doc(line, "nginx", geoip=GeoIP(tmp_path / "geo.mmdb"))
    assert src["source"]["geo"] == {
        "country_iso_code": "NZ",
        "country_name": "New Zealand",
        "location": {"lat": -41.29, "lon": 174.78},
    }
    assert "geo" not in _doc(line, "nginx")["source"]
    with pytest.raises(GeoIPError, match="cannot open the GeoIP database"):
        GeoIP(tmp_path / "missing.mmdb")


def test_ip_fields_take_cidr_blocks_and_refuse_patterns(store: Store) -> None:
    """source.ip matches an address or a CIDR block alike on both backends; a wildcard on it is a
    clear query error on both (Elasticsearch would fail the whole search)."""
    docs = [
        Doc(
            f"d{i}",
            1_700_000_000_000 + i,
            {"@timestamp": f"2023-11-14T22:13:20.00{i}Z", "source": {"ip": ip}},
        )
        for i, ip in enumerate(["10.1.2.3", "192.168.0.1", "2001:db8::5"])
    ]
    store.write(docs)
    store.refresh()
    assert store.count('source.ip:"10.0.0.0/8"') == 1
    assert store.count('source.ip:"0.0.0.0/0"') == 2
    assert store.count('source.ip:"2001:db8::/32"') == 1
    assert store.count("source.ip:192.168.0.1") == 1
    assert store.count('NOT source.ip:"10.0.0.0/8"') == 2
    with pytest.raises(QueryError, match=r"source\.ip is an ip field"):
        store.count("source.ip:10.*")
