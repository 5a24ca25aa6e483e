"""The shipper's typed events (shipper.events): each logs one JSON line with its fields and counts."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from logstore.config import StoreConfig
from logstore.observe import JsonFormatter
from shipper import events
from tests.shipper.harness import Harness
from tests.test_typed_events import assert_logs_and_counts


def test_rejected_docs_log_and_count_the_same_number(caplog: pytest.LogCaptureFixture) -> None:
    """DocsRejected(docs=3) is one warning line with docs=3 and shipper_events_dropped_total up by 3."""
    line = assert_logs_and_counts(events.DocsRejected(docs=3, reason="mapper_parsing_exception"), caplog)
    assert (line["msg"], line["level"], line["docs"]) == (
        "store rejected docs; kept in the dead-letter table",
        "warning",
        3,
    )


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_skipped_symlink_and_a_new_file_are_logged_and_counted(
    tmp_path: Path, sqlite_store_config: StoreConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """A run over a file and a symlink: the new file and the skipped link are each a line and a count."""
    h = Harness(tmp_path, sqlite_store_config)
    try:
        h.logs.write("app.log", 3)
        outside = tmp_path / "outside.log"
        outside.write_text('{"msg": "not mine"}\n')
        (tmp_path / "logs" / "link.log").symlink_to(outside)
        found, skipped = (
            _value("shipper_files_found_total"),
            _value("shipper_files_skipped_total", reason="symlink"),
        )
        with caplog.at_level(logging.INFO, logger="shipper"):
            h.once()
        lines = [
            json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name.startswith("shipper")
        ]
        link = [x for x in lines if x["msg"].startswith("symlink skipped")]
        assert len(link) == 1 and link[0]["path"].endswith("link.log") and link[0]["target"] == str(outside)
        assert [x["path"] for x in lines if x["msg"] == "new file"] == [str(h.logs.path("app.log"))]
        assert _value("shipper_files_skipped_total", reason="symlink") == skipped + 1
        assert _value("shipper_files_found_total") == found + 1
        assert h.count() == 3
    finally:
        h.close()
