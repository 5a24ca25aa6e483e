"""The Sources page in headless Chromium: press a dead letter's Replay button and see it stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.server.console.conftest import PHONE, screenshot
from tests.server.console.deadletters import malformed_body, rewrite_lines
from tests.server.harness import serve, server_config
from tests.server.http import bulk, ndjson


def test_replay_a_dead_letter_from_the_sources_page(browser_page: Any, tmp_path: Path) -> None:
    """Two dead letters; the cured one's Replay button stores it: the page says 1 stored, 1 kept."""
    page = browser_page
    with serve(server_config(tmp_path)) as srv:
        bulk(srv.url, malformed_body())
        cured = ndjson({"create": {"_index": "app", "_id": "broken"}}, {"message": "a whole line"})
        rewrite_lines(srv.config.store.settings.path, "broken", cured.rstrip(b"\n"))
        page.goto(f"{srv.url}/ui/sources")
        assert page.locator("#dead-kept").inner_text() == "2"
        row = page.locator("#dead-letter-rows tbody tr", has_text="broken")
        row.locator("summary").click()
        assert "a whole line" in row.locator("pre.dead-lines").inner_text()
        screenshot(page, "sources-dead-letters-desktop")
        with page.expect_navigation():
            row.get_by_role("button", name="Replay").click()
        assert page.locator("#replay-result").inner_text() == "Replayed: 1 stored, 0 still refused."
        assert page.locator("#dead-kept").inner_text() == "1"
        assert page.locator("#dead-letter-rows tbody tr", has_text="broken").count() == 0
        page.set_viewport_size(PHONE)
        screenshot(page, "sources-dead-letters-phone")
