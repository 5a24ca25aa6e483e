"""The Sources page: hosts and files with their last doc and recent counts, and what the server refused."""

from __future__ import annotations

import html
import re
from pathlib import Path

from prometheus_client import REGISTRY

from tests.server.console.client import Client
from tests.server.console.shipped import API_LINES, WORKER_LINES, Shipped, shipped  # noqa: F401
from tests.server.harness import serve, server_config
from tests.server.http import bulk, ndjson


def _rows(text: str) -> list[list[str]]:
    table = re.search(r'<table id="sources">.*?<tbody>(.*?)</tbody>', text, re.S)
    assert table is not None, "no sources table"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r, re.S) for r in rows]
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in row] for row in cells]


def test_each_host_and_file_with_its_last_doc_and_counts(shipped: Shipped) -> None:  # noqa: F811
    """A row per host and file: the newest doc's time, docs in the last hour and window; lag not reported."""
    page = Client(shipped.server.url).get("/ui/sources")
    rows = _rows(page.text)
    store = shipped.store()
    try:
        newest = {h: next(store.search(f"host.name:{h}", order="desc", limit=1)) for h in ("web1", "web2")}
    finally:
        store.close()
    assert [(r[0], Path(r[1]).name, r[3], r[4], r[5]) for r in rows] == [
        ("web1", "api.log", f"{API_LINES}", f"{API_LINES}", "not reported"),
        ("web2", "worker.log", f"{WORKER_LINES}", f"{WORKER_LINES}", "not reported"),
    ]
    from server.console.web import format_ms

    assert [r[2] for r in rows] == [format_ms(newest["web1"].ts), format_ms(newest["web2"].ts)]
    assert "shipper dlq list" in page.text and "shipper status" in page.text


def test_a_rows_count_links_to_exactly_its_docs(shipped: Shipped) -> None:  # noqa: F811
    """A row's count links to the Logs page for that host and file, which counts the same docs."""
    client = Client(shipped.server.url)
    link = re.search(r'<td class="num"><a href="([^"]+)">240</a>', client.get("/ui/sources").text)
    assert link is not None
    logs = client.get(html.unescape(link.group(1)))
    assert f'data-count="{API_LINES}"' in logs.text


def test_docs_without_host_or_file_and_rejected_items_are_counted(tmp_path: Path) -> None:
    """Docs with neither field get a row of their own; a rejected _bulk item moves the rejected count."""
    before = REGISTRY.get_sample_value("server_bulk_docs_total", {"result": "rejected"}) or 0
    with serve(server_config(tmp_path)) as srv:
        bulk(
            srv.url,
            ndjson(
                {"create": {"_id": "plain"}},
                {"@timestamp": "2099-01-01T00:00:00Z", "message": "from far in the future"},
                {"create": {"_id": "now"}},
                {"message": "no time: stored at the server's now"},
                {"create": {"_id": "broken"}},
                b"{not json",
            ),
        )
        page = Client(srv.url).get("/ui/sources")
        empty = Client(srv.url).get("/ui/sources?window=1h")
        bad = Client(srv.url).get("/ui/sources?window=2h")
    after = REGISTRY.get_sample_value("server_bulk_docs_total", {"result": "rejected"}) or 0
    assert after - before == 1
    assert 'id="unattributed"' in page.text and ">1</a>" in page.text
    rejected = re.search(r'id="rejected">([\d,]+)<', page.text)
    assert rejected is not None and int(rejected.group(1).replace(",", "")) >= 1
    assert "neither host.name nor log.file.path" in empty.text
    assert bad.status == 400 and "window: expected one of 1h, 24h, 7d" in bad.text


def test_an_empty_store_says_nobody_sent_anything(tmp_path: Path) -> None:
    """No docs in the window: a sentence saying so, not an empty table."""
    with serve(server_config(tmp_path)) as srv:
        page = Client(srv.url).get("/ui/sources")
    assert page.status == 200 and 'id="no-sources"' in page.text
