"""Summary templates have a time budget and an output cap; a template over either fails its rule alone."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from alerter import templates
from alerter.config import AlerterConfig
from alerter.engine import Engine
from alerter.state import MemoryStateStore
from alerter.templates import TemplateLimit, render
from logstore.config import SqliteConfig, StoreConfig
from tests.alerter.helpers import Recorder, at, events, rule, write_yaml

SLOW = "{% for i in range(100000) %}{% for j in range(300) %}{% endfor %}{% endfor %}x"


@pytest.fixture(autouse=True)
def _short_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "BUDGET_S", 0.3)


def test_a_slow_template_stops_at_its_budget() -> None:
    """30 million loop steps are cut at the budget (0.3 s here) instead of running for seconds."""
    started = time.monotonic()
    with pytest.raises(TemplateLimit, match=r"longer than 0\.3 s"):
        render(SLOW, {})
    assert time.monotonic() - started < 2.0


def test_a_huge_product_is_refused_before_it_is_built() -> None:
    """'A' * 30,000,000 is refused by the sandbox, not rendered into a 30 MB message."""
    with pytest.raises(TemplateLimit, match="over 100,000 items"):
        render("{{ 'A' * 30000000 }}", {})
    assert render("{{ 'ab' * 3 }}", {}) == "ababab"


def test_output_over_the_cap_is_refused() -> None:
    """A loop writing 10,000 characters is over the 4,096-character cap."""
    with pytest.raises(TemplateLimit, match="over 4,096 characters"):
        render("{% for i in range(1000) %}0123456789{% endfor %}", {})


def test_the_budget_is_withdrawn_after_a_fast_render() -> None:
    """A render that ends in time leaves no pending timeout behind to strike later code."""
    for _ in range(50):
        assert render("{{ n + 1 }}", {"n": 1}) == "2"
    time.sleep(0.5)  # past the budget: a leftover timer would raise here


def test_slow_template_fails_its_rule_alone_and_raises_a_meta_alert(tmp_path: Path) -> None:
    """On one tick the slow-summary rule goes to error (meta-alert after 2 ticks); its batch-mate fires."""
    from logstore import open_store

    store = open_store(StoreConfig(sqlite=SqliteConfig(path=tmp_path / "db.sqlite")))
    try:
        events(store, -10, 5, 1, "e", **{"log": {"level": "error"}})
        slow = rule(
            f"name: slow\nquery: 'log.level:error'\nevery: 1m\nwindow: 5m\nsummary: '{SLOW}'\n"
            "condition: {count: {gt: 0}}\n"
        )
        fast = rule(
            "name: fast\nquery: 'log.level:error'\nevery: 1m\nwindow: 5m\ncondition: {count: {gt: 0}}\n"
        )
        recorder = Recorder()
        eng = Engine(store, recorder, MemoryStateStore(), AlerterConfig(failures_before_meta_alert=2))
        eng.set_rules([slow, fast])
        eng.evaluate([(slow, at(0)), (fast, at(0))], at(0))
        eng.evaluate([(slow, at(60)), (fast, at(60))], at(60))
        states = [(e.rule, e.state) for e in recorder.events]
        assert ("fast", "firing") in states
        assert ("alerter:slow", "error") in states
        assert not any(r == "slow" for r, _ in states)
        assert "summary template: template took longer" in eng.metas["slow"].last_error
    finally:
        store.close()


def test_check_renders_every_summary_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """alerter check fails (exit 2) naming the file, line and key of a summary over its budget."""
    from alerter.cli import main

    rules = write_yaml(
        tmp_path / "rules" / "slow.yaml",
        f"name: slow\nquery: '*'\nevery: 1m\ncondition: {{count: {{gt: 0}}}}\nsummary: '{SLOW}'\n",
    )
    cfg = write_yaml(
        tmp_path / "logwarden.yaml",
        f"store:\n  sqlite: {{path: {tmp_path / 'db.sqlite'}}}\nalerter:\n  rules: [{rules.parent}]\n",
    )
    assert main(["check", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"{rules}:5: summary: template took longer than 0.3 s" in err


@pytest.fixture(autouse=True)
def _forget_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "_refused", {})
