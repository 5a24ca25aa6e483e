"""JSON-line logging and the /healthz + /metrics endpoint."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from logstore.observe import JsonFormatter, log_event, setup_logging, start_http
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


def test_log_event_passes_fields(caplog: pytest.LogCaptureFixture) -> None:
    """log_event attaches keyword fields to the record."""
    logger = logging.getLogger("t")
    with caplog.at_level(logging.INFO):
        log_event(logger, "batch sent", docs=10)
    assert caplog.records[-1].docs == 10  # type: ignore[attr-defined]


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
