"""The calls shippers and clients make at start are answered harmlessly, in Elasticsearch's shape."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from tests.server.harness import Running, serve, server_config
from tests.server.http import call


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serve(server_config(tmp_path_factory.mktemp("compat"))) as running:
        yield running


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("HEAD", "/", 200),
        ("GET", "/_license", 200),
        ("GET", "/_xpack", 200),
        ("GET", "/_cluster/health", 200),
        ("GET", "/_nodes/http", 200),
        ("GET", "/_index_template/filebeat-8.15.0", 404),
        ("HEAD", "/_index_template/filebeat-8.15.0", 404),
        ("PUT", "/_index_template/filebeat-8.15.0", 200),
        ("GET", "/_template/vector", 404),
        ("PUT", "/_template/vector", 200),
        ("PUT", "/_component_template/logs", 200),
        ("GET", "/_ilm/policy/filebeat", 404),
        ("PUT", "/_ilm/policy/filebeat", 200),
        ("GET", "/_ingest/pipeline/filebeat-8.15.0-nginx", 404),
        ("PUT", "/_ingest/pipeline/filebeat-8.15.0-nginx", 200),
        ("PUT", "/_data_stream/logs-web-default", 200),
        ("HEAD", "/logs-web", 200),
        ("PUT", "/logs-web", 200),
    ],
)
def test_start_up_calls_are_answered_like_a_cluster(
    srv: Running, method: str, path: str, status: int
) -> None:
    """Each start-up call gets the status a fresh cluster gives, JSON, and X-Elastic-Product."""
    answer = call(
        srv.url + path, method, b"{}" if method == "PUT" else None, {"Content-Type": "application/json"}
    )
    assert answer.status == status
    assert answer.headers["X-Elastic-Product"] == "Elasticsearch"
    assert answer.headers["Content-Type"] == "application/json"
    if method != "HEAD":
        body = answer.json
        if method == "PUT":
            assert body["acknowledged"] is True
        elif status == 404:
            assert body["error"]["type"] == "resource_not_found_exception"
        else:
            assert isinstance(body, dict) and body


def test_cluster_health_is_green_and_root_names_an_8x_version(srv: Running) -> None:
    """GET /_cluster/health says green for a healthy store; GET / claims an 8.x version."""
    assert call(srv.url + "/_cluster/health").json["status"] == "green"
    assert call(srv.url + "/").json["version"]["number"].startswith("8.")


@pytest.mark.parametrize(
    ("method", "path", "status", "kind"),
    [
        ("GET", "/nothing/here", 404, "no_handler_found_exception"),
        ("POST", "/logs-web/_doc", 404, "no_handler_found_exception"),
        ("DELETE", "/_bulk", 405, "method_not_allowed"),
    ],
)
def test_unknown_paths_and_methods_are_json_errors_never_html(
    srv: Running, method: str, path: str, status: int, kind: str
) -> None:
    """An unserved path is a 404, an unserved method a 405, both JSON in Elasticsearch's shape."""
    answer = call(srv.url + path, method, b"{}" if method == "POST" else None)
    assert answer.status == status
    assert answer.headers["X-Elastic-Product"] == "Elasticsearch"
    body = orjson.loads(answer.raw)
    assert body["status"] == status and body["error"]["type"] == kind
    assert path in body["error"]["reason"] and method in body["error"]["reason"]
