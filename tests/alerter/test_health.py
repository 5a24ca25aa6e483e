"""alerter run's probes: /healthz is liveness only, /readyz is store + state; channels are a field."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from logstore.types import Health
from tests.alerter.helpers import hook_config, start_alerter_run, write_error
from tests.alerter.notify.receivers import free_port, wait_until


def _get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_a_failing_channel_is_not_a_liveness_failure(tmp_path: Path) -> None:
    """With the only webhook refusing connections: /healthz 200, /readyz 200 naming the failing
    channel in its notify field (a liveness probe must not restart us for someone else's outage)."""
    cfg = hook_config(
        tmp_path,
        f"json://127.0.0.1:{free_port()}/hook",
        notify="  group_wait: 0s\n  retry: {initial: 100ms, max: 200ms}\n",
        alerter="  metrics: {host: 127.0.0.1, port: 0}\n",
    )
    write_error(cfg, 30)
    proc, port = start_alerter_run(cfg)
    try:

        def channel_failing() -> bool:
            body = _get(port, "/readyz")[1]
            return body.get("notify", {}).get("status") == "degraded"

        wait_until(channel_failing, 30, "/readyz to report the failing channel")
        code, body = _get(port, "/healthz")
        assert code == 200 and body["status"] == "ok", body
        code, body = _get(port, "/readyz")
        assert code == 200 and body["status"] == "ok", body
        assert "hook" in body["notify"]["detail"]
    finally:
        proc.kill()
        proc.wait()


def test_readyz_is_503_while_the_store_is_unreachable_and_healthz_stays_200() -> None:
    """start_http: /readyz answers the ready check (503 with the reason), /healthz the live one;
    without a ready check /readyz answers as /healthz does (the shipper's call keeps working)."""
    from logstore.observe import start_http

    http = start_http(
        "127.0.0.1",
        0,
        lambda: Health(True, "loop alive"),
        lambda: Health(False, "store: connection refused"),
        lambda: {"extra": 1},
    )
    plain = start_http("127.0.0.1", 0, lambda: Health(False, "down"))
    try:
        assert _get(http.port, "/healthz") == (200, {"status": "ok", "detail": "loop alive"})
        code, body = _get(http.port, "/readyz")
        assert code == 503 and body == {
            "status": "degraded",
            "detail": "store: connection refused",
            "extra": 1,
        }
        assert _get(plain.port, "/readyz")[0] == 503 and _get(plain.port, "/healthz")[0] == 503
    finally:
        http.stop()
        plain.stop()
