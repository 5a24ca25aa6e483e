"""The fault-injecting proxy in front of osmem-server: media-type rewriting and each fault on cue."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from tests.rig.proxy import FaultProxy

VND_JSON = "application/vnd.elasticsearch+json; compatible-with=9"
VND_NDJSON = "application/vnd.elasticsearch+x-ndjson; compatible-with=9"


def call(proxy: FaultProxy, method: str, path: str, body: bytes | None = None, ctype: str = VND_JSON) -> Any:
    """(status, headers, decoded JSON body) of one raw request through the proxy."""
    req = urllib.request.Request(
        proxy.url + path, data=body, method=method, headers={"Content-Type": ctype, "Accept": VND_JSON}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")


def bulk_body(index: str, ids: list[str]) -> bytes:
    lines = []
    for i in ids:
        lines.append(json.dumps({"create": {"_index": index, "_id": i}}))
        lines.append(json.dumps({"@timestamp": "2026-03-01T00:00:00.000Z", "message": i}))
    return ("\n".join(lines) + "\n").encode()


def stored_ids(proxy: FaultProxy, index: str) -> list[str]:
    call(proxy, "POST", f"/{index}/_refresh")
    status, _, body = call(proxy, "POST", f"/{index}/_search", json.dumps({"size": 100}).encode())
    assert status == 200
    return sorted(h["_id"] for h in body["hits"]["hits"])


def test_official_client_works_through_the_proxy(es_proxy: FaultProxy) -> None:
    """The official client's compatible-with media types are rewritten and its product check passes."""
    es = Elasticsearch(es_proxy.url, max_retries=0)
    try:
        assert "version" in es.info()
        es.index(index="proxy-smoke", id="1", document={"a": 1}, refresh=True)
        assert es.count(index="proxy-smoke")["count"] == 1
    finally:
        es.close()


def test_replies_carry_the_product_header(es_proxy: FaultProxy) -> None:
    """Every reply, including injected errors, has X-Elastic-Product: Elasticsearch."""
    status, headers, _ = call(es_proxy, "GET", "/")
    assert status == 200 and headers.get("X-Elastic-Product") == "Elasticsearch"
    es_proxy.fail_requests(503, 1)
    status, headers, body = call(es_proxy, "GET", "/")
    assert status == 503 and headers.get("X-Elastic-Product") == "Elasticsearch"
    assert body["status"] == 503 and body["error"]["type"]


def test_fail_requests_counts_and_matches_path(es_proxy: FaultProxy) -> None:
    """fail_requests hits only matching paths, exactly count times, then requests pass again."""
    es_proxy.fail_requests(429, 2, path_contains="_search")
    assert call(es_proxy, "GET", "/")[0] == 200
    assert call(es_proxy, "POST", "/_search", b"{}")[0] == 429
    assert call(es_proxy, "POST", "/_search", b"{}")[0] == 429
    assert call(es_proxy, "POST", "/_search", b"{}")[0] == 200
    assert es_proxy.requests == 4


def test_refuse_connections_cuts_and_restores(es_proxy: FaultProxy) -> None:
    """While refusing, a connection gets no HTTP answer; after turning it off requests work again."""
    es_proxy.refuse_connections(True)
    try:
        with socket.create_connection(("127.0.0.1", es_proxy.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            data = sock.recv(100)
    except OSError:  # reset during connect, send or receive: all mean "down"
        data = b""
    assert data == b""
    es_proxy.refuse_connections(False)
    assert call(es_proxy, "GET", "/")[0] == 200


def test_refusing_cuts_open_keepalive_connections(es_proxy: FaultProxy) -> None:
    """A client with a pooled connection sees a connection error once the store goes down."""
    es = Elasticsearch(es_proxy.url, max_retries=0)
    try:
        es.info()
        es_proxy.refuse_connections(True)
        with pytest.raises(Exception) as err:
            es.info()
        assert "Connection" in type(err.value).__name__
    finally:
        es.close()


def test_set_delay_slows_replies(es_proxy: FaultProxy) -> None:
    """set_delay holds each reply back at least that long; 0 removes the delay."""
    es_proxy.set_delay(0.3)
    t0 = time.monotonic()
    assert call(es_proxy, "GET", "/")[0] == 200
    assert time.monotonic() - t0 >= 0.3
    es_proxy.set_delay(0)


def test_fail_bulk_items_fails_first_items_and_does_not_store_them(es_proxy: FaultProxy) -> None:
    """The next count bulk items fail in a 200 errors:true reply, are not stored; a retry stores them."""
    es_proxy.fail_bulk_items(429, 2, reason="es_rejected: queue full")
    status, _, body = call(es_proxy, "POST", "/_bulk", bulk_body("bulk-t", ["a", "b", "c"]), VND_NDJSON)
    assert status == 200 and body["errors"] is True
    statuses = [it["create"]["status"] for it in body["items"]]
    assert statuses == [429, 429, 201]
    assert body["items"][0]["create"]["error"]["reason"] == "es_rejected: queue full"
    assert body["items"][0]["create"]["_id"] == "a"
    assert es_proxy.bulk_items_failed == 2
    assert stored_ids(es_proxy, "bulk-t") == ["c"]
    status, _, body = call(es_proxy, "POST", "/_bulk", bulk_body("bulk-t", ["a", "b", "c"]), VND_NDJSON)
    assert [it["create"]["status"] for it in body["items"]] == [201, 201, 409]
    assert stored_ids(es_proxy, "bulk-t") == ["a", "b", "c"]


def test_fail_bulk_items_spanning_requests(es_proxy: FaultProxy) -> None:
    """A count larger than one bulk carries over to the next bulk; all-failed bulks skip the server."""
    es_proxy.fail_bulk_items(503, 3)
    _, _, first = call(es_proxy, "POST", "/_bulk", bulk_body("span-t", ["a", "b"]), VND_NDJSON)
    _, _, second = call(es_proxy, "POST", "/_bulk", bulk_body("span-t", ["c", "d"]), VND_NDJSON)
    assert [it["create"]["status"] for it in first["items"]] == [503, 503]
    assert [it["create"]["status"] for it in second["items"]] == [503, 201]
    assert es_proxy.bulk_items_failed == 3


def test_reset_clears_pending_faults(es_proxy: FaultProxy) -> None:
    """reset() drops pending request and bulk faults and the delay."""
    es_proxy.fail_requests(500, 5)
    es_proxy.fail_bulk_items(429, 5)
    es_proxy.set_delay(5)
    es_proxy.reset()
    assert call(es_proxy, "GET", "/")[0] == 200
    _, _, body = call(es_proxy, "POST", "/_bulk", bulk_body("reset-t", ["a"]), VND_NDJSON)
    assert body["items"][0]["create"]["status"] == 201


def test_stop_releases_the_port(es_upstream_url: str) -> None:
    """After stop() nothing listens on the proxy's port."""
    proxy = FaultProxy(es_upstream_url).start()
    assert call(proxy, "GET", "/")[0] == 200
    proxy.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=2).close()


def test_stub_requests_answers_locally_by_method_and_path(es_proxy: FaultProxy) -> None:
    """stub_requests answers matching requests (method and path) with the given body, count times."""
    es_proxy.stub_requests(200, {"operation_mode": "RUNNING"}, 1, "/_ilm/status", method="GET")
    assert call(es_proxy, "POST", "/_ilm/status", b"{}")[0] != 200  # other method: forwarded
    status, headers, body = call(es_proxy, "GET", "/_ilm/status")
    assert (status, body) == (200, {"operation_mode": "RUNNING"})
    assert headers.get("X-Elastic-Product") == "Elasticsearch"
    assert call(es_proxy, "GET", "/_ilm/status")[0] != 200  # used up: osmem has no ILM
