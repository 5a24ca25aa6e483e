"""The console over an Elasticsearch store: the same Logs and Sources pages, through the Store protocol."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

from logstore import open_store
from logstore.config import StoreConfig
from tests.server.console.client import Client
from tests.server.harness import serve, server_config
from tests.server.http import bulk, ndjson


def test_logs_and_sources_work_over_an_elasticsearch_store(
    tmp_path: Path, es_store_config: StoreConfig
) -> None:
    """A server whose store is the Elasticsearch rig: docs sent through _bulk are counted on the Logs
    page (all, and a field query), and the Sources page lists their hosts."""
    es = es_store_config.elasticsearch
    assert es is not None
    store = {"elasticsearch": es.model_dump(mode="json", exclude_none=True)}
    config = server_config(tmp_path, store=store)
    lines = []
    for i in range(30):
        host = "web-1" if i < 20 else "web-2"
        lines += [
            {"create": {"_id": f"es-{i}"}},
            {"@timestamp": "2026-12-02T10:00:00.000Z", "message": f"GET / {500 if i % 3 == 0 else 200}",
             "service": {"name": "nginx"}, "host": {"name": host},
             "http": {"response": {"status_code": 502 if i % 3 == 0 else 200}}},
        ]  # fmt: skip
    window = {"from": "2026-12-02T09:00:00Z", "to": "2026-12-02T11:00:00Z"}
    with serve(config) as srv:
        answer = bulk(srv.url, ndjson(*lines))
        assert answer.status == 200 and answer.json["errors"] is False
        client = Client(srv.url)
        opened = open_store(config.store, create=False)  # Elasticsearch shows writes after a refresh
        opened.refresh()
        opened.close()
        counts = []
        for q in ("", "http.response.status_code:502"):
            page = client.get("/ui/logs?" + urlencode({**window, "q": q}))
            assert page.status == 200, page.text[:300]
            m = re.search(r'id="hit-count" data-count="(\d+)"', page.text)
            assert m is not None
            counts.append(int(m.group(1)))
        assert counts == [30, 10]
        sources = client.get("/ui/sources?" + urlencode(window))
        assert sources.status == 200 and "web-1" in sources.text and "web-2" in sources.text
