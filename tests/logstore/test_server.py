"""The server backend (logstore.server) against real logwarden servers on loopback: its config, what
opening checks, how writes are classified (FaultProxy in front of the server injects the failures),
the raw search path, TLS, and the errors it raises. The store contract itself runs in test_contract."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from logstore import Doc, Outcome, QueryError, RawSearch, StoreError, open_store
from logstore.config import SqliteConfig, StoreConfig
from logstore.elastic import bulk_lines
from logstore.protocol import BodyWrite, FastWrite
from logstore.server import ServerStore, ServerStoreConfig
from logstore.sqlite import SqliteStore
from logstore.types import StoreAuthError, format_ts
from logwarden.config import load_config
from tests.conftest import SERVER_TOKEN
from tests.rig.proxy import FaultProxy
from tests.server.harness import serve, server_config

BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _docs(n: int, prefix: str = "d") -> list[Doc]:
    return [
        Doc(f"{prefix}{i}", BASE_MS + i, {"@timestamp": format_ts(BASE_MS + i), "message": f"line {i}"})
        for i in range(n)
    ]


def _config(url: str, token: str | None = SERVER_TOKEN, **more: Any) -> StoreConfig:
    settings: dict[str, Any] = {"url": url, **more}
    if token is not None:
        settings["token"] = token
    return StoreConfig.model_validate({"server": settings})


@pytest.fixture
def server_url(server_store_config: StoreConfig) -> str:
    settings = server_store_config.settings
    assert isinstance(settings, ServerStoreConfig)
    return settings.url


@pytest.fixture
def proxy(server_url: str) -> Iterator[FaultProxy]:
    """A FaultProxy in front of this test's server; stopped after."""
    p = FaultProxy(server_url).start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def proxied(proxy: FaultProxy) -> Iterator[ServerStore]:
    store = ServerStore(ServerStoreConfig(url=proxy.url, token=SERVER_TOKEN))  # type: ignore[arg-type]
    try:
        yield store
    finally:
        store.close()


# ---- config and open -------------------------------------------------------------------------------


def test_the_server_section_loads_from_yaml_and_ca_certs_resolve_against_its_directory(
    tmp_path: Path,
) -> None:
    """store: {server: {url, token, ca_certs}} loads; a relative ca_certs is under the file's directory."""
    (tmp_path / "etc").mkdir()
    cfg = tmp_path / "etc" / "logwarden.yaml"
    cfg.write_text(
        "store:\n  server:\n    url: https://logs.example.com:9200/\n    token: abc\n    ca_certs: ca.pem\n"
    )
    settings = load_config(cfg, env={}).store.settings
    assert isinstance(settings, ServerStoreConfig)
    assert settings.url == "https://logs.example.com:9200"
    assert settings.token is not None and settings.token.get_secret_value() == "abc"
    assert settings.ca_certs == tmp_path / "etc" / "ca.pem"
    assert "abc" not in repr(settings)


def test_an_unreachable_server_at_open_is_one_line_naming_the_url(tmp_path: Path) -> None:
    """Nothing listens: StoreError, one line, naming the URL and the reason."""
    with serve(server_config(tmp_path)) as running:
        url = running.url  # a port that was just free, and is closed again below
    with pytest.raises(StoreError) as err:
        open_store(_config(url))
    assert str(err.value) == f"server at {url}: connection refused"


@pytest.mark.parametrize(
    ("token", "words"),
    [("wrong-token-0123456789", "the token was refused"), (None, "the server needs a token")],
)
def test_a_refused_token_at_open_is_an_auth_error_naming_the_url(
    server_url: str, token: str | None, words: str
) -> None:
    """A wrong or missing token: StoreAuthError at open, one line naming the URL, the token not in it."""
    with pytest.raises(StoreAuthError) as err:
        open_store(_config(server_url, token))
    message = str(err.value)
    assert message.startswith(f"server at {server_url}: {words}") and "\n" not in message
    assert "wrong-token" not in message


def test_open_reader_creates_nothing_and_has_the_fast_paths(server_store_config: StoreConfig) -> None:
    """A reader opens without writing anything; the store offers FastWrite, RawSearch and BodyWrite."""
    store = open_store(server_store_config, create=False)
    try:
        assert store.count("") == 0
        assert isinstance(store, FastWrite) and isinstance(store, RawSearch) and isinstance(store, BodyWrite)
    finally:
        store.close()


# ---- write -----------------------------------------------------------------------------------------


def test_writes_send_create_actions_without_an_index_and_none_when_all_are_created(
    server_store_config: StoreConfig,
) -> None:
    """Each action is {"create":{"_id":...}} (no _index); all created answers None, a re-send DUPLICATE."""
    store = ServerStore(server_store_config.settings)  # type: ignore[arg-type]
    try:
        docs = _docs(3)
        parts, local = bulk_lines(store.namer, docs)
        assert not local
        assert [orjson.loads(a) for a in parts[0::2]] == [{"create": {"_id": d.id}} for d in docs]
        assert store.write_unless_all_created(docs) is None
        assert [r.outcome for r in store.write(docs)] == [Outcome.DUPLICATE] * 3
    finally:
        store.close()


def test_a_final_docs_raw_bytes_are_sent_as_they_are(server_store_config: StoreConfig) -> None:
    """Doc.final: the raw bytes are what is stored (not a re-serialization of source)."""
    store = ServerStore(server_store_config.settings)  # type: ignore[arg-type]
    try:
        ts = format_ts(BASE_MS)
        raw = b'{"@timestamp":"%s","event":{"id":"r1"},"message":"from raw"}' % ts.encode()
        doc = Doc("r1", BASE_MS, {"@timestamp": ts, "message": "from source"}, raw, final=True)
        assert store.write_unless_all_created([doc]) is None
        store.refresh()
        assert [h.source["message"] for h in store.search("")] == ["from raw"]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (429, Outcome.RETRYABLE),
        (503, Outcome.RETRYABLE),
        (413, Outcome.TOO_LARGE),
        (400, Outcome.REJECTED),
    ],
)
def test_a_refused_bulk_request_classifies_every_doc_as_elasticsearch_does(
    proxied: ServerStore, proxy: FaultProxy, status: int, outcome: Outcome
) -> None:
    """A whole _bulk answered 429/5xx is RETRYABLE, 413 TOO_LARGE, another 4xx REJECTED; with reason."""
    proxy.fail_requests(status, 1, "/_bulk")
    results = proxied.write(_docs(3))
    assert [r.outcome for r in results] == [outcome] * 3
    assert all(f"HTTP {status}" in r.reason for r in results)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_on_write_raises_an_auth_error(
    proxied: ServerStore, proxy: FaultProxy, status: int
) -> None:
    """401/403 on _bulk: StoreAuthError (no doc can be written until someone fixes the token)."""
    proxy.fail_requests(status, 1, "/_bulk")
    with pytest.raises(StoreAuthError, match=f"token was refused \\(HTTP {status}"):
        proxied.write(_docs(1))


def test_failed_items_are_classified_one_by_one(proxied: ServerStore, proxy: FaultProxy) -> None:
    """In a 200 with errors: a 4xx item is REJECTED, a 429 item RETRYABLE, the rest CREATED; a re-send
    stores the retryable one and answers DUPLICATE for the others."""
    proxy.fail_bulk_items(400, 1, "mapper_parsing_exception")
    proxy.fail_bulk_items(429, 1, "queue full")
    docs = _docs(4)
    results = proxied.write(docs)
    assert [r.outcome for r in results] == [
        Outcome.REJECTED,
        Outcome.RETRYABLE,
        Outcome.CREATED,
        Outcome.CREATED,
    ]
    assert "mapper_parsing_exception" in results[0].reason
    assert [r.outcome for r in proxied.write(docs[1:])] == [
        Outcome.CREATED,
        Outcome.DUPLICATE,
        Outcome.DUPLICATE,
    ]


def test_connection_trouble_makes_every_doc_retryable(proxied: ServerStore, proxy: FaultProxy) -> None:
    """The server going away mid-conversation: every doc RETRYABLE with the reason; nothing raised."""
    proxy.refuse_connections(True)
    results = proxied.write(_docs(2))
    assert [r.outcome for r in results] == [Outcome.RETRYABLE] * 2
    assert results[0].reason in ("connection reset", "connection refused")


def test_docs_refused_before_sending_do_not_sink_the_others(server_store_config: StoreConfig) -> None:
    """A doc without @timestamp is REJECTED locally, in place; the others are sent and CREATED."""
    store = ServerStore(server_store_config.settings)  # type: ignore[arg-type]
    try:
        good = _docs(2)
        batch = [good[0], Doc("bad", BASE_MS, {"message": "no time"}), good[1]]
        assert [r.outcome for r in store.write_unless_all_created(batch) or []] == [
            Outcome.CREATED,
            Outcome.REJECTED,
            Outcome.CREATED,
        ]
    finally:
        store.close()


# ---- read ------------------------------------------------------------------------------------------


def test_search_raw_hands_on_the_stored_bytes_and_odd_ids_survive(server_store_config: StoreConfig) -> None:
    """Ids with quotes, backslashes, commas and non-ASCII come back exact; raw bytes parse to the source."""
    store = ServerStore(server_store_config.settings)  # type: ignore[arg-type]
    try:
        ids = ['q"uote', 'x,"source":{', "back\\slash", "ünïcode", "plain"]
        docs = [
            Doc(i, BASE_MS + n, {"@timestamp": format_ts(BASE_MS + n), "message": "m"})
            for n, i in enumerate(ids)
        ]
        store.write(docs)
        store.refresh()
        raw = list(store.search_raw(""))
        hits = list(store.search(""))
        assert [c.id for c, _ in raw] == ids == [h.id for h in hits]
        assert [c.ts for c, _ in raw] == [h.ts for h in hits]
        assert [orjson.loads(b) for _, b in raw] == [h.source for h in hits]
    finally:
        store.close()


def test_a_query_the_server_refuses_raises_the_same_query_error_as_sqlite(
    tmp_path: Path, server_store_config: StoreConfig
) -> None:
    """A query only the store refuses (a bad regex): the same QueryError, so logq prints the same caret."""
    query = "host.name:/[/"
    local = SqliteStore(SqliteConfig(path=tmp_path / "local.db"))
    remote = open_store(server_store_config)
    try:
        with pytest.raises(QueryError) as here:
            local.count(query)
        with pytest.raises(QueryError) as there:
            remote.search(query)
        with pytest.raises(QueryError) as counted:
            remote.count(query)
    finally:
        local.close()
        remote.close()
    assert there.value.render() == here.value.render() == counted.value.render()


def test_health_maps_the_servers_health_and_says_when_it_is_down(tmp_path: Path) -> None:
    """Health is the server store's, naming the URL; a stopped server is unhealthy, with the reason."""
    with serve(server_config(tmp_path)) as running:
        store = open_store(_config(running.url, None))
        health = store.health()
        assert health.ok and health.detail.startswith(f"server at {running.url}: sqlite store ")
    down = store.health()
    store.close()
    assert not down.ok and down.detail == f"server at {running.url}: connection refused"


class _Scripted(BaseHTTPRequestHandler):
    """Answers health, and a search with the NDJSON lines ``server.lines`` (a server gone wrong)."""

    def do_GET(self) -> None:
        self._reply(b'{"ok":true,"detail":"scripted"}')

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._reply(b"".join(self.server.lines))  # type: ignore[attr-defined]

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize(
    ("last", "words"),
    [
        (b"", "the search answer was cut off after 1 hits"),
        (b'{"error":{"type":"x","reason":"disk"}}\n', "disk"),
    ],
)
def test_a_search_stream_without_its_end_line_raises_instead_of_answering_fewer_hits(
    last: bytes, words: str
) -> None:
    """A stream that stops (or ends with an error line) after a hit raises StoreError after that hit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.lines = [b'{"ts":1,"id":"a","source":{"message":"m"}}\n', last]  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        store = open_store(_config(f"http://127.0.0.1:{server.server_address[1]}", None))
        got: list[str] = []
        with pytest.raises(StoreError, match=words):
            for hit in store.search(""):
                got.append(hit.id)
        assert got == ["a"]
        store.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ---- TLS -------------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_tls_verifies_the_server_against_ca_certs(tmp_path: Path) -> None:
    """https with ca_certs naming the server's certificate works; without it, one line saying TLS."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]  # quick to make
    names = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        ["openssl", "req", "-x509", *ec, "-keyout", str(key), "-out", str(cert), "-days", "2", *names],
        check=True,
        capture_output=True,
    )
    with serve(server_config(tmp_path, {"tls": {"cert": str(cert), "key": str(key)}})) as running:
        assert running.url.startswith("https://")
        store = open_store(_config(running.url, None, ca_certs=str(cert)))
        assert store.count("", datetime(2026, 1, 1, tzinfo=UTC)) == 0
        store.close()
        with pytest.raises(StoreError) as err:
            open_store(_config(running.url, None))
    assert str(err.value).startswith(f"server at {running.url}: TLS error: ")
