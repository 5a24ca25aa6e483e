"""The compose config without Docker: traffic -> shipper -> Elasticsearch (osmem) -> alerter -> SMTP.

compose/logwarden.yaml is used as shipped except for what only Docker provides: container paths
become temp dirs, service names (elasticsearch, mailpit) become loopback addresses, fixed ports
become free ones. Same store shape (Elasticsearch with ${ELASTIC_PASSWORD}), inputs, rules, channel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.deploy._support import COMPOSE, EXAMPLES, ROOT, free_port, load_example, wait_until

traffic = load_example("traffic")


class Catcher:
    """aiosmtpd handler keeping every message."""

    def __init__(self) -> None:
        self.mails: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(bytes(envelope.original_content or envelope.content))
        return "250 OK"


def text_of(raw: bytes) -> str:
    msg = message_from_bytes(raw, policy=policy.default)
    body = msg.get_body(preferencelist=("plain", "html"))
    return f"{msg.get('subject', '')}\n{body.get_content() if body is not None else ''}"


def localize(tmp: Path, smtp_port: int) -> Path:
    """compose/logwarden.yaml with Docker-only names and paths swapped for local ones."""
    text = (COMPOSE / "logwarden.yaml").read_text()
    for docker, local in [
        ("/var/log/demo", str(tmp / "logs")),
        ("/var/lib/logwarden", str(tmp / "state")),
        ("/etc/logwarden/rules/", str(EXAMPLES / "rules")),
        ("mailpit:1025", f"127.0.0.1:{smtp_port}"),
        ("http://elasticsearch:9200", "${ES_URL}"),
        ("{host: 0.0.0.0, port: 9101}", "{host: 127.0.0.1, port: 0}"),
        ("{host: 0.0.0.0, port: 9102}", "{host: 127.0.0.1, port: 0}"),
    ]:
        assert docker in text, docker
        text = text.replace(docker, local)
    (tmp / "state").mkdir()
    path = tmp / "logwarden.yaml"
    path.write_text(text)
    return path


def test_compose_config_ships_to_elasticsearch_and_alerts_a_502_storm(tmp_path: Path, es_proxy: Any) -> None:
    """On osmem with the compose config, `shipper run --once` then `alerter run --once` mail the 502s."""
    port = free_port()
    catcher = Catcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = localize(tmp_path, port)
        # 50 s of traffic ending now, with a 502 storm in the middle: inside the rules' 1 m windows.
        now = time.time()
        settings = traffic.Settings(
            rate=20, storm_offset=5, storm_every=1000, storm_length=30, rotate_every=20
        )
        gen = traffic.Traffic(tmp_path / "logs", settings, 5, now - 50)
        gen.step(now)
        gen.close()

        env = dict(
            os.environ,
            ELASTIC_PASSWORD="compose-test",
            # The rig's proxy in front of osmem translates the client's compatible-with media types.
            ES_URL=es_proxy.url,
            PYTHONPATH=str(ROOT),
            LOG_LEVEL="WARNING",
            # `alerter run --once` sends only groups whose group_wait is over: none would be, yet.
            LOGWARDEN_NOTIFY__GROUP_WAIT="0s",
        )
        bindir = Path(sys.executable).parent

        def run(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(bindir / argv[0]), *argv[1:], "-c", str(config)],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )

        shipped = run("shipper", "run", "--once")
        assert shipped.returncode == 0, shipped.stderr
        alerted = run("alerter", "run", "--once")
        assert alerted.returncode == 0, alerted.stderr

        def storm_mail() -> str | None:
            texts = [text_of(m) for m in catcher.mails]
            return next((t for t in texts if "nginx-502-storm" in t), None)

        mail = wait_until(storm_mail, 30, what="the 502 storm mail")
        assert "502" in mail
    finally:
        controller.stop()
