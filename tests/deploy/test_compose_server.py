"""compose/docker-compose.server.yml (the few-hosts shape), checked by reading it: services, mounts,
variables, ports, health dependencies, and its two logwarden configs."""

from __future__ import annotations

import re
from typing import Any

import yaml

from logwarden.config import load_config
from tests.deploy._support import COMPOSE

FILE = COMPOSE / "docker-compose.server.yml"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def services() -> dict[str, dict[str, Any]]:
    svcs: dict[str, dict[str, Any]] = yaml.safe_load(FILE.read_text())["services"]
    return svcs


def documented() -> set[str]:
    lines = (COMPOSE / ".env.example").read_text().splitlines()
    return {ln.partition("=")[0].strip() for ln in lines if ln.strip() and not ln.startswith("#")}


def test_header_gives_the_command_and_the_services_are_a_server_two_hosts_and_an_alerter() -> None:
    """The header says how to run it; server, two traffic+shipper pairs, alerter and Mailpit exist."""
    assert "docker compose -f compose/docker-compose.server.yml up" in FILE.read_text().split("\n\n")[0]
    assert {"server", "traffic-web-1", "traffic-web-2", "shipper-web-1", "shipper-web-2", "alerter"} <= set(
        services()
    )
    hosts = {
        s["environment"].get("LOGWARDEN_SHIPPER__HOST_NAME") for n, s in services().items() if "shipper" in n
    }
    assert hosts == {"web-1", "web-2"}


def test_mounts_exist_variables_are_documented_and_ports_bind_loopback() -> None:
    """Bind mounts exist, named volumes are declared, required ${VAR}s are in .env.example, and every
    published port binds 127.0.0.1."""
    declared = set(yaml.safe_load(FILE.read_text()).get("volumes") or {})
    for name, svc in services().items():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            assert (COMPOSE / src).exists() if src.startswith(".") else src in declared, (name, src)
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
    for m in _VAR.finditer(FILE.read_text()):
        if m.group(2) in (None, ":?", "?"):
            assert m.group(1) in documented(), m.group(1)


def test_healthy_dependencies_point_at_services_with_a_healthcheck() -> None:
    """Shippers and the alerter wait for a healthy server (the image's /readyz check on its port)."""
    svcs = services()
    for name, svc in svcs.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            assert dep in svcs, (name, dep)
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in svcs[dep] or "build" in svcs[dep] or "<<" in svcs[dep], (name, dep)
    assert svcs["server"]["environment"]["HEALTHCHECK_PORT"] == "9200"


def test_both_configs_validate_and_agree_on_the_token() -> None:
    """compose/server.yaml serves with the token compose/host.yaml sends, on the port the hosts use."""
    env = {"LOGWARDEN_TOKEN": "x" * 24}
    server = load_config(COMPOSE / "server.yaml", env)
    host = load_config(COMPOSE / "host.yaml", env)
    assert [t.token.get_secret_value() for t in server.server.auth.tokens] == ["x" * 24]
    assert server.server.listen.endswith(":9200") and host.store.backend == "server"
    assert host.store.settings.url == "http://server:9200"
