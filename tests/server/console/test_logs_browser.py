"""The Logs page in headless Chromium, as a person uses it: query, zoom, open a doc, filter, live tail.

Over a real server holding logs shipped by the real shipper (tests/server/console/shipped.py). Each
test saves screenshots (tests/server/console/conftest.py ``screenshot``) for a reviewer.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from logstore.types import datetime_to_ms, format_ts
from tests.server.console.conftest import PHONE, screenshot
from tests.server.console.shipped import STORM, WORKER_LINES, Shipped, shipped  # noqa: F401
from tests.server.http import bulk, ndjson


def _logq_count(shipped: Shipped, query: str, start: str, end: str) -> int:  # noqa: F811
    """What the real logq command prints for --count (a subprocess, as a user runs it)."""
    exe = shutil.which("logq", path=str(sys.executable).rsplit("/", 1)[0])
    argv = [exe] if exe else [sys.executable, "-m", "logq.cli"]
    done = subprocess.run(
        [*argv, query, "--from", start, "--to", end, "--count", "-c", str(shipped.config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode in (0, 1), done.stderr
    return int(done.stdout.strip())


def _shown_count(page: Any) -> int:
    return int(page.locator("#hit-count").get_attribute("data-count"))


def _param(page: Any, name: str) -> str:
    return parse_qs(urlsplit(page.url).query)[name][0]


def test_a_query_counts_what_logq_counts_and_a_drag_zooms(browser_page: Any, shipped: Shipped) -> None:  # noqa: F811
    """Typing a query shows logq's --count for it; dragging across the storm zooms the window to it,
    and the count there is logq's again."""
    page = browser_page
    page.goto(f"{shipped.server.url}/ui/logs?{urlencode(shipped.window)}")
    page.fill("input[name=q]", "app.status:502")
    with page.expect_navigation():
        page.press("input[name=q]", "Enter")
    assert _shown_count(page) == _logq_count(shipped, "app.status:502", shipped.start, shipped.end) == STORM
    box = page.locator("svg.histogram").bounding_box()
    # The plot spans viewBox x 48..992 of 1000; the storm is 30-32 minutes into the hour.
    left, right = (box["x"] + box["width"] * (48 + f * 944) / 1000 for f in (0.4, 0.65))
    middle = box["y"] + box["height"] / 2
    page.mouse.move(left, middle)
    page.mouse.down()
    page.mouse.move(right, middle, steps=8)
    with page.expect_navigation():
        page.mouse.up()
    start, end = _param(page, "from"), _param(page, "to")
    assert shipped.start < start < shipped.storm_start and shipped.storm_end < end < shipped.end
    assert _shown_count(page) == _logq_count(shipped, "app.status:502", start, end) == STORM
    screenshot(page, "logs-zoomed-desktop")


def test_a_bar_click_narrows_to_its_bucket(browser_page: Any, shipped: Shipped) -> None:  # noqa: F811
    """Clicking a bar of the histogram shows that bucket's lines only."""
    page = browser_page
    page.goto(f"{shipped.server.url}/ui/logs?{urlencode({**shipped.window, 'q': 'app.status:502'})}")
    bar = page.locator("svg.histogram g.bar").first
    bucket = (int(bar.get_attribute("data-from")), int(bar.get_attribute("data-to")))
    with page.expect_navigation():
        bar.click()
    assert (_param(page, "from"), _param(page, "to")) == tuple(format_ts(ms) for ms in bucket)
    assert 0 < _shown_count(page) < STORM


def test_open_a_doc_copy_it_and_filter_from_the_sidebar(browser_page: Any, shipped: Shipped) -> None:  # noqa: F811
    """A hit expands to its full JSON with a working copy button; the sidebar's + adds field:value."""
    page = browser_page
    page.goto(f"{shipped.server.url}/ui/logs?{urlencode(shipped.window)}")
    first = page.locator("#hits li.hit").first
    first.locator("summary").click()
    doc = first.locator("pre.json")
    assert doc.is_visible() and first.get_attribute("data-id") in doc.inner_text()
    copy = first.locator("button", has_text="Copy JSON")
    copy.click()
    page.wait_for_function("b => b.classList.contains('copied')", arg=copy.element_handle())
    screenshot(page, "logs-doc-open-desktop")
    page.locator("#fields summary", has_text="host.name").click()
    with page.expect_navigation():
        page.locator('#fields a.filter-in[title="only host.name: web2"]').click()
    assert _param(page, "q") == 'host.name:"web2"'
    assert _shown_count(page) == WORKER_LINES


def test_live_tail_shows_new_lines_in_order_and_pauses_on_scroll(
    browser_page: Any,
    shipped: Shipped,  # noqa: F811
) -> None:
    """Lines written after the tail opened appear within 2 s, in order, once; scrolled up, the tail
    waits, and catches up when scrolled back down."""
    page = browser_page
    page.goto(f"{shipped.server.url}/ui/logs?tail=1")
    page.wait_for_function("document.getElementById('tail-status').textContent.startsWith('live')")
    lines = page.locator("#tail-lines li.hit")
    assert lines.count() == 100  # the newest 100, then what comes
    now = datetime_to_ms(datetime.now(UTC))

    def write(i: int) -> None:
        doc = {"@timestamp": format_ts(now + i), "message": f"browser tail {i}", "log": {"level": "info"}}
        bulk(shipped.server.url, ndjson({"create": {"_id": f"bt-{i}"}}, doc))

    written = time.monotonic()
    for i in range(3):
        write(i)
    page.wait_for_selector('#tail-lines li[data-id="bt-2"]', timeout=4000)
    assert time.monotonic() - written < 2.5
    ids = [li.get_attribute("data-id") for li in lines.all()]
    assert ids[-3:] == ["bt-0", "bt-1", "bt-2"] and len(ids) == len(set(ids)) == 103
    page.evaluate("document.getElementById('tail-lines').scrollTop = 0")
    page.wait_for_function("document.getElementById('tail-status').textContent.startsWith('paused')")
    write(3)
    page.wait_for_timeout(1500)
    assert page.locator('#tail-lines li[data-id="bt-3"]').count() == 0
    page.evaluate("const e = document.getElementById('tail-lines'); e.scrollTop = e.scrollHeight")
    page.wait_for_selector('#tail-lines li[data-id="bt-3"]', timeout=4000)
    screenshot(page, "logs-tail-desktop")


def test_the_pages_fit_a_phone(browser_page: Any, shipped: Shipped) -> None:  # noqa: F811
    """At 375 px wide, Logs and Sources scroll only vertically; screenshots of both sizes are saved."""
    page = browser_page
    for path, name in ((f"/ui/logs?{urlencode(shipped.window)}", "logs"), ("/ui/sources", "sources")):
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(shipped.server.url + path)
        screenshot(page, f"{name}-desktop")
        page.set_viewport_size(PHONE)
        page.reload()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert re.search(r"\d", page.locator("main").inner_text())
        screenshot(page, f"{name}-phone")
