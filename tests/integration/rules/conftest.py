"""A real gateway (SMTP listener, processor) whose mailbox has a rule file,
and the builders the rules tests share: real magic bytes and generated CPFs."""

from __future__ import annotations

import random
import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.servers import RunningGateway
from tests.unit.rules.rule_helpers import EXE, PDF, PNG, generate_cpf  # noqa: F401 - re-exported for the tests

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "rules"
CITIZEN = "ana.souza@example.org"
TEAM = "equipe@example.gov.br"
MAILBOX = "atendimento@example.gov.br"


def send(running: RunningGateway, raw: bytes, *, sender: str = CITIZEN, rcpt: str = MAILBOX) -> None:
    """Send through the real listener and wait until the mail is processed."""
    before = sum(running.inbox_counts().values())
    with smtplib.SMTP("127.0.0.1", running.port, timeout=30) as client:
        client.sendmail(sender, [rcpt], raw)
    running.wait_processed(before + 1)


def body_of(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


@pytest.fixture
def ruled_gateway(start_gateway: Callable[..., RunningGateway]) -> Callable[..., RunningGateway]:
    """``ruled_gateway(path)``: a gateway whose one mailbox uses the rule file at ``path``."""
    def start(rules: Path, **mailbox: Any) -> RunningGateway:
        return start_gateway(mailbox=[{"address": MAILBOX, "name": "Central de Atendimento", "protocol_prefix": "ATD",
                                       "team": [TEAM], "rules": str(rules), **mailbox}])
    return start


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20261123)
