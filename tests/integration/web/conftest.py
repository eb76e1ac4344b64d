"""A desk (see ../lifecycle/conftest.py) with the pages served by the same
gateway, and an HTTP client that keeps cookies, as a browser would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from gateway.app import Gateway
from gateway.clock import FixedClock
from gateway.config import Settings
from tests.helpers.servers import RunningGateway
from tests.integration.lifecycle.conftest import ANALYST, FRIDAY_HOLIDAY, TEAM, Desk


@pytest.fixture
def open_web_desk(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Desk]]:
    desks: list[Desk] = []

    def start(web: dict[str, Any] | None = None, **mailbox: Any) -> Desk:
        settings = make_settings(
            auth={"trusted_authserv_ids": ["mx.example.gov.br"]}, web=web or {},
            mailbox=[{"address": "atendimento@example.gov.br", "name": "Central de Atendimento",
                      "protocol_prefix": "ATD", "team": [TEAM], "analysts": [ANALYST], **mailbox}])
        clock = FixedClock(FRIDAY_HOLIDAY)
        desk = Desk(RunningGateway(settings, Gateway(settings, clock)).start(), clock)
        desks.append(desk)
        return desk

    yield start
    for desk in desks:
        desk.running.stop()


@pytest.fixture
def web_desk(open_web_desk: Callable[..., Desk]) -> Desk:
    return open_web_desk()


@pytest.fixture
def browser_like(web_desk: Desk) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web_desk.running.settings.web.base_url, timeout=30,
                      headers={"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.8"}) as client:
        yield client
