"""Shared fixtures: settings in a temp dir, a running gateway, a capture relay,
an SMTP client, and the corpus location."""

from __future__ import annotations

import os
import smtplib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.config import Settings, load_settings
from tests.helpers.corpus import require_corpus
from tests.helpers.servers import CaptureRelay, RunningGateway, free_port

IN_CI = os.environ.get("CI", "").lower() == "true"

TEAM = "equipe@example.gov.br"


def need(condition: bool, reason: str) -> None:
    """Skip locally when a service is missing; in CI (CI=true) fail instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(f"{reason} (would fail under CI=true)")


@pytest.fixture
def corpus() -> Path:
    return require_corpus()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        web_port = free_port()
        base: dict[str, Any] = {
            "storage": {"url": f"sqlite:///{tmp_path}/gateway.db"},
            "web": {"port": web_port, "base_url": f"http://127.0.0.1:{web_port}"},
            "smtp": {"port": free_port()},
            "admin": {"port": 0},  # any free port, never 8026: gateways run side by side (see Gateway.admin_port)
            "outbound": {"path": str(tmp_path / "outbox"), "retry_initial": 1, "poll_interval": 0.1},
            "processing": {"poll_interval": 0.1},
            "mailbox": [{"address": "atendimento@example.gov.br", "name": "Central de Atendimento",
                         "protocol_prefix": "ATD", "team": [TEAM]}],
        }
        for key, value in overrides.items():
            base[key] = {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
        return load_settings(overrides=base)
    return make


@pytest.fixture
def start_gateway(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., RunningGateway]]:
    started: list[RunningGateway] = []

    def start(**overrides: Any) -> RunningGateway:
        settings = make_settings(**overrides)
        running = RunningGateway(settings, Gateway(settings)).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def gateway(start_gateway: Callable[..., RunningGateway]) -> RunningGateway:
    return start_gateway()


@pytest.fixture
def smtp_client(gateway: RunningGateway) -> Iterator[smtplib.SMTP]:
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
        yield client


@pytest.fixture
def relay() -> Iterator[CaptureRelay]:
    capture = CaptureRelay().start()
    yield capture
    capture.stop()
