"""`alerter silence add|list|expire` on an argparse tree, against a real SQLite state file."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerter.notify.cli import add_silence_commands
from logwarden.config import Config, load_config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="alerter")
    add_silence_commands(p.add_subparsers(dest="command", required=True))
    return p


def _config_file(tmp_path: Path) -> Path:
    # silence add checks that the rule exists: the config names one rule file.
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "nginx.yaml").write_text(
        "name: nginx-502-storm\nevery: 1m\ncondition: {count: {gt: 50}}\ngroup_by: [host.name]\n"
    )
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(f"store:\n  sqlite:\n    path: {tmp_path / 'lw.db'}\nalerter:\n  rules: [rules/]\n")
    return cfg


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return int(args.func(args))


def test_add_list_expire_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """add prints an id; list shows rule, matchers, author and comment; expire ends it; list is empty."""
    cfg = str(_config_file(tmp_path))
    argv = ["silence", "add", "-c", cfg, "--rule", "nginx-502-storm", "--match", "host.name=web1"]
    assert _run([*argv, "--for", "2h", "--comment", "deploy of web1", "--author", "ana"]) == 0
    sid = capsys.readouterr().out.strip()
    assert len(sid) == 12
    assert _run(["silence", "list", "-c", cfg]) == 0
    out = capsys.readouterr().out
    assert (
        sid in out and "host.name=web1" in out and "ana" in out and "deploy of web1" in out and "1h59m" in out
    )
    assert _run(["silence", "expire", "-c", cfg, sid]) == 0
    assert capsys.readouterr().out.strip() == f"expired {sid}"
    assert _run(["silence", "list", "-c", cfg]) == 0
    assert capsys.readouterr().out.strip() == "no active silences"
    assert _run(["silence", "list", "-c", cfg, "--all"]) == 0
    assert "ended" in capsys.readouterr().out


def test_handler_takes_args_and_loaded_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """args.handler(args, config) works for a caller that already loaded the config."""
    config = load_config(_config_file(tmp_path), env={})
    args = _parser().parse_args(["silence", "add", "--rule", "*", "--for", "30m", "--comment", "maintenance"])
    assert args.handler(args, config) == 0
    assert capsys.readouterr().out.strip()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--for", "soon", "--comment", "x"], "alerter silence: --for 'soon': expected a duration"),
        (
            ["--for", "1h", "--comment", "x", "--match", "nohost"],
            "alerter silence: --match 'nohost': expected KEY=VALUE",
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    """A bad --for or --match prints one line naming the argument and exits 2."""
    cfg = str(_config_file(tmp_path))
    assert _run(["silence", "add", "-c", cfg, "--rule", "r", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_expire_unknown_id_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Expiring an id that is not an active silence is a user error (exit 2, one line)."""
    assert _run(["silence", "expire", "-c", str(_config_file(tmp_path)), "deadbeef"]) == 2
    assert "no active silence with id 'deadbeef'" in capsys.readouterr().err


def test_bad_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A broken logwarden.yaml is reported in one line with exit code 2, no traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("notify:\n  group_wait: soon\n")
    assert _run(["silence", "list", "-c", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:2: notify.group_wait" in err and "Traceback" not in err


def test_silences_on_elasticsearch_backend(es_store_config: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """With store.elasticsearch the silence commands keep silences in the state index (osmem)."""
    config = Config(store=es_store_config)
    args = _parser().parse_args(["silence", "add", "--rule", "r*", "--for", "1h", "--comment", "es"])
    assert args.handler(args, config) == 0
    sid = capsys.readouterr().out.strip()
    args = _parser().parse_args(["silence", "list"])
    assert args.handler(args, config) == 0
    assert sid in capsys.readouterr().out
    args = _parser().parse_args(["silence", "expire", sid])
    assert args.handler(args, config) == 0


def test_add_for_an_unknown_rule_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """silence add for a rule no rule file defines is a typo: exit 2, one line naming it; a glob is fine."""
    cfg = str(_config_file(tmp_path))
    assert (
        _run(["silence", "add", "-c", cfg, "--rule", "nginx-520-storm", "--for", "1h", "--comment", "x"]) == 2
    )
    err = capsys.readouterr().err
    assert (
        err.startswith("alerter silence: --rule 'nginx-520-storm': no rule of that name")
        and err.count("\n") == 1
    )
    assert _run(["silence", "add", "-c", cfg, "--rule", "nginx-*", "--for", "1h", "--comment", "x"]) == 0


def test_add_with_operators_start_and_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--match takes =~ and !=, --start/--end set the window; list -o json shows both."""
    cfg = str(_config_file(tmp_path))
    argv = ["silence", "add", "-c", cfg, "--rule", "nginx-502-storm", "--comment", "maintenance"]
    match = ["--match", "host.name=~web[12]", "--match", "team!=db"]
    assert _run([*argv, *match, "--start", "now+1h", "--end", "now+3h"]) == 0
    sid = capsys.readouterr().out.strip()
    assert _run(["silence", "list", "-c", cfg]) == 0
    assert capsys.readouterr().out.strip() == "no active silences"  # it starts in an hour
    assert _run(["silence", "list", "-c", cfg, "--all", "-o", "json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["id"] == sid and row["match"] == ["host.name=~web[12]", "team!=db"] and not row["active"]
    start, end = (datetime.fromisoformat(row[k].replace("Z", "+00:00")) for k in ("starts_at", "ends_at"))
    assert end - start == timedelta(hours=2)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--match", "host.name=~web["],
            "alerter silence: --match 'host.name=~web[': bad regular expression",
        ),
        (["--for", "1h", "--end", "now+2h"], "alerter silence: give exactly one of --end or --for"),
        ([], "alerter silence: give exactly one of --end or --for"),
        (["--end", "yesterday"], "alerter silence: --end 'yesterday'"),
        (["--end", "now-1h"], "alerter silence: --end 'now-1h' is not after the start and now"),
    ],
)
def test_bad_matchers_and_times_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    """A bad regex, both or neither of --end/--for, or an end in the past: one line, exit 2."""
    cfg = str(_config_file(tmp_path))
    argv = ["silence", "add", "-c", cfg, "--rule", "nginx-502-storm", "--comment", "x"]
    if "--for" not in extra and "--end" not in extra and extra:
        extra = [*extra, "--for", "1h"]
    assert _run([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
