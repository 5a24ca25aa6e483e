"""Fixtures of the console's tests: ``browser_page``, a page of headless Chromium driven by Playwright.

The browser is Debian's ``chromium`` (``/usr/bin/chromium``; ``.ci/install-peers`` installs it), never
a browser Playwright downloads. Without it, or without the ``playwright`` package, every browser test
skips and says which is missing. One browser per test session (starting one costs ~1 s); each test
gets a fresh context (no cookies shared between tests) at the desktop size, 1280x800.

Screenshots a test takes with ``screenshot(page, name)`` go to ``$LOGWARDEN_SCREENSHOTS`` (default
``.cache/screenshots`` in the repo, git-ignored) so a reviewer can look at each page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 800}
REPO = Path(__file__).parents[3]
SCREENSHOTS = Path(os.environ.get("LOGWARDEN_SCREENSHOTS") or REPO / ".cache" / "screenshots")


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"no {CHROMIUM}: install Debian's chromium (.ci/install-peers does, as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not importable: pip install -e '.[test]'"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    missing = browser_missing()
    if missing is not None:
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def browser_page(browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context (1280x800); actions time out after 5 s, not Playwright's 30."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(5000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save the page as ``<name>.png`` for a reviewer (not an assertion; the folder is not committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
