"""`alerter test` fixtures that assert notifications: the real pipeline on the case's clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.cli import main
from tests.alerter.helpers import write_yaml

RULES = """
- {name: down, query: 'log.level:fatal', every: 1m, window: 1m, group_by: [service.name],
   condition: {count: {gt: 0}}}
- {name: errors, query: 'log.level:error', every: 1m, window: 1m, group_by: [service.name],
   condition: {count: {gt: 0}}}
"""

HEAD = """rules: [rules.yaml]
notify:
  channels: [{name: oncall, url: "json://localhost/oncall"}]
  routes: [{channels: [oncall]}]
  group_by: [rule, service.name]
  inhibit: [{source_matchers: [rule=down], target_matchers: [rule=errors], equal: [service.name]}]
cases:
  - name: api down mutes api errors until it resolves; web errors page
    until: 7m
    events:
      - {at: 0s, repeat: 4, interval: 10s, doc: {service.name: api, log.level: fatal}}
      - {at: 0s, repeat: 42, interval: 10s, doc: {service.name: api, log.level: error}}
      - {at: 0s, repeat: 42, interval: 10s, doc: {service.name: web, log.level: error}}
    notifications:
"""

TIMELINE = """\
      - {at: 1m30s, channel: oncall, title: FIRING down service.name=api}
      - {at: 1m30s, channel: oncall, title: FIRING errors service.name=web}
      - {at: 6m30s, channel: oncall, title: RESOLVED down service.name=api}
      - {at: 6m30s, channel: oncall, title: FIRING errors service.name=api, contains: [service.name=api]}
"""


def _cases(tmp_path: Path, notifications: str) -> Path:
    write_yaml(tmp_path / "rules.yaml", RULES)
    return write_yaml(tmp_path / "cases.yaml", HEAD + notifications)


def test_inhibition_timeline_from_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """t=1m api down and api/web errors fire; 1m30s: down and web paged, api errors muted; down resolves
    at 2m; 6m30s (group_interval): RESOLVED down and the api errors page."""
    assert main(["test", str(_cases(tmp_path, TIMELINE))]) == 0, capsys.readouterr().out


def test_a_wrong_or_missing_message_fails_naming_what_was_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Expecting api errors at 1m30s fails (it was muted) and the 6m30s message is reported as unexpected."""
    wrong = TIMELINE.replace(
        "at: 6m30s, channel: oncall, title: FIRING errors", "at: 1m30s, channel: oncall, title: FIRING errors"
    )
    assert main(["test", str(_cases(tmp_path, wrong))]) == 1
    out = capsys.readouterr().out
    assert "expected a message 'FIRING errors service.name=api' on oncall at 90s" in out
    assert "got '[WARNING] FIRING down service.name=api' at 90s;" in out
    assert "unexpected message '[WARNING] FIRING errors service.name=api' on oncall at 390s" in out


def test_notifications_without_notify_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """notifications: in a file without notify: is one line naming the file, exit 2."""
    write_yaml(tmp_path / "rules.yaml", RULES)
    head = HEAD.split("notify:")[0] + "cases:" + HEAD.split("cases:")[1]
    cases = write_yaml(tmp_path / "cases.yaml", head + TIMELINE)
    assert main(["test", str(cases)]) == 2
    err = capsys.readouterr().err
    assert "cases.yaml" in err and "notifications: need a notify: section" in err and err.count("\n") == 1
