"""JSON-line logging and the /healthz + /metrics endpoint."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, Counter

from logstore.observe import Event, JsonFormatter, emit, setup_logging, start_http
from logstore.types import Health


def test_log_lines_are_json_with_extra_fields() -> None:
    """A log record becomes one JSON object carrying level, message and extra fields."""
    record = logging.LogRecord("shipper", logging.WARNING, __file__, 1, "store slow", None, None)
    record.lag_bytes = 42
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert data["level"] == "warning"
    assert data["msg"] == "store slow"
    assert data["lag_bytes"] == 42
    assert data["ts"].endswith("Z")


_SENT = Counter("test_observe_docs_sent_total", "Docs sent (test only)", ["store"])


@dataclass(frozen=True)
class _BatchSent(Event):
    message = "batch sent"
    logger = "t.observe"
    metric = _SENT
    labels = ("store",)
    amount = "docs"
    docs: int
    store: str


def test_emit_logs_the_fields_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    """emit logs the event's sentence with its fields as keys and adds its amount to its labelled counter."""
    before = REGISTRY.get_sample_value("test_observe_docs_sent_total", {"store": "sqlite"}) or 0
    with caplog.at_level(logging.INFO, logger="t.observe"):
        emit(_BatchSent(docs=10, store="sqlite"))
    record = caplog.records[-1]
    data = json.loads(JsonFormatter().format(record))
    assert (data["msg"], data["logger"], data["docs"], data["store"]) == (
        "batch sent",
        "t.observe",
        10,
        "sqlite",
    )
    assert REGISTRY.get_sample_value("test_observe_docs_sent_total", {"store": "sqlite"}) == before + 10


def test_emit_counts_even_when_the_level_is_off(caplog: pytest.LogCaptureFixture) -> None:
    """A counter does not depend on the log level: a DEBUG event still counts when DEBUG is off."""
    before = REGISTRY.get_sample_value("test_observe_docs_sent_total", {"store": "es"}) or 0
    with caplog.at_level(logging.WARNING, logger="t.observe"):
        emit(_BatchSent(docs=3, store="es"))
    assert not [r for r in caplog.records if r.name == "t.observe"]
    assert REGISTRY.get_sample_value("test_observe_docs_sent_total", {"store": "es"}) == before + 3


def test_health_and_metrics_endpoint() -> None:
    """/healthz answers 200 when ok and 503 with the reason when degraded; /metrics is Prometheus text."""
    state = {"h": Health(True, "store reachable")}
    handle = start_http("127.0.0.1", 0, lambda: state["h"])
    try:
        base = f"http://127.0.0.1:{handle.port}"
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as r:
            assert r.status == 200
            assert json.loads(r.read())["status"] == "ok"
        state["h"] = Health(False, "store unreachable: connection refused")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/healthz", timeout=5)
        assert err.value.code == 503
        assert "connection refused" in json.loads(err.value.read())["detail"]
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as r:
            assert b"# HELP" in r.read()
    finally:
        handle.stop()


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, its handlers and level put back after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(
    ("program", "argv"),
    [("shipper", ["--log-level", "DEBUG", "check"]), ("alerter", ["--log-level", "DEBUG", "check"])],
)
def test_log_level_flag_beats_the_environment(
    program: str,
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    root_logger: logging.Logger,
) -> None:
    """`LOG_LEVEL=ERROR <program> --log-level DEBUG ...` logs at DEBUG: a flag beats the environment."""
    from alerter.cli import main as alerter_main
    from shipper.cli import main as shipper_main

    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(f"store:\n  sqlite:\n    path: {tmp_path / 'x.db'}\nalerter:\n  rules: []\n")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    main = shipper_main if program == "shipper" else alerter_main
    main(["-c", str(cfg), *argv])
    assert root_logger.level == logging.DEBUG


def test_log_level_environment_then_info(
    monkeypatch: pytest.MonkeyPatch, root_logger: logging.Logger
) -> None:
    """Without the flag, $LOG_LEVEL applies; without either, INFO."""
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    setup_logging(None)
    assert root_logger.level == logging.ERROR
    monkeypatch.delenv("LOG_LEVEL")
    setup_logging(None)
    assert root_logger.level == logging.INFO
