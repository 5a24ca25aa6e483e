"""The server starts, answers like an 8.x cluster, stores a _bulk request, and refuses bad tokens."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from logstore import open_store
from logstore.config import ConfigError
from tests.server.harness import serve, server_config

TOKEN = "t0ken-for-tests-0123456789"


def _request(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, orjson.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, orjson.loads(e.read())


def test_root_answers_like_an_8x_cluster(tmp_path: Path) -> None:
    """GET / names an 8.x version and carries X-Elastic-Product, which official clients require."""
    with serve(server_config(tmp_path)) as srv:
        status, headers, body = _request(srv.url + "/")
    assert status == 200
    assert headers["X-Elastic-Product"] == "Elasticsearch"
    assert body["version"]["number"].startswith("8.")


def test_bulk_stores_each_doc_once(tmp_path: Path) -> None:
    """Two create items are stored; the same _id again is a 409 item and errors: true."""
    lines = []
    for i in range(2):
        lines += [
            {"create": {"_index": "logs-web", "_id": f"id-{i}"}},
            {"@timestamp": "2026-12-02T10:00:00Z", "message": f"m{i}"},
        ]
    body = b"".join(orjson.dumps(x) + b"\n" for x in lines)
    config = server_config(tmp_path)
    with serve(config) as srv:
        status, _, first = _request(
            srv.url + "/_bulk", "POST", body, {"Content-Type": "application/x-ndjson"}
        )
        _, _, again = _request(srv.url + "/_bulk", "POST", body, {"Content-Type": "application/x-ndjson"})
    assert status == 200 and first["errors"] is False
    assert [i["create"]["status"] for i in first["items"]] == [201, 201]
    assert again["errors"] is True and [i["create"]["status"] for i in again["items"]] == [409, 409]
    store = open_store(config.store, create=False)
    try:
        assert store.count("") == 2
    finally:
        store.close()


@pytest.mark.parametrize(
    "header",
    [
        f"ApiKey {TOKEN}",
        "ApiKey " + base64.b64encode(f"web1:{TOKEN}".encode()).decode(),
        f"Bearer {TOKEN}",
        "Basic " + base64.b64encode(f"web1:{TOKEN}".encode()).decode(),
    ],
)
def test_a_token_is_accepted_as_es_clients_send_it(tmp_path: Path, header: str) -> None:
    """ApiKey (plain or id:key), Bearer and Basic all carry the token."""
    config = server_config(tmp_path, {"auth": {"tokens": [{"name": "web1", "token": TOKEN}]}})
    with serve(config) as srv:
        status, _, _ = _request(srv.url + "/", headers={"Authorization": header})
    assert status == 200


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789", "Basic !!!"])
def test_a_wrong_token_is_a_401_with_a_json_error(tmp_path: Path, header: str | None) -> None:
    """No token or a wrong one: 401, an Elasticsearch-shaped JSON error, and the token not echoed."""
    config = server_config(tmp_path, {"auth": {"tokens": [TOKEN]}})
    with serve(config) as srv:
        status, _, body = _request(srv.url + "/", headers={"Authorization": header} if header else {})
    assert status == 401
    assert body["error"]["type"] == "security_exception"
    assert "wrong-token" not in orjson.dumps(body).decode()


def test_network_listen_without_tokens_is_a_config_error(tmp_path: Path) -> None:
    """0.0.0.0 without tokens is refused unless insecure: true."""
    with pytest.raises(ConfigError, match=r"server\.listen|server: .*insecure"):
        server_config(tmp_path, {"listen": "0.0.0.0:9200"})
    assert server_config(tmp_path, {"listen": "0.0.0.0:9200", "insecure": True}).server.insecure


def test_probes_need_no_token_and_readyz_reports_the_store(tmp_path: Path) -> None:
    """/healthz and /readyz answer without a token (probes have none); /readyz says the store is ok."""
    config = server_config(tmp_path, {"auth": {"tokens": [TOKEN]}})
    with serve(config) as srv:
        live, _, _ = _request(srv.url + "/healthz")
        ready, _, body = _request(srv.url + "/readyz")
        other, _, _ = _request(srv.url + "/")
    assert (live, ready, other) == (200, 200, 401)
    assert body["ok"] is True
