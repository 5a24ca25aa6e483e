"""alerter check warns about fields no doc has (with the closest name) and group_by fields docs lack."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerter.cli import main
from logstore import open_store
from logstore.config import SqliteConfig, StoreConfig
from logstore.types import Doc, datetime_to_ms, format_ts
from tests.alerter.helpers import write_yaml


def _store(tmp_path: Path) -> None:
    store = open_store(StoreConfig(sqlite=SqliteConfig(path=tmp_path / "db.sqlite")))
    now = datetime_to_ms(datetime.now(UTC))
    docs = []
    for i in range(20):
        ms = now - i * 60_000
        source = {"@timestamp": format_ts(ms), "message": "GET /", "http": {"response": {"status_code": 502}}}
        if i % 4:
            source["host"] = {"name": "web1"}
        docs.append(Doc(id=f"d{i}", ts=ms, source=source))
    store.write(docs)
    store.close()


def test_check_warns_on_a_misspelt_field_and_a_group_field_some_docs_lack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """http.status never appears (did you mean http.response.status_code?); 5 of 20 docs lack host.name."""
    _store(tmp_path)
    rules = write_yaml(
        tmp_path / "rules" / "r.yaml",
        "- name: typo\n  query: 'http.status:502'\n  every: 1m\n  condition: {count: {gt: 5}}\n"
        "- name: by-host\n  query: 'http.response.status_code:502'\n  every: 1m\n  group_by: [host.name]\n"
        "  condition: {count: {gt: 5}}\n",
    )
    cfg = write_yaml(
        tmp_path / "logwarden.yaml",
        f"store:\n  sqlite: {{path: {tmp_path / 'db.sqlite'}}}\nalerter:\n  rules: [{rules.parent}]\n",
    )
    assert main(["check", "-c", str(cfg)]) == 0
    err = capsys.readouterr().err
    typo = "query: http.status: no such field in 20 docs; did you mean http.response.status_code?"
    assert f"warning: {rules}:2: {typo}" in err
    assert f"warning: {rules}:8: group_by: host.name: 5 of 20 matching docs in the last day lack it" in err


def test_check_says_when_there_is_no_store_to_look_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No store yet: check passes and says the field checks were skipped, and why."""
    write_yaml(
        tmp_path / "rules" / "r.yaml", "name: r\nquery: 'a:1'\nevery: 1m\ncondition: {count: {gt: 5}}\n"
    )
    cfg = write_yaml(
        tmp_path / "logwarden.yaml",
        f"store:\n  sqlite: {{path: {tmp_path / 'db.sqlite'}}}\nalerter:\n  rules: [{tmp_path / 'rules'}]\n",
    )
    assert main(["check", "-c", str(cfg)]) == 0
    assert "warning: field checks skipped: no store at" in capsys.readouterr().err
    assert not (tmp_path / "db.sqlite").exists()
