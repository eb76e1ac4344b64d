"""A gateway with a fixed clock, a team, an analyst who proves who she is
(through a trusted MTA's Authentication-Results), and helpers that write
the mails a citizen and an analyst would.

The desk stands behind an MTA, as a real one does: the tests' SMTP client
on 127.0.0.1 plays that MTA (``[smtp] trusted_networks``), and every mail
carries the Authentication-Results it would have added: a DMARC pass for
the citizen's domain, a DKIM pass for the analyst's (``proof=None``: none)."""

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
from tests.helpers.servers import RunningGateway

# Friday 2026-11-20, 10:00 in Brasília: Consciência Negra, a national holiday, before a weekend.
FRIDAY_HOLIDAY = datetime(2026, 11, 20, 13, 0, tzinfo=timezone.utc)
CITIZEN = "ana.souza@example.org"
ANALYST = "maria.lima@example.gov.br"
TEAM = "equipe@example.gov.br"
TRUSTED = "Authentication-Results: mx.example.gov.br; dkim=pass header.d=example.gov.br; spf=pass smtp.mailfrom=example.gov.br"
CITIZEN_PASS = {"Authentication-Results": "mx.example.gov.br; spf=pass smtp.mailfrom=example.org; "
                                          "dmarc=pass header.from=example.org"}


def sweep_at(gateway: Any, clock: FixedClock, at: datetime) -> dict[str, int]:
    """Move ``clock`` to ``at`` and run every due deadline as `gateway sweep` does; what was done, by kind."""
    clock.set(at)
    done: dict[str, int] = {}
    for result in gateway.sweep_all():
        for kind, count in result.done.items():
            done[kind] = done.get(kind, 0) + count
    return done


class Desk:
    """The running gateway plus the two people who write to it."""

    def __init__(self, running: RunningGateway, clock: FixedClock) -> None:
        self.running, self.clock = running, clock
        self.sent = 0
        self.protocol = ""

    def sweep(self, at: datetime) -> dict[str, int]:
        """Move the clock and run the sweep `gateway sweep` runs; what was done, by kind."""
        return sweep_at(self.running.gateway, self.clock, at)

    def opens_at(self, at: datetime, subject: str) -> str:
        """Ana writes a new mail at ``at``; the protocol of the ticket it opened."""
        self.clock.set(at)
        self._send(CITIZEN, self.running.address,
                   make_mail(subject=subject, body="Preciso de ajuda.", sender=f"Ana Souza <{CITIZEN}>",
                             trace=CITIZEN_PASS))
        return str(self.running.tickets()[-1]["protocol"])

    def analyst_at(self, protocol: str, at: datetime, body: str) -> None:
        """Maria replies on ``protocol`` at ``at``."""
        self.clock.set(at)
        self.protocol = protocol
        self.analyst_replies(body)

    def _send(self, sender: str, rcpt: str, raw: bytes) -> None:
        with smtplib.SMTP("127.0.0.1", self.running.port, timeout=30) as client:
            client.sendmail(sender, [rcpt], raw)
        self.sent += 1
        self.running.wait_processed(self.sent)

    def citizen_writes(self, subject: str = "Erro ao incluir profissional no CNES", body: str = "Não consigo incluir.",
                       **kwargs: Any) -> str:
        kwargs.setdefault("trace", CITIZEN_PASS)
        self._send(CITIZEN, self.running.address, make_mail(subject=subject, body=body, sender=f"Ana Souza <{CITIZEN}>",
                                                            **kwargs))
        self.protocol = self.protocol or self.running.tickets()[-1]["protocol"]
        return self.running.tickets()[-1]["protocol"]

    def citizen_replies(self, body: str, protocol: str | None = None) -> None:
        protocol = protocol or self.protocol
        self._send(CITIZEN, self.running.address,
                   make_mail(subject=f"RES: [{protocol}] Erro ao incluir profissional no CNES", sender=f"Ana Souza <{CITIZEN}>",
                             trace=CITIZEN_PASS,
                             body=f"{body}\n\nEm sex., 20 de nov. de 2026 às 10:00, Central <atendimento@example.gov.br> escreveu:\n> texto antigo\n"))

    def analyst_replies(self, body: str, *, proof: str | None = TRUSTED, sender: str = ANALYST,
                        attachments: list[tuple[str, str, bytes]] = ()) -> None:
        protocol = self.protocol
        trace = dict([proof.split(": ", 1)]) if proof else {}
        reply_to = f"atendimento+{protocol}@example.gov.br"
        raw = make_mail(subject=f"RE: [{protocol}] Novo chamado: Erro ao incluir profissional no CNES",
                        sender=f"Maria Lima <{sender}>", to=reply_to, trace=trace, attachments=attachments,
                        body=f"{body}\n\nMaria Lima\nAnalista de Suporte\n\n-----Mensagem original-----\n"
                             f"De: Central\nAssunto: [{protocol}] Novo chamado\n\n> texto antigo\n")
        self._send(sender, reply_to, raw)

    def ticket(self) -> dict[str, Any]:
        return self.running.ticket(self.protocol)

    def to_citizen(self, kind: str | None = None) -> list[Any]:
        return self.running.outbox(kind=kind, to=CITIZEN)

    def to_analyst(self, kind: str) -> list[Any]:
        return self.running.outbox(kind=kind, to=ANALYST)

    def events(self) -> list[str]:
        return [e["kind"] for e in self.ticket()["events"]]


@pytest.fixture
def desk_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """The desk's settings; ``web`` and ``schedule`` override those sections,
    every other keyword the mailbox's keys."""
    def make(*, web: dict[str, Any] | None = None, schedule: dict[str, Any] | None = None,
             **mailbox: Any) -> Settings:
        sections = {name: value for name, value in (("web", web), ("schedule", schedule)) if value is not None}
        return make_settings(
            auth={"trusted_authserv_ids": ["mx.example.gov.br"]}, smtp={"trusted_networks": ["127.0.0.1"]},
            mailbox=[{"address": "atendimento@example.gov.br", "name": "Central de Atendimento",
                      "protocol_prefix": "ATD", "team": [TEAM], "analysts": [ANALYST], **mailbox}],
            **sections)
    return make


@pytest.fixture
def open_desk(desk_settings: Callable[..., Settings]) -> Iterator[Callable[..., Desk]]:
    desks: list[Desk] = []

    def start(**overrides: Any) -> Desk:
        settings = desk_settings(**overrides)
        clock = FixedClock(FRIDAY_HOLIDAY)
        desk = Desk(RunningGateway(settings, Gateway(settings, clock)).start(), clock)
        desks.append(desk)
        return desk

    yield start
    for desk in desks:
        desk.running.stop()


@pytest.fixture
def desk(open_desk: Callable[..., Desk]) -> Desk:
    return open_desk()


@pytest.fixture
def quiet_desk(open_desk: Callable[..., Desk]) -> Callable[..., Desk]:
    """``open_desk`` with the scheduler off: only the sweeps a test runs happen."""
    def start(**mailbox: Any) -> Desk:
        return open_desk(schedule={"enabled": False}, **mailbox)
    return start


def text_of(mail: Any) -> str:
    return mail.get_body(("plain",)).get_content()
