"""Attacks replayed through the real doors: an SMTP client against the
listener (or the submission listener), an HTTP client against the pages.

``attack_desk(**overrides)`` starts a real gateway (listener, processor,
sender, web) with two service mailboxes, CNES and an internal one for the
team's own requests, and returns a :class:`Target` that sends mail the way
an attacker would (any envelope, any headers, raw bytes) and reads back
what the gateway did: tickets, events, outbox, quarantine.  Every wait is
bounded.

Two peers reach the listener, as in a real site: the MTA in front
(127.0.0.1, in ``[smtp] trusted_networks``), which adds its own
Authentication-Results, and the public Internet (127.0.0.2: any loopback
address works on Linux), where the attacker is.
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
MTA_PEER = "127.0.0.1"  # the MTA in front: trusted
PUBLIC_PEER = "127.0.0.2"  # anyone else on the Internet


def verdict(*results: str) -> dict[str, str]:
    """The Authentication-Results our MTA adds, e.g. ``verdict("dkim=pass header.d=example.gov.br")``."""
    return {"Authentication-Results": f"{MX}; " + "; ".join(results)}


def passes(address: str) -> dict[str, str]:
    """What the MTA says of a genuine mail from ``address``: SPF and DMARC pass for its domain."""
    domain = address.rsplit("@", 1)[1]
    return verdict(f"spf=pass smtp.mailfrom={domain}", f"dmarc=pass header.from={domain}")


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
             login: tuple[str, str] | None = None, source: str = PUBLIC_PEER, wait: bool = True) -> None:
        """One SMTP transaction as any client could open it, from ``source``
        (the public Internet unless told); waits until processed."""
        rcpts = [to] if isinstance(to, str) else list(to)
        with smtplib.SMTP("127.0.0.1", port or self.running.port, timeout=30,
                          source_address=(source, 0)) as client:
            if login is not None:
                client.login(*login)
            client.sendmail(mail_from, rcpts, raw)
        self.sent += 1
        if wait:
            self.running.wait_processed(self.sent)

    def rcpt_reply(self, rcpt: str, *, mail_from: str = MALLORY, port: int | None = None,
                   source: str = PUBLIC_PEER) -> tuple[int, str]:
        """The reply to RCPT TO for ``rcpt`` (nothing is sent)."""
        with smtplib.SMTP("127.0.0.1", port or self.running.port, timeout=30,
                          source_address=(source, 0)) as client:
            client.ehlo()
            client.mail(mail_from)
            code, message = client.rcpt(rcpt)
            client.rset()
        return code, message.decode("utf-8", "replace")

    refused_at_rcpt = rcpt_reply

    def citizen_opens(self, *, sender: str = ANA, subject: str = "Erro ao incluir profissional no CNES",
                      body: str = "Não consigo incluir a enfermeira na unidade.", to: str = CNES) -> str:
        """A citizen's genuine first mail, through the MTA; returns the new ticket's protocol."""
        before = {t["protocol"] for t in self.running.tickets()}
        self.send(make_mail(subject=subject, body=body, sender=f"Cidadã <{sender}>", to=to, trace=passes(sender)),
                  mail_from=sender, to=to, source=MTA_PEER)
        [protocol] = [t["protocol"] for t in self.running.tickets() if t["protocol"] not in before]
        return protocol

    def analyst_writes(self, protocol: str, body: str, *, sender: str = MARIA, to: str | None = None,
                       trace: dict[str, str] | None = None, source: str = MTA_PEER) -> None:
        """An analyst's reply to the team notice (to the ``+protocol`` address),
        genuine by default: through the MTA, which puts its DKIM pass for her
        domain on top (``trace`` replaces it)."""
        proof = verdict(f"dkim=pass header.d={sender.rsplit('@', 1)[1]}") if trace is None else trace
        rcpt = to or f"cnes+{protocol}@example.gov.br"
        self.send(make_mail(subject=f"RE: [{protocol}] Novo chamado", sender=f"Analista <{sender}>", to=rcpt,
                            trace=proof, body=body), mail_from=sender, to=rcpt, source=source)

    def solved(self, protocol: str) -> None:
        """Maria proposes a solution (genuine), so the citizen may now accept or refuse it."""
        self.analyst_writes(protocol, "#solucao\nAtualize o módulo para a versão 3.3.")
        assert self.status(protocol) == "solved"

    # -- what the gateway did ----------------------------------------------

    def ticket(self, protocol: str) -> dict[str, Any]:
        return self.running.ticket(protocol)

    def status(self, protocol: str) -> str:
        return str(self.ticket(protocol)["status"])

    def events(self, protocol: str) -> list[str]:
        return [e["kind"] for e in self.ticket(protocol)["events"]]

    def outbox(self, kind: str | None = None, to: str | None = None) -> list[Any]:
        return self.running.outbox(kind=kind, to=to)

    def inbox_count(self) -> int:
        return sum(self.running.inbox_counts().values())

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
        smtp = {"trusted_networks": [f"{MTA_PEER}/32"], **sections.pop("smtp", {})}
        return make_settings(auth=auth, smtp=smtp, mailbox=mailboxes, **sections)
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


@pytest.fixture
def imap_account(tmp_path: Any) -> Iterator[Callable[[str], tuple[Any, dict[str, Any]]]]:
    """A real Dovecot with one account per call: returns the server and the
    ``[mailbox.imap]`` table that reads it (polling fast, for tests)."""
    from tests.conftest import need
    from tests.helpers.dovecot import BINARY, Dovecot

    need(BINARY is not None, "Debian's dovecot-imapd is not installed (apt-get install dovecot-imapd)")
    servers: list[Any] = []

    def open_account(user: str) -> tuple[Any, dict[str, Any]]:
        password = f"segredo-{user}"
        server = Dovecot({user: password}).start()
        servers.append(server)
        secret = tmp_path / f"{user}.secret"
        secret.write_text(password + "\n")
        return server, {"host": "127.0.0.1", "port": server.port, "tls": "plain", "user": user,
                        "password_file": str(secret), "timeout": 10, "reconnect_max": 2, "poll_interval": 0.2,
                        "idle": False}  # these tests are about trust, not IDLE: poll, and never race an APPEND

    yield open_account
    for server in servers:
        server.stop(remove=True)
