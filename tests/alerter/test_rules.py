"""Rule model and loader: every mistake is one line naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.rules.loader import load_rules, parse_rule_file
from logwarden.config import load_config

BAD = Path(__file__).parent / "bad_rules"
RULES = Path(__file__).parents[2] / "rules"
CASES = sorted(BAD.glob("*.yaml"))

CONFIG = """
notify:
  channels:
    - {name: oncall, url: "json://127.0.0.1:9/hook", tags: [web]}
"""


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_rule_file_gives_the_exact_error(path: Path, tmp_path: Path) -> None:
    """Each bad fixture file produces exactly the one-line error stored next to it."""
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(CONFIG)
    result = load_rules([path], load_config(cfg, env={}))
    got = [e.replace(str(BAD) + "/", "") for e in result.errors]
    assert got == path.with_suffix(".err").read_text().splitlines()


def test_shipped_rules_are_valid() -> None:
    """Every example rule under rules/ validates, with unique names."""
    result = load_rules([RULES])
    assert result.errors == []
    names = {rs.rule.name for rs in result.rules}
    assert {
        "nginx-502-storm",
        "error-rate",
        "p99-latency",
        "service-silent",
        "error-spike",
        "new-error-type",
    } <= names


def test_a_list_file_keeps_its_good_rules_when_one_is_bad() -> None:
    """In a list file, the valid rules load even when a sibling rule is broken."""
    rules, errors = parse_rule_file(BAD / "list_second_bad.yaml")
    assert [rs.rule.name for rs in rules] == ["ok-rule"]
    assert len(errors) == 1


def test_duplicate_rule_names_are_reported(tmp_path: Path) -> None:
    """Two rules with one name are an error naming both places."""
    body = "name: same\nevery: 1m\ncondition: {count: {gt: 1}}\n"
    (tmp_path / "a.yaml").write_text(body)
    (tmp_path / "b.yaml").write_text(body)
    result = load_rules([tmp_path])
    assert len(result.errors) == 1
    assert "b.yaml:1: name: rule 'same' is also defined at" in result.errors[0]


def test_threshold_text_and_tags_are_accepted(tmp_path: Path) -> None:
    """A rule may notify a channel tag; threshold text is human readable."""
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(CONFIG)
    f = tmp_path / "r.yaml"
    f.write_text(
        "name: r\nevery: 30s\nnotify: [web, alerter]\ncondition: {metric: {field: ms, agg: p95, gte: 2.5}}\n"
    )
    result = load_rules([f], load_config(cfg, env={}))
    assert result.errors == []
    assert result.rules[0].rule.threshold_text() == ">= 2.5"


def test_top_shorthand_and_full_form() -> None:
    """`top: [a, b]` means fields a and b with n 5; `top: {fields: [a], n: 3}` sets n."""
    from tests.alerter.helpers import rule

    short = rule("name: r\nevery: 1m\ncondition: {count: {gt: 1}}\ntop: [url.path, source.ip]\n")
    assert short.top is not None and short.top.fields == ["url.path", "source.ip"] and short.top.n == 5
    full = rule("name: r\nevery: 1m\ncondition: {count: {gt: 1}}\ntop: {fields: [url.path], n: 3}\n")
    assert full.top is not None and full.top.n == 3


def test_rule_timers_are_carried_in_seconds() -> None:
    """A rule's group_wait / group_interval / repeat_interval become its events' timing, in seconds."""
    from tests.alerter.helpers import rule

    r = rule("name: r\nevery: 1m\ncondition: {count: {gt: 1}}\ngroup_wait: 5s\nrepeat_interval: 1h\n")
    assert r.timing() == {"group_wait": 5.0, "repeat_interval": 3600.0}
    assert rule("name: r\nevery: 1m\ncondition: {count: {gt: 1}}\n").timing() == {}
