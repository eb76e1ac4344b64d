"""Attacks replayed through the real doors: an SMTP client against the
listener (or the submission listener), an HTTP client against the pages.

``attack_desk(**overrides)`` starts a real gateway (listener, processor,
sender, web) with two service mailboxes, CNES and an internal one for the
team's own requests, and returns a :class:`Target` that sends mail the way
an attacker would (any envelope, any headers, raw bytes) and reads back
what the gateway did: tickets, events, outbox, quarantine.  Every wait is
bounded.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.clock import FixedClock
from gateway.config import Settings
from tests.helpers.mailfactory import make_mail
from tests.helpers.servers import RunningGateway, parse_message

# Monday 2026-11-23, 10:00 in Brasília: a working day.
MONDAY = datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)

CNES = "cnes@example.gov.br"
INTERNAL = "interno@example.gov.br"
CNES_TEAM = "equipe-cnes@example.gov.br"
INTERNAL_TEAM = "equipe-ti@example.gov.br"
MARIA = "maria.lima@example.gov.br"  # CNES analyst
PEDRO = "pedro@example.gov.br"  # analyst of the internal mailbox only
ANA = "ana@cidada.example"  # a citizen
MALLORY = "mallory@evil.example"  # the attacker
MX = "mx.example.gov.br"  # the authserv-id of the MTA in front


class Target:
    """The running gateway as an attacker and a tester see it."""

    def __init__(self, running: RunningGateway, clock: FixedClock) -> None:
        self.running, self.clock = running, clock
        self.sent = 0

    @property
    def settings(self) -> Settings:
        return self.running.settings

    # -- sending -----------------------------------------------------------

    def send(self, raw: bytes, *, mail_from: str = MALLORY, to: list[str] | str = CNES, port: int | None = None,
             login: tuple[str, str] | None = None, wait: bool = True) -> None:
        """One SMTP transaction as any client could open it; waits until processed."""
        rcpts = [to] if isinstance(to, str) else list(to)
        with smtplib.SMTP("127.0.0.1", port or self.running.port, timeout=30) as client:
            if login is not None:
                client.login(*login)
            client.sendmail(mail_from, rcpts, raw)
        self.sent += 1
        if wait:
            self.running.wait_processed(self.sent)

    def refused_at_rcpt(self, rcpt: str, *, mail_from: str = MALLORY, port: int | None = None) -> tuple[int, str]:
        """The reply to RCPT TO for ``rcpt`` (nothing is sent)."""
        with smtplib.SMTP("127.0.0.1", port or self.running.port, timeout=30) as client:
            client.ehlo()
            client.mail(mail_from)
            code, message = client.rcpt(rcpt)
            client.rset()
        return code, message.decode("utf-8", "replace")

    def citizen_opens(self, *, sender: str = ANA, subject: str = "Erro ao incluir profissional no CNES",
                      body: str = "Não consigo incluir a enfermeira na unidade.", to: str = CNES,
                      **headers: str) -> str:
        """A citizen's first mail; returns the new ticket's protocol."""
        before = {t["protocol"] for t in self.running.tickets()}
        self.send(make_mail(subject=subject, body=body, sender=f"Cidadã <{sender}>", to=to, headers=headers or None),
                  mail_from=sender, to=to)
        [protocol] = [t["protocol"] for t in self.running.tickets() if t["protocol"] not in before]
        return protocol

    # -- what the gateway did ----------------------------------------------

    def ticket(self, protocol: str) -> dict[str, Any]:
        return self.running.ticket(protocol)

    def status(self, protocol: str) -> str:
        return str(self.ticket(protocol)["status"])

    def events(self, protocol: str) -> list[str]:
        return [e["kind"] for e in self.ticket(protocol)["events"]]

    def outbox(self, kind: str | None = None, to: str | None = None) -> list[Any]:
        return self.running.outbox(kind=kind, to=to)

    def outbox_kinds(self) -> list[str]:
        from sqlalchemy import select

        from gateway.store.models import OutboxRow

        with self.running.gateway.db.transaction() as tx:
            return [row.kind for row in tx.scalars(select(OutboxRow).order_by(OutboxRow.id))]

    def quarantined(self) -> list[tuple[str, str]]:
        return self.running.quarantined()

    def tickets(self) -> list[dict[str, Any]]:
        return self.running.tickets()


def parsed(raw: bytes) -> Any:
    return parse_message(raw)


@pytest.fixture
def attack_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """Two mailboxes (CNES, with Maria as analyst; an internal one, with
    Pedro) and the MTA in front trusted by authserv-id; keyword arguments
    override whole sections (``smtp={...}``) or, with ``cnes=`` and
    ``internal=``, keys of one mailbox."""
    def make(*, cnes: dict[str, Any] | None = None, internal: dict[str, Any] | None = None,
             **sections: Any) -> Settings:
        mailboxes = [
            {"address": CNES, "name": "Central CNES", "protocol_prefix": "CNES", "team": [CNES_TEAM],
             "analysts": [MARIA], **(cnes or {})},
            {"address": INTERNAL, "name": "Suporte interno", "protocol_prefix": "TI", "team": [INTERNAL_TEAM],
             "analysts": [PEDRO], "internal": True, **(internal or {})},
        ]
        auth = {"trusted_authserv_ids": [MX], **sections.pop("auth", {})}
        return make_settings(auth=auth, mailbox=mailboxes, **sections)
    return make


@pytest.fixture
def attack_desk(attack_settings: Callable[..., Settings]) -> Iterator[Callable[..., Target]]:
    started: list[Target] = []

    def start(**overrides: Any) -> Target:
        settings = attack_settings(**overrides)
        clock = FixedClock(MONDAY)
        target = Target(RunningGateway(settings, Gateway(settings, clock)).start(), clock)
        started.append(target)
        return target

    yield start
    for target in started:
        target.running.stop()


@pytest.fixture
def target(attack_desk: Callable[..., Target]) -> Target:
    return attack_desk()
