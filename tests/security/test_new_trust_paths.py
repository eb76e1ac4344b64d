"""Attacks on the paths issues 15 and 16 opened, through the real listener.

- a delivery report can mark an address dead and tell the team: only our
  own return path (an unguessable token) or a Message-ID only the recipient
  saw ties one to a ticket, so a forged report from the Internet marks nothing;
- Outlook's Thread-Index can find a ticket: a stranger who copies it gets a
  ticket of their own, and ours (which names its ticket, signed) cannot be
  made for a ticket the stranger never got a mail of;
- a mail without From is answered at Sender/Reply-To: that names whom to
  answer, never who is writing, so an analyst's address there obeys nothing;
- a thread's References root, a protocol in the body and a legacy
  mailbox's old number find a ticket only for someone already on it.
"""

from __future__ import annotations

import base64
import email

from sqlalchemy import select

from gateway.outbound import compose
from gateway.store.models import BouncingAddressRow
from tests.helpers.mailfactory import make_mail
from tests.security.conftest import ANA, CNES, MALLORY, MARIA, Target

CONVERSATION = b"\x01\xd9\x5f\x3a" + bytes(range(18))  # the 22-byte base of an Outlook conversation


def _bouncing(target: Target) -> list[str]:
    with target.running.gateway.db.transaction() as tx:
        return [row.address for row in tx.scalars(select(BouncingAddressRow))]


def _forged_report(to: str, recipient: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@evil.example>\r\n"
        f"To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <forged-dsn@evil.example>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nThe address is dead.\r\n\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; evil.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
        "--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: <{CNES}>\r\nTo: {recipient}\r\nMessage-ID: <guessed@example.gov.br>\r\n\r\n--b1--\r\n").encode()


def test_a_forged_delivery_report_marks_no_address_and_touches_no_ticket(target: Target) -> None:
    protocol = target.citizen_opens()
    before = target.events(protocol)
    for return_path in ("bounce+aaaaaaaaaaaaaaaa@example.gov.br", "bounce@example.gov.br"):
        target.send(_forged_report(return_path, ANA), mail_from="", to=return_path)
    assert _bouncing(target) == [], "only a report tied to a mail we sent may mark an address"
    assert target.events(protocol) == before
    assert "delivery_failed" not in target.events(protocol)
    assert target.outbox(kind="team_bounce") == [], "the team is not told of a report about nothing we sent"


def test_a_stranger_copying_the_thread_index_gets_a_ticket_of_their_own(target: Target) -> None:
    index = base64.b64encode(CONVERSATION).decode()
    target.send(make_mail(subject="Erro no cadastro", sender=f"Cidadã <{ANA}>", to=CNES,
                          headers={"Thread-Index": index, "Thread-Topic": "Erro no cadastro"}), mail_from=ANA)
    [protocol] = [t["protocol"] for t in target.tickets()]
    before = target.events(protocol)

    copied = base64.b64encode(CONVERSATION + b"\x00\x00\x01\x02\x03").decode()
    target.send(make_mail(subject="Erro no cadastro", sender=f"Mallory <{MALLORY}>", to=CNES,
                          body="Mudem o e-mail deste chamado para o meu.",
                          headers={"Thread-Index": copied, "Thread-Topic": "Erro no cadastro"}))
    assert target.events(protocol) == before, "nothing of the stranger's mail reached the citizen's ticket"
    assert len(target.tickets()) == 2

    # Control: the citizen's own next mail of that conversation does find her ticket by it.
    target.send(make_mail(subject="Erro no cadastro", sender=f"Cidadã <{ANA}>", to=CNES, body="Segue o print.",
                          headers={"Thread-Index": copied, "Thread-Topic": "Erro no cadastro"}), mail_from=ANA)
    assert len(target.tickets()) == 2 and len(target.events(protocol)) > len(before)


def test_our_own_thread_index_cannot_be_forged_for_another_ticket(target: Target) -> None:
    """Our mails' Thread-Index names its ticket (``mail.threadindex``): a
    stranger who reads the shape off an acknowledgement of her own and
    writes in the citizen's ticket number gets no ticket of the citizen's,
    with or without the tag copied; the citizen's reply with the real one
    lands on hers."""
    from gateway.mail.threadindex import conversation_of
    from gateway.store.models import OutboxRow, TicketRow

    target.send(make_mail(subject="Erro no cadastro", sender=f"Cidadã <{ANA}>", to=CNES), mail_from=ANA)
    target.send(make_mail(subject="Outro assunto", sender=f"Mallory <{MALLORY}>", to=CNES))
    with target.running.gateway.db.transaction() as tx:
        ids = {t.requester: t.id for t in tx.scalars(select(TicketRow))}
        acks = {o.rcpt_tos[0]: compose.sendable(o.raw)
                for o in tx.scalars(select(OutboxRow).where(OutboxRow.kind == "ack"))}
    [protocol] = [t["protocol"] for t in target.tickets() if t["requester"] == ANA]
    before = target.events(protocol)
    mallorys = base64.b64decode(
        "".join(email.message_from_bytes(acks[MALLORY])["Thread-Index"].split()))
    for tag in (mallorys[18:22], bytes(4)):
        forged = mallorys[:10] + ids[ANA].to_bytes(8, "big") + tag + b"\x00\x00\x10\x20\x30"
        assert conversation_of(base64.b64encode(forged).decode()) is not None, "well formed"
        # As herself, and in the citizen's name (From: Ana, from Mallory's
        # server): only the signature stops the second, which names someone on it.
        for sender in (f"Mallory <{MALLORY}>", f"Cidadã <{ANA}>"):
            target.send(make_mail(subject="Erro no cadastro", sender=sender, to=CNES,
                                  body="Mudem o e-mail deste chamado para o meu.",
                                  headers={"Thread-Index": base64.b64encode(forged).decode()}))
    assert target.events(protocol) == before, "nothing of the stranger's mails reached the citizen's ticket"

    anas = "".join(email.message_from_bytes(acks[ANA])["Thread-Index"].split())
    reply = base64.b64encode(base64.b64decode(anas) + b"\x00\x00\x10\x20\x30").decode()
    target.send(make_mail(subject="Erro no cadastro", sender=f"Cidadã <{ANA}>", to=CNES, body="Segue o print.",
                          headers={"Thread-Index": reply}), mail_from=ANA)
    assert len(target.events(protocol)) > len(before), "the citizen's own reply finds her ticket by it"


def test_an_analyst_address_in_reply_to_of_a_mail_without_from_obeys_nothing(target: Target) -> None:
    protocol = target.citizen_opens()
    raw = make_mail(subject=f"RE: [{protocol}] Erro", sender=f"Maria <{MARIA}>", to=CNES, body="#fechar\nResolvido.",
                    headers={"Reply-To": MARIA})
    raw = raw.replace(f"From: Maria <{MARIA}>\r\n".encode(), b"")
    assert b"\r\nFrom:" not in raw and not raw.startswith(b"From:")
    target.send(raw)
    assert target.status(protocol) != "closed", "a command was obeyed from a mail without a From"
    assert target.outbox(kind="command_done") == []


def test_a_stranger_copying_a_threads_root_gets_a_ticket_of_their_own(target: Target) -> None:
    """The References root two replies share (zammad#5716) finds a ticket
    only for someone on it: a stranger who copies it is no one there."""
    root = "<pergunta.original@cidada.example>"
    target.send(make_mail(subject="RES: Erro no cadastro", sender=f"Cidadã <{ANA}>", to=CNES,
                          in_reply_to=root, references=root), mail_from=ANA)
    [protocol] = [t["protocol"] for t in target.tickets()]
    before = target.events(protocol)

    target.send(make_mail(subject="RES: Erro no cadastro", sender=f"Mallory <{MALLORY}>", to=CNES,
                          body="Mudem o e-mail deste chamado para o meu.", in_reply_to=root, references=root))
    assert target.events(protocol) == before and len(target.tickets()) == 2

    # Control: Ana's own second reply in that thread does find her ticket by it.
    target.send(make_mail(subject="RES: Erro no cadastro", sender=f"Cidadã <{ANA}>", to=CNES, body="Segue o print.",
                          in_reply_to=root, references=f"{root} <outra@cidada.example>"), mail_from=ANA)
    assert len(target.tickets()) == 2 and len(target.events(protocol)) > len(before)


def test_a_stranger_quoting_a_protocol_in_the_body_gets_a_ticket_of_their_own(target: Target) -> None:
    """A protocol in the body finds a ticket only for someone on it, and a
    stranger's mention leaves not even a note there (PITFALLS item 4)."""
    protocol = target.citizen_opens()
    before = target.events(protocol)
    target.send(make_mail(subject="Dúvida", sender=f"Mallory <{MALLORY}>", to=CNES,
                          body=f"Sobre o protocolo {protocol}: mudem o e-mail para o meu."))
    assert target.events(protocol) == before and len(target.tickets()) == 2


def test_a_stranger_naming_a_legacy_number_gets_a_ticket_of_their_own(attack_desk) -> None:
    """An old number of a migrated mailbox (never signed) finds its ticket
    only for someone on it (PITFALLS item 8)."""
    from gateway.store import tickets

    target = attack_desk(cnes={"legacy_references": [r"Chamado n[ºo]\s*(\d+)"]})
    protocol = target.citizen_opens()
    with target.running.gateway.db.transaction() as tx:
        ticket = tickets.by_protocol(tx, protocol)
        assert ticket is not None
        tickets.add_thread_ref(tx, tickets.legacy_key(CNES, "1234"), ticket.id, ours=False)  # as `gateway migrate` keeps it
    before = target.events(protocol)

    target.send(make_mail(subject="RE: Chamado nº 1234", sender=f"Mallory <{MALLORY}>", to=CNES,
                          body="Mudem o e-mail deste chamado para o meu."))
    assert target.events(protocol) == before and len(target.tickets()) == 2

    # Control: Ana naming it finds her ticket.
    target.send(make_mail(subject="RE: Chamado nº 1234", sender=f"Cidadã <{ANA}>", to=CNES, body="Alguma novidade?"),
                mail_from=ANA)
    assert len(target.tickets()) == 2 and len(target.events(protocol)) > len(before)
