"""The deciding steps on an in-memory store: each mail is stored in the
inbox as a transport would, then parse -> screen -> dedupe -> route ->
find_ticket -> identify run on its context (issue 17's pipeline tier)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from gateway.clock import FixedClock
from gateway.config import StorageConfig, load_settings
from gateway.outbound.notices import Notifier
from gateway.outbound.render import Renderer
from gateway.pipeline import runner
from gateway.pipeline.context import Flag, MailContext
from gateway.services.incoming import Incoming
from gateway.services.intake import Intake
from gateway.services.types import Role
from gateway.store import inbox
from gateway.store.db import Database
from tests.helpers.mailfactory import make_mail

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)
CNES, INTERNAL = "cnes@example.gov.br", "interno@example.gov.br"
MARIA, PEDRO, ANA = "maria@example.gov.br", "pedro@example.gov.br", "ana@example.org"
MX = "mx.example.gov.br"
DKIM_PASS = {"Authentication-Results": f"{MX}; dkim=pass header.d=example.gov.br"}


class Desk:
    def __init__(self, **smtp: Any) -> None:
        self.settings = load_settings(overrides={
            "smtp": {"trusted_networks": ["127.0.0.1"], **smtp}, "auth": {"trusted_authserv_ids": [MX]},
            "mailbox": [
                {"address": CNES, "protocol_prefix": "CNES", "team": ["equipe@example.gov.br"], "analysts": [MARIA]},
                {"address": INTERNAL, "protocol_prefix": "TI", "team": ["ti@example.gov.br"], "analysts": [PEDRO],
                 "internal": True}]})
        self.db = Database(StorageConfig(url="sqlite:///:memory:"))
        self.db.migrate()
        self.intake = Intake(self.settings, Notifier(self.settings, Renderer()))

    def decide(self, raw: bytes, *, rcpt: str = CNES, via: str = "smtp", peer: str = "127.0.0.2:4000",
               login: str | None = None) -> MailContext:
        """Store the mail as accepted and run the deciding steps; the context after them."""
        with self.db.transaction() as tx:
            [inbox_id] = inbox.add_accepted(tx, [{
                "received_at": NOW, "via": via, "peer": peer, "mail_from": "x@example.org", "rcpt_tos": [rcpt],
                "authenticated_as": login, "mailbox_hint": None, "sha256": str(hash(raw)), "message_id": None,
                "size": len(raw), "raw": raw}])
            ctx = MailContext(inbox=inbox.get(tx, inbox_id), settings=self.settings, tx=tx, clock=FixedClock(NOW))
            runner.run(ctx, runner.DECIDING_STEPS)
            return ctx

    def ticket(self, mailbox: str = CNES) -> str:
        """A ticket opened by Ana on ``mailbox``; its protocol."""
        with self.db.transaction() as tx:
            raw = make_mail(sender=f"Ana <{ANA}>", to=mailbox)
            [inbox_id] = inbox.add_accepted(tx, [{
                "received_at": NOW, "via": "smtp", "peer": "", "mail_from": ANA, "rcpt_tos": [mailbox],
                "authenticated_as": None, "mailbox_hint": None, "sha256": "1", "message_id": None,
                "size": len(raw), "raw": raw}])
            from gateway.mail.parsed import parse

            found = self.settings.mailbox_for(mailbox)
            assert found is not None
            incoming = Incoming(mail=parse(raw), inbox_id=inbox_id, mailbox=found[0], sender=ANA, at=NOW)
            return self.intake.opening.open_ticket(tx, incoming).protocol


@pytest.fixture
def desk() -> Desk:
    return Desk()


def _as(sender: str, protocol: str = "", body: str = "#fechar", **options: Any) -> bytes:
    subject = f"RE: [{protocol}] x" if protocol else "Pergunta"
    return make_mail(subject=subject, sender=f"Quem <{sender}>", body=body, **options)


def test_the_envelope_routes_never_a_header(desk):
    ctx = desk.decide(make_mail(sender=f"X <{ANA}>", to=INTERNAL), rcpt="postmaster@example.gov.br")
    assert ctx.mailbox is None and ctx.forward_to == "equipe@example.gov.br"
    ctx = desk.decide(make_mail(sender=f"X <{ANA}>", to=INTERNAL), rcpt="cnes+TOKEN@example.gov.br")
    assert ctx.mailbox.address == CNES and ctx.token == "TOKEN"


@pytest.mark.parametrize("how, options, role", [
    ("the MTA's DKIM pass on top", dict(trace=DKIM_PASS, peer="127.0.0.1:25"), Role.ANALYST),
    ("a login as herself", dict(via="submission", login=MARIA), Role.ANALYST),
    ("the same header from the public", dict(trace=DKIM_PASS), Role.STRANGER),
    ("nothing", {}, Role.STRANGER),
])
def test_an_analyst_is_who_proves_it(desk, how, options, role):
    protocol = desk.ticket()
    trace = options.pop("trace", None)
    ctx = desk.decide(_as(MARIA, protocol, trace=trace), **options)
    assert ctx.role is role, how
    assert (Flag.FORGED_ANALYST in ctx.flags) is (role is Role.STRANGER), how


def test_an_analyst_of_another_mailbox_is_a_colleague_at_most(desk):
    protocol = desk.ticket(CNES)
    ctx = desk.decide(_as(PEDRO, protocol), rcpt=INTERNAL, peer="127.0.0.1:25")
    assert ctx.role is Role.COLLEAGUE and ctx.home.address == CNES and "internal mailbox" in ctx.proof


def test_the_internal_proof_needs_the_internal_mailbox_in_the_envelope(desk):
    protocol = desk.ticket(INTERNAL)
    obeyed = desk.decide(_as(PEDRO, protocol), rcpt=INTERNAL, peer="127.0.0.1:25")
    assert obeyed.role is Role.ANALYST
    from_outside = desk.decide(_as(PEDRO, protocol), rcpt=INTERNAL, peer="127.0.0.2:25")
    assert from_outside.role is Role.STRANGER and Flag.FORGED_ANALYST in from_outside.flags


def test_a_login_speaks_only_for_its_own_address(desk):
    protocol = desk.ticket()
    ctx = desk.decide(_as(ANA, protocol, body="Sim"), via="submission", login=MARIA)
    assert ctx.role is None and "a login speaks only for itself" in ctx.trace[-1].note


def test_requester_participant_and_stranger(desk):
    protocol = desk.ticket()
    assert desk.decide(_as(ANA, protocol, body="Oi")).role is Role.REQUESTER
    stranger = desk.decide(_as("mallory@evil.example", protocol, body="Oi"))
    assert stranger.role is Role.STRANGER and stranger.ticket is None and stranger.previous_ticket.protocol == protocol


def test_a_typo_in_the_protocol_matches_nothing(desk):
    protocol = desk.ticket()
    typo = protocol[:-1] + str((int(protocol[-1]) + 1) % 10)
    assert desk.decide(_as(ANA, typo, body="Oi")).ticket is None
    assert desk.decide(_as(ANA, protocol, body="Oi")).ticket.protocol == protocol
