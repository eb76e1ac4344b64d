"""Playwright (sync API) driving Debian's Chromium against a running gateway.

Playwright's own browser downloads are never used: the browser is
``/usr/bin/chromium`` (``apt-get install chromium``; tests/install-services.sh
tries).  Without it these tests skip, and fail under CI=true.  Every test
leaves screenshots in ``test-output/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need
from tests.integration.lifecycle.conftest import desk_settings, open_desk  # noqa: F401  (fixtures)
from tests.integration.web.conftest import open_web_desk, web_desk  # noqa: F401  (fixtures)

CHROMIUM = os.environ.get("GATEWAY_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per module.  Playwright's sync API keeps an event loop
    running in pytest's thread while it is open; closing it with the module
    lets later tests (and the code under test) run loops of their own."""
    need(Path(CHROMIUM).is_file() or shutil.which(CHROMIUM) is not None,
         f"Chromium is not at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        need(False, "the playwright package is not installed (pip install -e '.[test]')")
        raise
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


def opened_page(browser: Any, width: int) -> Iterator[Any]:
    """A page in a fresh context (no cookies) ``width`` pixels wide; closed after."""
    context = browser.new_context(locale="pt-BR", viewport={"width": width, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    yield from opened_page(browser, 1000)


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="pt-BR", viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                  is_mobile=True, has_touch=True)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take
