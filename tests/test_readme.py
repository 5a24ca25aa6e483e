"""Every command in README.md works as written (or is covered by the named test that runs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# Commands a unit test cannot run here, and the test that covers each instead.
COVERED_ELSEWHERE = {
    "make test": "CI itself (.ci/run)",
    "make run": "tests/deploy/test_demo.py runs examples/demo.py end to end",
    "docker compose": "tests/deploy/test_compose.py (no Docker engine on test machines)",
}


def readme_commands() -> list[str]:
    """Lines starting with '$ ' inside ```console blocks, comments stripped."""
    commands: list[str] = []
    in_console = False
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            in_console = line.strip() == "```console"
            continue
        if in_console and line.startswith("$ "):
            cmd = line[2:]
            cmd = re.sub(r"\s+#\s.*$", "", cmd).strip()
            commands.append(cmd)
    return commands


def test_readme_has_the_two_setup_commands() -> None:
    """The README gives make test and make run as the set-up commands."""
    commands = readme_commands()
    assert commands[:2] == ["make test", "make run"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repo's examples, rules and compose dirs, with demo logs shipped into SQLite."""
    ws = tmp_path_factory.mktemp("readme")
    for name in ("examples", "rules", "compose"):
        shutil.copytree(ROOT / name, ws / name)
    logs = ws / "data" / "demo" / "logs"
    subprocess.run(
        [sys.executable, "examples/traffic.py", "--out", str(logs), "--rate", "200", "--duration", "4",
         "--storm-offset", "1s", "--storm-length", "2s", "--seed", "7", "--quiet"],
        cwd=ws, check=True, timeout=60,
    )  # fmt: skip
    subprocess.run(
        [_bin("shipper"), "-c", "examples/logwarden.yaml", "run", "--once"],
        cwd=ws, check=True, timeout=120, env=_env(), capture_output=True,
    )  # fmt: skip
    return ws


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("LOGWARDEN_CONFIG", None)
    return env


def test_every_readme_command_runs(workspace: Path) -> None:
    """Each README command exits 0 in a workspace that ran the demo's traffic through the shipper."""
    ran = 0
    for cmd in readme_commands():
        if any(cmd.startswith(prefix) for prefix in COVERED_ELSEWHERE):
            continue
        proc = subprocess.run(
            ["bash", "-c", cmd], cwd=workspace, env=_env(), capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, (
            f"{cmd!r} exited {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
        ran += 1
    assert ran >= 10
