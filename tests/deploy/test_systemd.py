"""deploy/: the systemd units parse and carry the hardening keys; the logrotate example is well-formed."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from alerter.rules.loader import load_rules
from logwarden.config import load_config
from tests.deploy._support import DEPLOY

UNITS = {
    "shipper": DEPLOY / "systemd" / "logwarden-shipper.service",
    "alerter": DEPLOY / "systemd" / "logwarden-alerter.service",
}
SERVER_UNIT = DEPLOY / "systemd" / "logwarden-server.service"
# Every unit we ship: the two sidecars above, and the server (whose command is `logwarden serve`).
ALL_UNITS = {**UNITS, "server": SERVER_UNIT}

Unit = dict[str, dict[str, list[str]]]


def parse_unit(path: Path) -> Unit:
    """systemd's INI dialect: sections, repeatable keys, '#'/';' comments, no values without '='."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        assert section is not None, f"{path.name}:{n}: key outside a section"
        assert "=" in line, f"{path.name}:{n}: expected KEY=VALUE"
        key, _, value = line.partition("=")
        assert key.strip() == key and key.isidentifier(), f"{path.name}:{n}: bad key {key!r}"
        section.setdefault(key, []).append(value.strip())
    return unit


def one(unit: Unit, section: str, key: str) -> str:
    values = unit[section].get(key)
    assert values, f"[{section}] {key}= is missing"
    return values[-1]


@pytest.mark.parametrize("name", sorted(ALL_UNITS))
def test_unit_parses_with_the_three_sections(name: str) -> None:
    """Each unit file parses as systemd INI with [Unit], [Service] and [Install] sections."""
    unit = parse_unit(ALL_UNITS[name])
    assert set(unit) == {"Unit", "Service", "Install"}
    assert one(unit, "Install", "WantedBy") == "multi-user.target"
    assert "network-online.target" in one(unit, "Unit", "After")


@pytest.mark.parametrize("name", sorted(UNITS))
def test_unit_runs_the_sidecar_and_always_restarts_it(name: str) -> None:
    """ExecStart runs `<name> run -c FILE` from the venv; Restart=always with no start limit; check first."""
    unit = parse_unit(UNITS[name])
    argv = shlex.split(one(unit, "Service", "ExecStart"))
    assert argv[0].endswith(f"/bin/{name}") and argv[1] == "run" and "-c" in argv
    assert shlex.split(one(unit, "Service", "ExecStartPre"))[1] == "check"
    assert one(unit, "Service", "Restart") == "always"
    assert one(unit, "Unit", "StartLimitIntervalSec") == "0"
    assert one(unit, "Service", "KillSignal") == "SIGTERM"
    # The shipper flushes for up to 10 s on SIGTERM; systemd must wait longer before SIGKILL.
    assert int(one(unit, "Service", "TimeoutStopSec")) > 10


@pytest.mark.parametrize("name", sorted(ALL_UNITS))
def test_unit_is_hardened(name: str) -> None:
    """Dedicated user, read-only system, private tmp, no new privileges, no capabilities, a state dir."""
    unit = parse_unit(ALL_UNITS[name])
    svc = unit["Service"]
    assert one(unit, "Service", "User") == "logwarden"
    assert one(unit, "Service", "Group") == "logwarden"
    expected = {
        "ProtectSystem": "strict",
        "ProtectHome": "true",
        "PrivateTmp": "true",
        "PrivateDevices": "true",
        "NoNewPrivileges": "true",
        "ProtectKernelTunables": "true",
        "ProtectKernelModules": "true",
        "ProtectControlGroups": "true",
        "RestrictSUIDSGID": "true",
        "LockPersonality": "true",
        "StateDirectory": "logwarden",
    }
    for key, value in expected.items():
        assert one(unit, "Service", key) == value, key
    assert svc["CapabilityBoundingSet"] == [""]
    assert "/var/lib/logwarden" in one(unit, "Service", "ReadWritePaths")
    assert one(unit, "Service", "WorkingDirectory") == "/var/lib/logwarden"


def test_shipper_reads_var_log_read_only_through_a_group() -> None:
    """The shipper sees /var/log read-only and reads it through a supplementary group, never as root."""
    unit = parse_unit(UNITS["shipper"])
    assert "/var/log" in one(unit, "Service", "ReadOnlyPaths").split()
    assert one(unit, "Service", "SupplementaryGroups")
    assert "/var/log" not in one(unit, "Service", "ReadWritePaths")


def test_systemd_analyze_verify_accepts_the_units_when_available(tmp_path: Path) -> None:
    """Where systemd-analyze exists, `verify` finds no unknown keys or syntax errors in either unit."""
    tool = shutil.which("systemd-analyze")
    units = [parse_unit(p) for p in ALL_UNITS.values()]
    assert all("Service" in u for u in units)
    if tool is None:
        return
    proc = subprocess.run(
        [tool, "verify", *map(str, ALL_UNITS.values())], capture_output=True, text=True, timeout=60
    )
    # Missing binaries/users on a build machine are expected; unknown keys and bad syntax are not.
    bad = [line for line in proc.stderr.splitlines() if "Unknown key" in line or "Failed to parse" in line]
    assert bad == []


def test_logrotate_example_is_balanced_and_covers_both_rotation_styles() -> None:
    """The logrotate example has balanced stanzas, delaycompress, and both create and copytruncate."""
    text = (DEPLOY / "logrotate" / "logwarden-example").read_text()
    body = "\n".join(line.split("#")[0] for line in text.splitlines())
    depth = 0
    stanzas = 0
    for ch in body:
        if ch == "{":
            depth += 1
            stanzas += 1
        elif ch == "}":
            depth -= 1
        assert 0 <= depth <= 1
    assert depth == 0 and stanzas == 2
    words = body.split()
    for directive in ("compress", "delaycompress", "copytruncate", "create", "postrotate", "endscript"):
        assert directive in words, directive


def test_server_config_writes_only_where_the_units_allow_and_reads_under_var_log() -> None:
    """deploy/logwarden.yaml validates; its store and registry sit in the units' only writable dir."""
    config = load_config(DEPLOY / "logwarden.yaml", {})
    writable = [
        Path(p) for name in UNITS for p in one(parse_unit(UNITS[name]), "Service", "ReadWritePaths").split()
    ]
    assert config.store.sqlite is not None
    for path in (config.store.sqlite.path, config.shipper.registry):
        assert path.is_absolute() and any(path.is_relative_to(w) for w in writable), path
    readable = one(parse_unit(UNITS["shipper"]), "Service", "ReadOnlyPaths").split()
    for inp in config.shipper.inputs:
        for pattern in inp.paths:
            assert any(pattern.startswith(r.rstrip("/") + "/") for r in readable), pattern
    for name in UNITS:
        metrics = getattr(config, name).metrics
        assert metrics.host == "127.0.0.1" and metrics.port  # scraped locally, off the public interface
    # The alerter unit's install steps copy rules/*.yaml into /etc/logwarden/rules/.
    assert config.alerter.rules == ["/etc/logwarden/rules/"]
    assert load_rules([str(DEPLOY.parent / "rules")], config).errors == []


def test_server_unit_serves_its_config_and_keeps_the_store_in_the_state_dir() -> None:
    """The server unit runs `logwarden serve -c FILE`; that file validates, its store sits in the only
    writable directory, and it listens beyond loopback only with TLS and tokens."""
    unit = parse_unit(SERVER_UNIT)
    argv = shlex.split(one(unit, "Service", "ExecStart"))
    assert argv[0].endswith("/bin/logwarden") and argv[1:3] == ["serve", "-c"]
    assert one(unit, "Service", "Restart") == "always"
    tokens = {"WEB1_TOKEN": "a" * 24, "WEB2_TOKEN": "b" * 24, "WEB3_TOKEN": "c" * 24}
    config = load_config(DEPLOY / "server.yaml", tokens)
    assert Path(argv[-1]).name == "server.yaml"
    writable = [Path(p) for p in one(unit, "Service", "ReadWritePaths").split()]
    assert config.store.sqlite is not None
    assert any(config.store.sqlite.path.is_relative_to(w) for w in writable)
    assert config.server.tls is not None and len(config.server.auth.tokens) == 3
    assert not config.server.insecure


def test_host_config_ships_to_the_server_with_its_token() -> None:
    """deploy/host.yaml validates with a token from the environment and names the server backend."""
    config = load_config(DEPLOY / "host.yaml", {"LOGWARDEN_TOKEN": "t" * 24})
    assert config.store.backend == "server"
    assert config.shipper.inputs and config.alerter.rules == ["/etc/logwarden/rules/"]
