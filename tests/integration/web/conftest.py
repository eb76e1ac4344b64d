"""A desk (see ../lifecycle/conftest.py) with the pages served by the same
gateway, and an HTTP client that keeps cookies, as a browser would."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.integration.lifecycle.conftest import Desk, desk_settings, open_desk  # noqa: F401 - fixtures used here


@pytest.fixture
def open_web_desk(open_desk: Callable[..., Desk]) -> Callable[..., Desk]:
    """``open_desk``: its gateway serves the pages too (``web=`` overrides [web])."""
    return open_desk


@pytest.fixture
def web_desk(open_web_desk: Callable[..., Desk]) -> Desk:
    return open_web_desk()


@pytest.fixture
def browser_like(web_desk: Desk) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web_desk.running.settings.web.base_url, timeout=30,
                      headers={"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.8"}) as client:
        yield client
