"""The Alerts pages in headless Chromium: see the firing rule, silence it from the browser and watch
the alerter's next notification be suppressed; every alerts page fits a 375 px phone screen.

The alerter is the real program (``alerter run --once``, a subprocess) pointed at the server
(``store: {server: ...}``), notifying a real webhook receiver; the logs are shipped through the
server's ``_bulk``. Screenshots of each page at both sizes go to the folder the conftest names.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.alerter.notify.receivers import WebhookReceiver
from tests.server.console.alerting import alerting_home, fixture_docs, now_utc, ship
from tests.server.console.conftest import DESKTOP, PHONE, screenshot
from tests.server.harness import Running, serve

REPO = Path(__file__).parents[3]


@dataclass
class Scene:
    srv: Running
    receiver: WebhookReceiver
    alerter_config: Path


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    """A server with the web-errors rule and logs that make it fire; an alerter config pointing at
    the server and at a webhook receiver, repeating a still-firing alert after 1 s."""
    home = tmp_path_factory.mktemp("browser-alerts")
    receiver = WebhookReceiver().start()
    try:
        with serve(alerting_home(home)) as srv:
            ship(srv.url, fixture_docs(now_utc()))
            cfg = home / "alerter.yaml"
            notify = {
                "channels": [{"name": "hook", "url": f"json://{receiver.url}/hook"}],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1s",
            }
            data = {"store": {"server": {"url": srv.url}}, "alerter": {"rules": [str(home / "rules")]}}
            cfg.write_text(yaml.safe_dump({**data, "notify": notify}))
            yield Scene(srv, receiver, cfg)
    finally:
        receiver.stop()


def run_alerter_once(cfg: Path) -> subprocess.CompletedProcess[str]:
    """``alerter run --once -c cfg`` as a real process; it must succeed (exit 0)."""
    done = subprocess.run(
        [sys.executable, "-m", "alerter.cli", "run", "--once", "-c", str(cfg)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_silencing_a_firing_alert_in_the_browser_suppresses_its_next_notification(
    scene: Scene, browser_page: Any
) -> None:
    """The alerter fires and notifies once; in the browser the firing rule's Silence button opens a
    pre-filled form; after adding the silence, the alerter's next run sends nothing (silenced)."""
    run_alerter_once(scene.alerter_config)
    assert len(scene.receiver.delivered) == 1
    assert "web-errors" in scene.receiver.delivered[0].json()["title"]

    page = browser_page
    page.goto(scene.srv.url + "/ui/alerts")
    row = page.locator('tr.alert-row[data-rule="web-errors"][data-state="firing"]')
    assert "host.name=web1" in row.inner_text()
    screenshot(page, "alerts-firing-desktop")
    row.locator("a.silence-link").click()
    page.wait_for_url("**/ui/silences?*")
    assert page.input_value("#rule") == "web-errors"
    assert page.input_value("#matchers") == "host.name=web1"
    page.fill("#comment", "deploy of web 2.3")
    page.fill("#author", "ana")
    page.click("#add-silence")
    page.wait_for_selector("#notice")
    silence = page.locator('tr.silence-row[data-status="active"]')
    assert silence.count() == 1 and "host.name=web1" in silence.inner_text()
    silence_id = silence.get_attribute("data-id")
    screenshot(page, "silences-added-desktop")

    again = run_alerter_once(scene.alerter_config)
    assert len(scene.receiver.delivered) == 1, "the silenced alert was notified again"
    assert "notification silenced" in again.stderr and str(silence_id) in again.stderr


PAGES = [
    "/ui/alerts",
    "/ui/alerts/web-errors",
    "/ui/silences?rule=web-errors&match=host.name%3Dweb1",
    "/ui/notifications",
]


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_alerts_pages_fit_the_screen_at_desktop_and_phone_size(
    scene: Scene, browser: Any, size: str
) -> None:
    """At 1280x800 and at 375x800 no alerts page scrolls sideways (on a phone their tables become
    cards); a screenshot of each page at each size is kept for a reviewer."""
    viewport = PHONE if size == "phone" else DESKTOP
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(5000)
    try:
        page = context.new_page()
        for path in PAGES:
            response = page.goto(scene.srv.url + path)
            assert response is not None and response.status == 200, path
            width = page.evaluate("document.documentElement.scrollWidth")
            name = path.split("?")[0].removeprefix("/ui/").replace("/", "-")
            screenshot(page, f"{name}-{size}")
            assert width <= viewport["width"], f"{path} is {width} px wide on a {viewport['width']} px screen"
    finally:
        context.close()
