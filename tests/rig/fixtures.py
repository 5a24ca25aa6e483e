"""The Elasticsearch test rig: osmem-server (or a real cluster) behind a fault-injecting proxy.

Loaded as a pytest plugin by tests/conftest.py. Fixtures:

- ``es_osmem_server`` (session): the ``OsmemServer`` process, or None against a real cluster.
- ``es_upstream_url`` (session): osmem-server's base URL, started once per session and stopped after;
  or ``$LOGWARDEN_TEST_ES_URL`` (a real cluster, basic auth from ``$LOGWARDEN_TEST_ES_USER`` /
  ``$LOGWARDEN_TEST_ES_PASSWORD`` when set).
- ``es_test_upstream`` (function): what this test's proxy forwards to. On osmem that is a fresh
  copy-on-write clone of the base (about a millisecond), so every test has its own empty cluster;
  on a real cluster it is the cluster itself (isolation comes from unique index names).
- ``es_proxy`` (function): a started ``FaultProxy`` in front of ``es_test_upstream``; stopped after.
- ``es_store_config`` (function): a ``StoreConfig`` pointing at ``es_proxy.url`` with index pattern,
  template and state index unique to the test; its indices and template are deleted after.
- ``es_store`` (function): an opened ``ElasticStore`` on ``es_store_config``, closed after.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
import uuid
from base64 import b64encode
from collections.abc import Iterator
from typing import Any

import pytest

from logstore.config import ElasticsearchConfig, StoreConfig
from tests.rig.proxy import FaultProxy

ENV_URL = "LOGWARDEN_TEST_ES_URL"
ENV_USER = "LOGWARDEN_TEST_ES_USER"
ENV_PASSWORD = "LOGWARDEN_TEST_ES_PASSWORD"


def _real_cluster() -> str | None:
    return os.environ.get(ENV_URL) or None


def _auth() -> tuple[str | None, str | None]:
    return os.environ.get(ENV_USER) or None, os.environ.get(ENV_PASSWORD) or None


def _raw_request(url: str, method: str, path: str) -> Any:
    """A plain request straight to the upstream (cleanup only; never through the proxy)."""
    user, password = _auth() if _real_cluster() else (None, None)
    headers = {"Content-Type": "application/json"}
    if user is not None:
        headers["Authorization"] = "Basic " + b64encode(f"{user}:{password or ''}".encode()).decode()
    req = urllib.request.Request(url.rstrip("/") + path, method=method, headers=headers)
    # Cleanup of a test cluster, which may well use a self-signed certificate.
    ctx = ssl._create_unverified_context() if url.startswith("https") else None
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as resp:
            text = resp.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    return json.loads(text) if text else None


@pytest.fixture(scope="session")
def es_osmem_server() -> Iterator[Any]:
    """The session's osmem-server process (None when a real cluster is under test)."""
    if _real_cluster():
        yield None
        return
    from osmem_server import OsmemServer

    # Japanese analysis is not needed for log text and costs memory.
    server = OsmemServer.start(japanese=False)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def es_upstream_url(es_osmem_server: Any) -> str:
    """osmem-server's URL for the whole session (or the real cluster named by $LOGWARDEN_TEST_ES_URL)."""
    if es_osmem_server is None:
        return (_real_cluster() or "").rstrip("/")
    return str(es_osmem_server.url)


@pytest.fixture
def es_test_upstream(es_osmem_server: Any, es_upstream_url: str) -> Iterator[str]:
    """A private, empty osmem clone for this test (or the shared real cluster)."""
    if es_osmem_server is None:
        yield es_upstream_url
        return
    clone = es_osmem_server.clone()
    try:
        yield str(clone.url)
    finally:
        clone.close()


@pytest.fixture
def es_proxy(es_test_upstream: str) -> Iterator[FaultProxy]:
    """A started FaultProxy in front of this test's upstream; stopped after the test."""
    user, password = _auth() if _real_cluster() else (None, None)
    proxy = FaultProxy(es_test_upstream, username=user, password=password).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def es_store_config(es_proxy: FaultProxy, es_test_upstream: str) -> Iterator[StoreConfig]:
    """An isolated index namespace (pattern, template, state index) on the proxy; cleaned up after."""
    prefix = "t" + uuid.uuid4().hex[:12]
    config = StoreConfig(
        elasticsearch=ElasticsearchConfig(
            hosts=[es_proxy.url],
            index=f"{prefix}-{{service.name}}-%Y.%m.%d",
            template_name=prefix,
            state_index=f"{prefix}-state",
        )
    )
    try:
        yield config
    finally:
        # Straight to the upstream: the test may have left the proxy refusing connections.
        _raw_request(es_test_upstream, "DELETE", f"/{prefix}-*?ignore_unavailable=true&allow_no_indices=true")
        _raw_request(es_test_upstream, "DELETE", f"/_index_template/{prefix}")
        _raw_request(es_test_upstream, "DELETE", f"/_template/{prefix}")
        _raw_request(es_test_upstream, "DELETE", f"/_ilm/policy/{prefix}")


@pytest.fixture
def es_store(es_store_config: StoreConfig) -> Iterator[Any]:
    """An opened ElasticStore on es_store_config, closed after the test."""
    from logstore.elastic import ElasticStore

    assert es_store_config.elasticsearch is not None
    store = ElasticStore(es_store_config.elasticsearch)
    try:
        yield store
    finally:
        store.close()
