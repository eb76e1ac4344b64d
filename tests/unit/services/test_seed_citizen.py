"""Issue 15, bugs 1 and 6 on the in-memory store: a ticket that follows a
closed one gets a clean subject and tells its requester why a new protocol
came (never a stranger quoting the protocol); mails promise reopening only
as the mailbox's ``reopen_window`` allows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.outbound.notices import promises
from gateway.services.types import Role
from tests.helpers.mailfactory import make_mail
from tests.unit.services.conftest import ANA, DESK, MARIA, NOW, Store


def _closed(store: Store, tx):
    ticket = store.open(tx)
    raw = make_mail(subject=f"RE: [{ticket.protocol}] Novo chamado", sender=f"Maria <{MARIA}>", body="#fechar\nFeito.",
                    to=f"atendimento+{ticket.protocol}@example.gov.br")
    store.intake.analysts.reply(tx, ticket, store.incoming(tx, raw, sender=MARIA))
    assert ticket.status == "closed"
    return ticket


def _reply(store: Store, tx, ticket, subject: str, *, sender: str = ANA, role: Role = Role.REQUESTER):
    raw = make_mail(subject=subject, sender=f"Ana <{sender}>", to=DESK, body="O erro voltou.")
    return store.intake.follow_ups.add(tx, ticket, store.incoming(tx, raw, sender=sender, at=NOW + timedelta(days=1)),
                                       role=role, match_reason="protocol in the subject")


@pytest.mark.parametrize(("subject", "expected"), [
    ("RES: [{old}] Erro ao incluir profissional no CNES", "Erro ao incluir profissional no CNES"),
    ("ENC: RES: [{old}] Solicitação recebida: Erro ao incluir profissional no CNES",
     "Erro ao incluir profissional no CNES"),
    ("Fwd: RE[2]: {old} - O sistema caiu de novo", "O sistema caiu de novo"),
    ("RES: [{old}]", "Erro ao incluir profissional no CNES"),
    ("Re: [ATD-2026-000099-9] outro assunto", "[ATD-2026-000099-9] outro assunto"),  # a wrong check digit is kept
])
def test_a_ticket_after_a_closed_one_has_a_clean_subject(store, subject, expected):
    with store.db.transaction() as tx:
        old = _closed(store, tx)
        new, opened = _reply(store, tx, old, subject.format(old=old.protocol))
        assert opened and new.subject == expected
        [*_, (_, _, ack)] = store.outbox(tx, "ack")
    assert ack["Subject"] == f"[{new.protocol}] Solicitação recebida: {expected}"
    assert old.protocol not in ack["Subject"]


def test_the_requester_is_told_the_old_protocol_was_closed(store):
    with store.db.transaction() as tx:
        old = _closed(store, tx)
        new, _ = _reply(store, tx, old, f"RES: [{old.protocol}] Erro")
        [*_, (_, to, ack)] = store.outbox(tx, "ack")
        body = ack.get_body(("plain",)).get_content()
        html = ack.get_body(("html",)).get_content()
    assert to == [ANA] and old.protocol in body and "já estava encerrado" in body and new.protocol in body
    assert old.protocol in html
    assert new.linked_ticket_id == old.id


def test_a_stranger_quoting_a_protocol_learns_nothing_of_that_ticket(store):
    with store.db.transaction() as tx:
        old = _closed(store, tx)
        ticket = store.intake.opening.open_ticket(
            tx, store.incoming(tx, make_mail(subject=f"RES: [{old.protocol}] Erro", sender="Beto <beto@example.org>",
                                             to=DESK), sender="beto@example.org"),
            previous=old, previous_reason="beto@example.org is not on this ticket and quoted its protocol")
        [*_, (_, to, ack)] = store.outbox(tx, "ack")
    assert to == ["beto@example.org"] and old.protocol not in ack.get_body(("plain",)).get_content()
    assert old.protocol not in ticket.subject


def test_promises_follow_the_reopen_window(make_store):
    never, weekly = make_store(), make_store(reopen_window="7d")
    with weekly.db.transaction() as tx:
        ticket = _closed(weekly, tx)
        assert promises(ticket, weekly.mailbox, "pt_BR") == {
            "reopen_window": "7 dias", "reopen_until": "segunda-feira, 30/11/2026, às 10h"}
        assert promises(ticket, never.mailbox, "pt_BR") == {"reopen_window": "", "reopen_until": ""}
        [(_, _, closed)] = weekly.outbox(tx, "closed")
    text = " ".join(closed.get_body(("plain",)).get_content().split())
    assert "até segunda-feira, 30/11/2026, às 10h e o chamado será reaberto" in text
    assert "\r\n\r\nAtenciosamente" in closed.get_body(("plain",)).get_content(), "a blank line before the sign-off"
