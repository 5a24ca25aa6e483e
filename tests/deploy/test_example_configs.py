"""The shipped configs (examples/ and compose/ logwarden.yaml) and the demo rules validate as shipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from alerter.rules.loader import load_rules
from logwarden.config import Config, load_config
from tests.deploy._support import COMPOSE, EXAMPLES, ROOT

DEMO_ENV = {"LOGWARDEN_DEMO_DIR": "/tmp/demo", "DEMO_SMTP_PORT": "2600", "DEMO_WEBHOOK_PORT": "2601"}


def demo_config(env: dict[str, str] | None = None) -> Config:
    return load_config(EXAMPLES / "logwarden.yaml", env if env is not None else DEMO_ENV)


def test_demo_config_validates_without_any_environment() -> None:
    """examples/logwarden.yaml loads with an empty environment: every ${VAR} has a default (users copy it)."""
    config = demo_config({})
    assert config.store.backend == "sqlite"
    # Relative paths resolve against the file's directory (examples/), not the working directory.
    assert config.store.sqlite is not None and config.store.sqlite.path == ROOT / "data/demo/logwarden.db"
    assert [i.format for i in config.shipper.inputs] == ["json", "nginx"]


def test_demo_config_takes_the_demo_directory_and_ports_from_the_environment() -> None:
    """LOGWARDEN_DEMO_DIR moves the store, registry and inputs; the ports land in the channel URLs."""
    config = demo_config()
    assert config.store.sqlite is not None and str(config.store.sqlite.path) == "/tmp/demo/logwarden.db"
    assert str(config.shipper.registry) == "/tmp/demo/shipper-registry.db"
    assert all(p.startswith("/tmp/demo/logs/") for i in config.shipper.inputs for p in i.paths)
    urls = {c.name: c.url.get_secret_value() for c in config.notify.channels}
    assert urls["console"].startswith("json://127.0.0.1:2601")
    assert urls["mail"].startswith("mailto://127.0.0.1:2600")


@pytest.mark.parametrize(
    ("config_path", "env"),
    [
        (EXAMPLES / "logwarden.yaml", DEMO_ENV),
        (COMPOSE / "logwarden.yaml", {"ELASTIC_PASSWORD": "secret"}),
    ],
)
def test_rules_the_config_points_at_load_without_errors(config_path: Path, env: dict[str, str]) -> None:
    """Every rule file the config's alerter.rules names validates, and notifies only known channels."""
    config = load_config(config_path, env)
    rules_paths = [
        # compose mounts ../examples/rules at /etc/logwarden/rules.
        str(EXAMPLES / "rules") if p.startswith("/etc/logwarden/rules") else p
        for p in config.alerter.rules
    ]
    result = load_rules(rules_paths, config, base=ROOT)
    assert result.errors == []
    names = {r.rule.name for r in result.rules}
    assert "nginx-502-storm" in names
    storm = next(r.rule for r in result.rules if r.rule.name == "nginx-502-storm")
    # The demo promises an alert within a minute or two: the schedule must be fast.
    assert storm.every is not None and storm.every.total_seconds() <= 10


def test_compose_config_uses_elasticsearch_with_the_password_from_the_environment() -> None:
    """compose/logwarden.yaml is the Elasticsearch shape; ${ELASTIC_PASSWORD} expands and stays secret."""
    config = load_config(COMPOSE / "logwarden.yaml", {"ELASTIC_PASSWORD": "s3cret-pw"})
    es = config.store.elasticsearch
    assert es is not None and es.hosts == ["http://elasticsearch:9200"]
    assert es.password is not None and es.password.get_secret_value() == "s3cret-pw"
    assert "s3cret-pw" not in repr(config)


def test_compose_config_without_the_password_names_the_variable() -> None:
    """Without ELASTIC_PASSWORD the compose config fails with one line naming the file, line and variable."""
    from logstore.config import ConfigError

    with pytest.raises(ConfigError) as err:
        load_config(COMPOSE / "logwarden.yaml", {})
    msg = str(err.value)
    assert "compose/logwarden.yaml:" in msg and "ELASTIC_PASSWORD" in msg and "\n" not in msg


@pytest.mark.parametrize(
    ("command", "config_path", "extra"),
    [
        # --config-only, as the systemd unit runs it: the demo's log directories do not exist here.
        ("shipper", EXAMPLES / "logwarden.yaml", ["--config-only"]),
        ("alerter", EXAMPLES / "logwarden.yaml", []),
        ("shipper", COMPOSE / "logwarden.yaml", ["--config-only"]),
        # In compose the rules are mounted from examples/rules at /etc/logwarden/rules.
        ("alerter", COMPOSE / "logwarden.yaml", [str(EXAMPLES / "rules")]),
    ],
)
def test_check_commands_accept_the_shipped_configs(command: str, config_path: Path, extra: list[str]) -> None:
    """`shipper check` and `alerter check` (the systemd ExecStartPre) exit 0 on the shipped configs."""
    env = dict(os.environ, ELASTIC_PASSWORD="x", PYTHONPATH=str(ROOT), **DEMO_ENV)
    proc = subprocess.run(
        [str(Path(sys.executable).parent / command), "check", "-c", str(config_path), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ": ok" in proc.stdout
