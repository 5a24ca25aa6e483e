"""What every logwarden program does alike: --version, a quiet end on a closed pipe, -o json rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from logwarden import __version__

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "LOG_LEVEL": "ERROR"}
PROGRAMS = {"shipper": "shipper.cli", "alerter": "alerter.cli", "logq": "logq.cli"}


def _cli(program: str, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", PROGRAMS[program], *args],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        **kw,  # type: ignore[call-overload]
    )


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_version(program: str) -> None:
    """`PROGRAM --version` prints the program's name and the logwarden version, exit 0."""
    done = _cli(program, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{program} {__version__}"
    assert __version__ != "0+unknown", "the package is installed (pip install -e .)"


def _store_config(tmp_path: Path) -> Path:
    db = tmp_path / "db.sqlite"
    cfg = tmp_path / "logwarden.yaml"
    log = tmp_path / "app.log"
    log.write_text('{"message": "hello", "level": "error"}\n' * 50)
    cfg.write_text(
        f"store:\n  sqlite: {{path: {db}}}\n"
        f"shipper:\n  registry: {tmp_path / 'reg.db'}\n  inputs:\n    - {{paths: ['{log}'], format: json}}\n"
        f"alerter:\n  rules: [{REPO / 'rules'}]\n"
    )
    done = _cli("shipper", "run", "--once", "-c", str(cfg))
    assert done.returncode == 0, done.stderr
    return cfg


def _closed_reader(program: str, *args: str) -> tuple[int, str]:
    """Run PROGRAM with stdout on a pipe whose only reader closed before the program wrote."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", PROGRAMS[program], *args],
        cwd=REPO,
        env=ENV,
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write_end)
    os.close(read_end)  # the reader went away (as `| head -1` does once it has its line)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


@pytest.fixture(scope="module")
def store_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _store_config(tmp_path_factory.mktemp("pipe"))


@pytest.mark.parametrize(
    "argv",
    [
        ("alerter", "schema"),
        ("alerter", "test", str(REPO / "rules" / "tests" / "nginx-502-storm.yaml")),
        ("alerter", "status", "-c", "{cfg}"),
        ("alerter", "check", "-c", "{cfg}"),
        ("alerter", "--version"),
        ("shipper", "check", "-c", "{cfg}"),
        ("shipper", "status", "-c", "{cfg}"),
        ("shipper", "status", "-o", "json", "-c", "{cfg}"),
        ("shipper", "dlq", "list", "-o", "json", "-c", "{cfg}"),
        ("logq", "-c", "{cfg}", "--since", "1d", "-o", "json"),
    ],
    ids=lambda a: " ".join(x for x in a if x not in ("-c", "{cfg}")),
)
def test_a_closed_pipe_ends_quietly(argv: tuple[str, ...], store_config: Path) -> None:
    """`PROGRAM ... | head -1`: no BrokenPipeError traceback, nothing on stderr, exit 0."""
    program, *args = (a.replace("{cfg}", str(store_config)) for a in argv)
    code, err = _closed_reader(program, *args)
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err
    assert code == 0, err  # shipper status's table too (rich alone would end it with exit 1)


TS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def test_alerter_status_and_silence_list_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`alerter status -o json` and `silence list -o json`: compact lines, RFC 3339 times, null not "-"."""
    import re

    from alerter.cli import main

    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(
        f"store:\n  sqlite: {{path: {tmp_path / 'db.sqlite'}}}\nalerter:\n  rules: [{REPO / 'rules'}]\n"
    )
    assert main(["run", "--once", "-c", str(cfg)]) in (0, 1)
    capsys.readouterr()
    assert main(["status", "-o", "json", "-c", str(cfg)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(", " not in line[:2] and '": ' not in line for line in lines), "compact, like logq"
    rows = [json.loads(line) for line in lines]
    assert all(re.match(TS, r["next_eval"]) and re.match(TS, r["last_eval"]) for r in rows)
    assert all(isinstance(r["group"], dict) and r["value"] != "-" for r in rows)
    assert main(["silence", "add", "-c", str(cfg), "--rule", "*", "--for", "1h", "--comment", "why"]) == 0
    sid = capsys.readouterr().out.strip()
    assert main(["silence", "list", "-o", "json", "-c", str(cfg)]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["id"] == sid and row["rule"] == "*" and row["match"] == [] and row["active"] is True
    assert re.match(TS, row["ends_at"])
    assert main(["silence", "list", "--json", "-c", str(cfg)]) == 0, "--json is an alias of -o json"
    assert json.loads(capsys.readouterr().out)["id"] == sid
