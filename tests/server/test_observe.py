"""/metrics counts requests, docs by result, 401s and bytes; events log without ever a token."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.server.harness import Running, serve, server_config
from tests.server.http import bulk, call, ndjson

TOKEN = "t0ken-for-observe-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _scrape(srv: Running) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = call(srv.url + "/metrics", headers=AUTH)
    assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.raw.decode())
        for s in family.samples
        if s.name.startswith("server_")
    }


def _delta(before: dict, after: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_metrics_count_requests_docs_auth_failures_and_bytes(tmp_path: Path) -> None:
    """A created, a duplicate and a malformed item, a gzip body and a 401 each move their counter."""
    config = server_config(tmp_path, {"auth": {"tokens": [TOKEN]}})
    body = ndjson({"create": {"_index": "m", "_id": "m-1"}}, {"@timestamp": "2026-12-02T10:00:00Z"})
    with serve(config) as srv:
        before = _scrape(srv)
        assert bulk(srv.url, body, headers=AUTH).json["errors"] is False
        zipped = gzip.compress(body + b"not json\n")
        assert bulk(srv.url, zipped, headers={**AUTH, "Content-Encoding": "gzip"}).json["errors"] is True
        assert (
            call(srv.url + "/_bulk", "POST", body, {"Authorization": "Bearer wrong-token-0123456789"}).status
            == 401
        )
        assert call(srv.url + "/").status == 401
        after = _scrape(srv)
    assert _delta(before, after, "server_bulk_docs_total", result="created") == 1
    assert _delta(before, after, "server_bulk_docs_total", result="duplicate") == 1
    assert _delta(before, after, "server_bulk_docs_total", result="rejected") == 1
    assert _delta(before, after, "server_http_requests_total", endpoint="bulk", status="200") == 2
    assert _delta(before, after, "server_auth_failures_total", reason="bad") == 1
    assert _delta(before, after, "server_auth_failures_total", reason="missing") == 1
    assert _delta(before, after, "server_bulk_received_bytes_total") == len(body) + len(zipped)
    assert _delta(before, after, "server_bulk_body_bytes_total") == 2 * len(body) + len(b"not json\n")
    assert _delta(before, after, "server_write_duration_seconds_count") == 2


def test_auth_failures_are_logged_once_a_minute_without_the_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Three wrong tokens: one warning (with the peer and reason), the token in none of the log."""
    config = server_config(tmp_path, {"auth": {"tokens": [TOKEN]}})
    with caplog.at_level(logging.INFO, logger="server"), serve(config) as srv:
        for _ in range(3):
            assert (
                call(srv.url + "/", headers={"Authorization": "Bearer wrong-token-0123456789"}).status == 401
            )
    lines = [r for r in caplog.records if r.getMessage() == "unauthenticated requests refused (401)"]
    assert len(lines) == 1
    assert lines[0].reason == "bad" and lines[0].peer.startswith("127.0.0.1:")  # type: ignore[attr-defined]
    everything = " ".join(str(vars(r)) for r in caplog.records)
    assert "wrong-token" not in everything and TOKEN not in everything
    assert any(r.getMessage() == "server started" for r in caplog.records)
