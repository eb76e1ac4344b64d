"""One mail, one effect; machines never get an answer (PITFALLS D, G, K and item 9).

Over the real SMTP listener: re-deliveries (same Message-ID, or same bytes
when there is none, or the same mail to two of our addresses) change
nothing the second time; auto-replies, lists, bounces and our own mail get
no acknowledgement, are kept on the ticket they name without touching its
state, and are filed with a reason (not quarantined) when they name none; the
per-sender acknowledgement limit stops two robots answering each other.
"""

from __future__ import annotations

import json
import re
import smtplib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.store import tickets
from gateway.store.models import InboxRow
from tests.helpers.mailfactory import crlf, make_mail
from tests.helpers.servers import RunningGateway, wait_until

CITIZEN = "ana.souza@example.org"
ROBOT = "robo@crm.example.org"
SERVICE = "atendimento@example.gov.br"


# -- helpers ----------------------------------------------------------------


def send(gateway: RunningGateway, raw: bytes, *, mail_from: str = CITIZEN,
         rcpt: list[str] | None = None) -> InboxRow:
    """Deliver over a real SMTP session, wait until processed, return its inbox row."""
    before = sum(gateway.inbox_counts().values())
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
        client.sendmail(mail_from, rcpt or [gateway.address], crlf(raw))
    gateway.wait_processed(before + 1)
    return inbox_rows(gateway)[-1]


def inbox_rows(gateway: RunningGateway) -> list[InboxRow]:
    with gateway.gateway.db.transaction() as tx:
        rows = list(tx.scalars(select(InboxRow).order_by(InboxRow.id)))
        tx.expunge_all()
    return rows


def open_ticket(gateway: RunningGateway) -> tuple[str, Any]:
    row = send(gateway, make_mail(subject="Erro ao incluir profissional no CNES"))
    assert row.outcome == "new_ticket", row.reason
    [ack] = gateway.outbox(kind="ack")
    return ack["X-Ticket-Protocol"], ack


def events(gateway: RunningGateway, protocol: str) -> list[str]:
    return [e["kind"] for e in gateway.ticket(protocol)["events"]]


# -- duplicates ----------------------------------------------------------------


def test_the_same_mail_delivered_twice_has_one_effect(gateway: RunningGateway) -> None:
    raw = make_mail(message_id="<uma.vez@client.example.org>")
    first = send(gateway, raw)
    second = send(gateway, raw)  # an MTA that lost our 250 and retried
    assert (first.status, second.status) == ("processed", "duplicate")
    assert second.reason == f"already processed as inbox #{first.id} (mid:uma.vez@client.example.org)"
    assert len(gateway.tickets()) == 1
    assert len(gateway.outbox(kind="ack")) == 1 and len(gateway.outbox(kind="team_new")) == 1


def test_the_same_message_id_with_other_bytes_is_still_one_effect(gateway: RunningGateway) -> None:
    raw = make_mail(message_id="<relay.retry@client.example.org>")
    send(gateway, raw)
    again = send(gateway, b"Received: from relay2.example.org by mx.example.gov.br; Mon, 23 Nov 2026\r\n" + raw)
    assert again.status == "duplicate"
    assert len(gateway.tickets()) == 1 and len(gateway.outbox(kind="ack")) == 1


def test_no_message_id_and_identical_bytes_is_one_effect(gateway: RunningGateway) -> None:
    raw = make_mail(message_id=None)
    assert b"Message-ID" not in raw
    first, second = send(gateway, raw), send(gateway, raw)
    assert (first.status, second.status) == ("processed", "duplicate")
    assert second.reason.startswith(f"already processed as inbox #{first.id} (sha:")
    assert len(gateway.tickets()) == 1 and len(gateway.outbox(kind="ack")) == 1
    # ... while a different mail without Message-ID is a different mail.
    other = send(gateway, make_mail(message_id=None, body="Outra pergunta, outro assunto."))
    assert other.outcome == "new_ticket" and len(gateway.tickets()) == 2


def test_the_same_mail_to_two_of_our_mailboxes_in_two_transactions_is_one_ticket(
        start_gateway: Callable[..., RunningGateway]) -> None:
    gateway = start_gateway(mailbox=[{"address": SERVICE, "protocol_prefix": "ATD"},
                                     {"address": "cnes@example.gov.br", "protocol_prefix": "CNES"}])
    raw = make_mail(to=f"{SERVICE}, cnes@example.gov.br", message_id="<duas.caixas@client.example.org>")
    first = send(gateway, raw, rcpt=[SERVICE])
    second = send(gateway, raw, rcpt=["cnes@example.gov.br"])
    assert (first.outcome, second.status) == ("new_ticket", "duplicate")
    assert len(gateway.tickets()) == 1
    assert len(gateway.outbox(kind="ack")) == 1


# -- automatic mail ---------------------------------------------------------------

#: name -> (extra headers, From, envelope sender, what the reason must name)
AUTOMATIC: dict[str, tuple[dict[str, str], str, str, str]] = {
    "auto-submitted auto-replied": ({"Auto-Submitted": "auto-replied"}, CITIZEN, CITIZEN, "Auto-Submitted"),
    "auto-submitted auto-generated": ({"Auto-Submitted": "auto-generated"}, CITIZEN, CITIZEN, "Auto-Submitted"),
    "precedence bulk": ({"Precedence": "bulk"}, CITIZEN, CITIZEN, "Precedence: bulk"),
    "precedence list": ({"Precedence": "list"}, CITIZEN, CITIZEN, "Precedence: list"),
    "precedence junk": ({"Precedence": "junk"}, CITIZEN, CITIZEN, "Precedence: junk"),
    "list-id": ({"List-Id": "Avisos <avisos.lista.example.org>"}, CITIZEN, CITIZEN, "List-Id"),
    "x-autoreply": ({"X-Autoreply": "yes"}, CITIZEN, CITIZEN, "X-Autoreply"),
    "null envelope sender": ({}, CITIZEN, "", "envelope sender <> is null"),
    "from mailer-daemon": ({}, "Mail Delivery System <MAILER-DAEMON@mx.example.org>", "", "mailer daemon"),
    "from our own address": ({}, f"Central de Atendimento <{SERVICE}>", SERVICE, f"our own address {SERVICE}"),
}


@pytest.mark.parametrize("case", AUTOMATIC)
def test_automatic_mail_referring_to_no_ticket_is_filed_and_not_answered(
        gateway: RunningGateway, case: str) -> None:
    headers, sender, envelope, why = AUTOMATIC[case]
    row = send(gateway, make_mail(sender=sender, subject="Aviso", headers=headers), mail_from=envelope)
    assert (row.status, row.outcome) == ("processed", "filed"), row.reason
    assert re.match(r"(automatic mail|bounce) that refers to no ticket \(.+\); filed", row.reason), row.reason
    assert why in row.reason, row.reason
    assert gateway.tickets() == [] and gateway.outbox() == []
    assert gateway.quarantined() == []  # nothing for a person to fix


def test_auto_submitted_no_is_a_person_and_gets_an_ack(gateway: RunningGateway) -> None:
    row = send(gateway, make_mail(headers={"Auto-Submitted": "no"}))
    assert row.outcome == "new_ticket", row.reason
    [ack] = gateway.outbox(kind="ack")
    assert ack["To"] == CITIZEN


#: the cases a requester's own mail system produces (From is the requester)
FROM_REQUESTER = [c for c, (_, sender, _, _) in AUTOMATIC.items() if sender == CITIZEN]


@pytest.mark.parametrize("case", FROM_REQUESTER)
def test_automatic_mail_with_a_protocol_is_stored_without_effects(gateway: RunningGateway, case: str) -> None:
    protocol, _ = open_ticket(gateway)
    headers, sender, envelope, _ = AUTOMATIC[case]
    row = send(gateway, make_mail(sender=sender, subject=f"Resposta: [{protocol}] Solicitação recebida",
                                  body="Estou fora do escritório até segunda-feira.", headers=headers),
               mail_from=envelope)
    assert row.outcome == "follow_up" and row.reason.startswith(f"added to {protocol}"), row.reason
    ticket = gateway.ticket(protocol)
    assert ticket["status"] == "new"
    assert events(gateway, protocol)[-1] == "automatic_mail"
    last = [m for m in ticket["messages"] if m["direction"] == "in"][-1]
    assert last["automatic"] and "fora do escritório" in last["text"]
    assert len(gateway.outbox(kind="ack")) == 1, "an automatic mail was answered"
    assert gateway.outbox(kind="team_followup") == [], "the team was woken for a robot"


def test_an_out_of_office_reply_does_not_reopen_a_closed_ticket(gateway: RunningGateway) -> None:
    """osTicket#2256; and it must not open a new ticket either (glpi#24760)."""
    protocol, ack = open_ticket(gateway)
    with gateway.gateway.db.transaction() as tx:
        ticket = tickets.by_protocol(tx, protocol)
        assert ticket is not None
        ticket.status = "closed"
    row = send(gateway, make_mail(subject=f"Resposta automática: [{protocol}] Solicitação recebida",
                                  body="Estou de férias.", in_reply_to=ack["Message-ID"],
                                  headers={"Auto-Submitted": "auto-replied"}))
    assert row.outcome == "follow_up", row.reason
    assert len(gateway.tickets()) == 1 and gateway.ticket(protocol)["status"] == "closed"
    assert events(gateway, protocol)[-1] == "automatic_mail"
    assert len(gateway.outbox(kind="ack")) == 1


def _text_bounce(ack: Any, protocol: str) -> bytes:
    return make_mail(
        sender="Mail Delivery System <MAILER-DAEMON@mx.example.org>", to=SERVICE,
        subject="Undelivered Mail Returned to Sender",
        body=("This is the mail system at host mx.example.org.\n\n"
              "I'm sorry to have to inform you that your message could not be delivered.\n\n"
              f"<{CITIZEN}>: host mx.example.org said: 550 5.1.1 User unknown\n\n"
              "--- Returned headers ---\n"
              f"Message-ID: {ack['Message-ID']}\n"
              f"Subject: [{protocol}] Solicitação recebida\n"))


def _report_bounce(ack: Any, protocol: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.org\r\n"
        f"To: {SERVICE}\r\n"
        "Subject: Notificação de falha na entrega\r\n"
        "Message-ID: <dsn.1@mx.example.org>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Não foi possível entregar a mensagem.\r\n\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {CITIZEN}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {SERVICE}\r\nTo: {CITIZEN}\r\nMessage-ID: {ack['Message-ID']}\r\n"
        f"Subject: [{protocol}] Solicitação recebida\r\n\r\n"
        "--b1--\r\n").encode()


@pytest.mark.parametrize("build", [_text_bounce, _report_bounce], ids=["text", "multipart-report"])
def test_a_bounce_of_our_ack_is_stored_on_its_ticket_and_never_answered(
        gateway: RunningGateway, build: Callable[[Any, str], bytes]) -> None:
    """Stored on its ticket, no state change, nothing to the daemon; since
    issue 16 the failure is on the timeline and the team is told
    (tests/integration/test_bounces.py has the rest)."""
    protocol, ack = open_ticket(gateway)
    row = send(gateway, build(ack, protocol), mail_from="")
    assert row.outcome == "follow_up", row.reason
    assert "the quoted Message-ID of the bounce" in row.reason, row.reason
    assert gateway.ticket(protocol)["status"] == "new"
    assert events(gateway, protocol)[-2:] == ["bounce", "delivery_failed"]
    assert len(gateway.tickets()) == 1 and len(gateway.outbox(kind="ack")) == 1
    assert gateway.outbox(kind="team_followup") == []
    assert len(gateway.outbox(kind="team_bounce")) == 1
    assert gateway.outbox(to="mailer-daemon@mx.example.org") == []


@pytest.mark.parametrize("sender", [SERVICE, "outra.pessoa@example.net"], ids=["our own address", "a stranger"])
def test_automatic_mail_from_someone_not_on_the_ticket_is_kept_aside(gateway: RunningGateway, sender: str) -> None:
    """A mail claiming to be us (or anyone's robot) quoting a protocol must
    neither be answered nor write into that ticket; it is quarantined with
    the ticket named."""
    protocol, _ = open_ticket(gateway)
    row = send(gateway, make_mail(sender=sender, subject=f"Resposta automática: [{protocol}] Solicitação",
                                  headers={"Auto-Submitted": "auto-replied"}), mail_from=sender)
    assert row.status == "quarantined"
    assert f"who is not on {protocol}" in row.reason, row.reason
    assert [m["sender"] for m in gateway.ticket(protocol)["messages"] if m["direction"] == "in"] == [CITIZEN]
    assert len(gateway.tickets()) == 1 and len(gateway.outbox(kind="ack")) == 1


@pytest.mark.parametrize("number", ["19", "20", "21"])
def test_ptbr_out_of_office_and_dsn_get_no_ack(gateway: RunningGateway, corpus: Path, number: str) -> None:
    """ptbr-clients 19 (OOO with Auto-Submitted), 20 (OOO with no header at
    all, only the 'Resposta automática:' subject), 21 (Portuguese DSN)."""
    [eml] = (corpus / "ptbr-clients").glob(f"{number}-*.eml")
    meta = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
    envelope = "" if meta["is_bounce"] else meta["from"]
    row = send(gateway, eml.read_bytes(), mail_from=envelope)
    assert (row.status, row.outcome) == ("processed", "filed"), row.reason
    assert ("bounce" if meta["is_bounce"] else "automatic mail") in row.reason
    assert gateway.tickets() == [] and gateway.outbox() == []


# -- acknowledgement limit and robots --------------------------------------------------


def test_the_ack_limit_per_sender_per_hour(start_gateway: Callable[..., RunningGateway]) -> None:
    gateway = start_gateway(limits={"acks_per_sender_per_hour": 2})
    for n in range(3):
        row = send(gateway, make_mail(subject=f"Pedido {n + 1}", body=f"Pedido número {n + 1}."))
        assert row.outcome == "new_ticket", row.reason
    created = gateway.tickets()
    assert len(created) == 3, "tickets are still created beyond the limit"
    acks = gateway.outbox(kind="ack", to=CITIZEN)
    assert [a["X-Ticket-Protocol"] for a in acks] == [t["protocol"] for t in created[:2]]
    assert "ack_skipped" in events(gateway, created[2]["protocol"])
    assert "ack_skipped" not in events(gateway, created[0]["protocol"])
    assert len(gateway.outbox(kind="team_new")) == 3, "the team still hears of every ticket"
    # Another citizen is not affected by Ana's count.
    send(gateway, make_mail(sender="Carla <carla.dias@example.org>", subject="Outro"),
         mail_from="carla.dias@example.org")
    assert len(gateway.outbox(kind="ack", to="carla.dias@example.org")) == 1


def test_a_peer_helpdesk_that_keeps_our_x_loop_gets_no_answer(start_gateway: Callable[..., RunningGateway]) -> None:
    """osTicket-1.7#532: two helpdesks answering each other.  Our automatic
    mail says X-Loop: <mailbox>, as RT's and OTRS's do; a peer that carries
    it into its own new mail (no threading, a new subject) is recognised as
    automatic and not acknowledged, so the pair cannot start a loop."""
    gateway = start_gateway()
    send(gateway, make_mail(subject="Pedido de certidão"))
    [ack] = gateway.outbox(kind="ack")
    assert ack["Auto-Submitted"] == "auto-replied" and ack["X-Loop"] == SERVICE
    echo = make_mail(sender="Suporte <suporte@outro-helpdesk.example.org>", subject="Recebemos sua mensagem #55",
                     body="Seu chamado #55 foi aberto.", headers={"X-Loop": ack["X-Loop"]})
    row = send(gateway, echo, mail_from="suporte@outro-helpdesk.example.org")
    assert row.outcome == "filed" and f"X-Loop names our address {SERVICE}" in row.reason
    assert gateway.outbox(kind="ack", to="suporte@outro-helpdesk.example.org") == []


def test_a_robot_answering_from_a_new_plus_address_each_round_stops_too(
        start_gateway: Callable[..., RunningGateway]) -> None:
    """freescout#688 "via a CRM that rewrites the address": each answer comes
    from robo+<n>@crm, a new sender every round if counted by the exact
    address.  The +tag family shares one limit, so the loop dies out there;
    every mail still becomes a ticket (nothing is lost, only unanswered)."""
    limit, max_rounds = 2, 10
    gateway = start_gateway(limits={"acks_per_sender_per_hour": limit})
    answered: set[str] = set()
    sent = 0

    def robot() -> str:
        return f"robo+{1000 + sent}@crm.example.org"

    def robot_mail() -> bytes:
        return make_mail(sender=f"CRM Atendimento <{robot()}>", subject=f"[CRM #{1000 + sent}] Chamado aberto",
                         body=f"Registramos seu contato sob o número CRM #{1000 + sent}.")

    def acks() -> list[Any]:
        return [a for a in gateway.outbox(kind="ack") if "@crm.example.org" in a["To"]]

    send(gateway, robot_mail(), mail_from=robot())
    sent += 1
    for _round in range(max_rounds):
        fresh = [a for a in acks() if a["Message-ID"] not in answered]
        if not fresh:
            break
        for ack in fresh:
            answered.add(ack["Message-ID"])
            send(gateway, robot_mail(), mail_from=robot())
            sent += 1
    else:
        pytest.fail(f"still acknowledging the robot's +addresses after {max_rounds} rounds")
    assert len(acks()) == limit and sent == limit + 1
    robot_tickets = [t for t in gateway.tickets() if t["requester"].endswith("@crm.example.org")]
    assert len(robot_tickets) == sent
    assert "ack_skipped" in events(gateway, robot_tickets[-1]["protocol"])


def test_two_robots_answering_each_other_stop(start_gateway: Callable[..., RunningGateway]) -> None:
    """freescout#688: an auto-responder that ignores Auto-Submitted and
    answers each of our acknowledgements with a brand-new mail (its own
    ticket number, no threading headers).  The loop must die out at the
    acknowledgement limit, well within the 10 rounds we allow it."""
    limit, max_rounds = 2, 10
    gateway = start_gateway(limits={"acks_per_sender_per_hour": limit})
    answered: set[str] = set()
    sent = 0

    def robot_mail() -> bytes:
        return make_mail(sender=f"CRM Atendimento <{ROBOT}>", subject=f"[CRM #{1000 + sent}] Chamado aberto",
                         body=f"Registramos seu contato sob o número CRM #{1000 + sent}.")

    send(gateway, robot_mail(), mail_from=ROBOT)
    sent += 1
    rounds = 0
    for rounds in range(1, max_rounds + 1):
        fresh = [a for a in gateway.outbox(kind="ack", to=ROBOT) if a["Message-ID"] not in answered]
        if not fresh:
            break
        for ack in fresh:
            assert ack["Auto-Submitted"] == "auto-replied"  # a polite robot would stop here
            answered.add(ack["Message-ID"])
            send(gateway, robot_mail(), mail_from=ROBOT)
            sent += 1
    else:
        pytest.fail(f"still acknowledging the robot after {max_rounds} rounds")

    acks = gateway.outbox(kind="ack", to=ROBOT)
    assert len(acks) == limit, f"{len(acks)} acknowledgements to a robot; the limit is {limit}"
    assert rounds <= limit + 1 and sent == limit + 1
    robot_tickets = [t for t in gateway.tickets() if t["requester"] == ROBOT]
    assert len(robot_tickets) == sent
    assert "ack_skipped" in events(gateway, robot_tickets[-1]["protocol"])
    # Nothing is still queued that could restart the loop.
    wait_until(lambda: gateway.inbox_counts().get("accepted", 0) == 0, what="inbox drained")
    assert len(gateway.outbox(kind="ack", to=ROBOT)) == limit

