"""A backend is one package plus one registry line: a toy in-memory backend, registered here only.

With ``tests/toy/store.py`` registered (and its contract entry added), the contract checks, ``logq``,
``alerter run --once`` and ``shipper run --once`` all run on it, with no other file touched.
"""

from __future__ import annotations

import io as io_module
from collections.abc import Iterator
from pathlib import Path

import pytest

from logstore import BACKENDS
from logstore.config import StoreConfig
from tests.logstore import test_contract as contract
from tests.logstore.conftest import CONTRACT, ContractBackend
from tests.toy.store import BACKEND, STORES, ToyConfig, ToyStore

# The contract checks the toy implements; the query table's full Lucene semantics (analyzers,
# dates, escapes) are the real backends' job, not a toy's.
test_write_is_idempotent = contract.test_write_is_idempotent
test_duplicate_inside_one_batch = contract.test_duplicate_inside_one_batch
test_rejected_doc_does_not_sink_the_batch = contract.test_rejected_doc_does_not_sink_the_batch
test_stored_source_is_nested_and_carries_event_id = contract.test_stored_source_is_nested_and_carries_event_id
test_search_order_and_tiebreak = contract.test_search_order_and_tiebreak
test_search_after_cursor_and_limit = contract.test_search_after_cursor_and_limit
test_search_time_window = contract.test_search_time_window
test_search_streams_more_hits_than_one_page = contract.test_search_streams_more_hits_than_one_page
test_aggregate_ungrouped_count_and_ratio = contract.test_aggregate_ungrouped_count_and_ratio
test_aggregate_group_by_two_fields = contract.test_aggregate_group_by_two_fields
test_aggregate_date_histogram = contract.test_aggregate_date_histogram
test_aggregate_several_requests_in_one_call = contract.test_aggregate_several_requests_in_one_call
test_retention_drops_old_docs = contract.test_retention_drops_old_docs
corpus_store = contract.corpus_store


@pytest.fixture(autouse=True)
def toy_registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The one registry line, for this module only; every test starts with an empty toy store."""
    monkeypatch.setitem(BACKENDS, "toy", BACKEND)
    monkeypatch.setitem(CONTRACT, "toy", ContractBackend("toy_store_config", lambda s, _page: ToyStore(s)))
    STORES.clear()
    yield
    STORES.clear()


@pytest.fixture
def toy_store_config() -> StoreConfig:
    return StoreConfig.model_validate({"toy": ToyConfig()})


@pytest.fixture
def store_config(toy_store_config: StoreConfig) -> StoreConfig:
    """The contract checks above run on the toy only (the real backends run them in tests/logstore)."""
    return toy_store_config


def _config(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text(
        '{"@timestamp": "2026-01-10T12:00:00Z", "log.level": "error", "message": "disk full"}\n'
        '{"@timestamp": "2026-01-10T12:00:01Z", "log.level": "info", "message": "retrying"}\n'
    )
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "errors.yaml").write_text(
        "name: any-error\nquery: 'disk'\nevery: 1s\nwindow: 3650d\ncondition: {count: {gt: 0}}\n"
    )
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(
        "store:\n  toy: {}\n"
        f"shipper:\n  registry: {tmp_path / 'registry.db'}\n"
        f"  inputs:\n    - paths: ['{logs}/*.log']\n      format: json\n      service: app\n"
        f"alerter:\n  rules: [{rules}]\n"
    )
    return cfg


def test_config_names_the_toy_backend(tmp_path: Path) -> None:
    """A registered backend's name is a valid ``store`` key; its section is its own config model."""
    from logwarden.config import load_config

    config = load_config(_config(tmp_path), env={})
    assert config.store.backend == "toy" and isinstance(config.store.settings, ToyConfig)


def test_shipper_logq_and_alerter_run_on_the_toy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """shipper run --once ships into the toy, logq reads it back, alerter run --once fires on it."""
    from alerter.cli import main as alerter_main
    from logq.cli import Io, run
    from shipper.cli import main as shipper_main

    cfg = _config(tmp_path)
    assert shipper_main(["run", "--once", "-c", str(cfg)]) == 0
    assert STORES["default"].count("") == 2

    out = io_module.BytesIO()
    err = io_module.StringIO()
    env: dict[str, str] = {}
    assert run(["-c", str(cfg), "disk", "--since", "3650d", "-o", "json"], Io(out, err, False, env)) == 0
    assert b"disk full" in out.getvalue() and b"retrying" not in out.getvalue(), err.getvalue()
    count = io_module.BytesIO()
    assert run(["-c", str(cfg), "--since", "3650d", "--count"], Io(count, err, False, env)) == 0
    assert count.getvalue().strip() == b"2"

    assert alerter_main(["run", "--once", "-c", str(cfg)]) == 0
