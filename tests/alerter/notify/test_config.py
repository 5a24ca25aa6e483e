"""The notify: section of logwarden.yaml: defaults, validation errors with file/line/key, no secrets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from alerter.notify import build_notifier, check_channels
from logstore.config import ConfigError
from logwarden.config import load_config


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "logwarden.yaml"
    p.write_text(text)
    return p


def test_config_without_notify_section_loads_with_defaults(tmp_path: Path) -> None:
    """A logwarden.yaml with no notify: section gives every notify field its default."""
    cfg = load_config(_write(tmp_path, "store:\n  sqlite:\n    path: x.db\n"), env={})
    n = cfg.notify
    assert n.channels == [] and n.routes == []
    assert n.group_wait == timedelta(seconds=30) and n.repeat_interval == timedelta(hours=4)
    assert n.send_resolved is True and n.rate_limit.count == 20 and n.group_by == ["rule"]


def test_full_notify_section_parses(tmp_path: Path) -> None:
    """Channels, routes, timers, rate limits and retry settings all parse from YAML."""
    text = """
notify:
  channels:
    - {name: oncall, url: "json://127.0.0.1:8080/hook", tags: [pager]}
    - name: ops-mail
      url: "mailto://127.0.0.1:2525?from=a@example.com&to=b@example.com"
      tags: ops
      rate_limit: {count: 3, per: 10m, sample: 2}
  routes:
    - {severity: [critical], channels: [pager]}
  group_by: [rule, host.name]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 2h
  send_resolved: false
  retry: {initial: 1s, max: 1m}
"""
    n = load_config(_write(tmp_path, text), env={}).notify
    assert [c.name for c in n.channels] == ["oncall", "ops-mail"]
    assert n.channels[1].tags == ["ops"]
    assert n.rate_limit_for("ops-mail").count == 3 and n.rate_limit_for("oncall").count == 20
    assert n.group_by == ["rule", "host.name"] and n.send_resolved is False
    assert n.retry.max == timedelta(minutes=1)


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "notify:\n  channels:\n    - {name: a, url: 'json://h/x', color: red}\n",
            "logwarden.yaml:3: notify.channels[0].color: unknown key",
        ),
        (
            "notify:\n  group_wait: soon\n",
            "logwarden.yaml:2: notify.group_wait: expected a duration like 14d, 30s, 5m or 1h",
        ),
        (
            "notify:\n  channels:\n    - {name: a, url: 'json://h/x'}\n    - {name: a, url: 'json://h/y'}\n",
            "logwarden.yaml:2: notify.channels: channel name 'a' is used twice",
        ),
        (
            "notify:\n  channels:\n    - {name: a, url: 'json://h/x'}\n  routes:\n    - {channels: [nope]}\n",
            "logwarden.yaml:1: notify: routes[0]: no channel named or tagged 'nope'",
        ),
        (
            "notify:\n  rate_limit: {count: 0}\n",
            "logwarden.yaml:2: notify.rate_limit.count: input should be greater than or equal to 1",
        ),
    ],
)
def test_bad_notify_config_names_file_line_and_key(tmp_path: Path, yaml_text: str, expected: str) -> None:
    """Each mistake in notify: is one line naming the file, the line and the key path."""
    path = _write(tmp_path, yaml_text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value) == expected.replace("logwarden.yaml", str(path))


def test_url_without_scheme_is_refused_without_echoing_it(tmp_path: Path) -> None:
    """A channel URL that is not scheme://... is a config error that does not repeat the URL."""
    text = "notify:\n  channels:\n    - {name: a, url: 'hunter2secret'}\n"
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text), env={})
    msg = str(err.value)
    assert msg.endswith(
        "logwarden.yaml:3: notify.channels[0].url: expected an apprise URL like json://host/path or mailto://user@host"
    )
    assert "hunter2secret" not in msg


def test_unknown_apprise_scheme_fails_check_and_build_without_the_url(tmp_path: Path) -> None:
    """check_channels names file, line and channel for a URL apprise rejects; build_notifier refuses it."""
    text = (
        "store:\n  sqlite:\n    path: " + str(tmp_path / "x.db") + "\n"
        "notify:\n  channels:\n    - {name: ok, url: 'json://127.0.0.1:9/x'}\n"
        "    - name: bad\n      url: 'nosuch://user:hunter2secret@host/tok'\n"
    )
    path = _write(tmp_path, text)
    config = load_config(path, env={})
    [line] = check_channels(config)
    assert line.startswith(
        f"{path}:8: notify.channels[1].url: apprise does not understand this nosuch:// URL"
    )
    assert "'bad'" in line and "hunter2secret" not in line and "/tok" not in line
    with pytest.raises(ConfigError) as err:
        build_notifier(config, None)
    assert str(err.value) == line


def test_channel_url_is_secret_in_repr_and_redacted_dump(tmp_path: Path) -> None:
    """Channel URLs never appear in a repr or in the printable dump of the section."""
    text = "notify:\n  channels:\n    - {name: m, url: 'mailto://bob:hunter2secret@127.0.0.1:25?from=bob@example.com&to=x@example.com'}\n"
    n = load_config(_write(tmp_path, text), env={}).notify
    assert "hunter2secret" not in repr(n)
    dumped = n.redacted()
    assert "hunter2secret" not in str(dumped)
    assert dumped["channels"][0]["url"].startswith("mailto://bob:****@127.0.0.1")


def test_unknown_targets_reports_names_that_match_no_channel_or_tag() -> None:
    """unknown_targets (for alerter check) knows channel names, tags and the alerter meta channel."""
    from tests.alerter.notify.conftest import notify_config

    n = notify_config()
    assert n.unknown_targets(["oncall", "pager", "ops", "alerter", "nobody"]) == ["nobody"]
