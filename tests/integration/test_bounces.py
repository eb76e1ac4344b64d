"""Bounces end to end, over SMTP: our mail leaves with a VERP return path
through a real relay (a capture server), its delivery report comes back to
``bounce+<token>@`` on our listener, and the ticket, the team and the next
reminder show it (issue 16, "Bounces, properly")."""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.clock import FixedClock
from tests.helpers.mailfactory import crlf, make_mail
from tests.helpers.servers import CaptureRelay, RunningGateway, wait_until

NOW = datetime(2026, 11, 18, 13, 0, tzinfo=timezone.utc)
CITIZEN = "ana.souza@example.org"
ANALYST = "maria.lima@example.gov.br"
TEAM = "equipe@example.gov.br"
SERVICE = "atendimento@example.gov.br"
TRUSTED = {"Authentication-Results": "mx.example.gov.br; dkim=pass header.d=example.gov.br"}
VERP = re.compile(r"^bounce\+([a-z2-7]{25})@example\.gov\.br$")


class Desk:
    def __init__(self, running: RunningGateway, clock: FixedClock, relay: CaptureRelay) -> None:
        self.running, self.clock, self.relay = running, clock, relay
        self.sent = 0

    def send(self, mail_from: str, rcpt: str, raw: bytes) -> None:
        with smtplib.SMTP("127.0.0.1", self.running.port, timeout=30) as client:
            client.sendmail(mail_from, [rcpt], crlf(raw))
        self.sent += 1
        self.running.wait_processed(self.sent)

    def relayed_to(self, address: str, count: int = 1) -> list[tuple[str, list[str], bytes]]:
        """The mails the relay got for ``address`` (waits for ``count``)."""
        return wait_until(lambda: [m for m in self.relay.messages if address in m[1]][:count]
                          if len([m for m in self.relay.messages if address in m[1]]) >= count else None,
                          what=f"{count} mail(s) to {address} at the relay")

    def inbox_rows(self) -> list[tuple[str, str]]:
        from sqlalchemy import select

        from gateway.store.models import InboxRow

        with self.running.gateway.db.transaction() as tx:
            return [(r.outcome, r.reason) for r in tx.scalars(select(InboxRow).order_by(InboxRow.id))]

    def bouncing(self) -> list[str]:
        from sqlalchemy import select

        from gateway.store.models import BouncingAddressRow

        with self.running.gateway.db.transaction() as tx:
            return [r.address for r in tx.scalars(select(BouncingAddressRow))]

    def events(self, protocol: str) -> list[dict[str, Any]]:
        return self.running.ticket(protocol)["events"]


@pytest.fixture
def desk(make_settings: Any, relay: CaptureRelay) -> Iterator[Desk]:
    settings = make_settings(
        auth={"trusted_authserv_ids": ["mx.example.gov.br"]}, smtp={"trusted_networks": ["127.0.0.1"]},
        schedule={"enabled": False},
        outbound={"mode": "smtp", "host": "127.0.0.1", "port": relay.port, "retry_initial": 1, "retry_max": 2,
                  "poll_interval": 0.1, "timeout": 5},
        mailbox=[{"address": SERVICE, "name": "Central de Atendimento", "protocol_prefix": "ATD",
                  "team": [TEAM], "analysts": [ANALYST]}])
    clock = FixedClock(NOW)
    running = RunningGateway(settings, Gateway(settings, clock)).start()
    try:
        yield Desk(running, clock, relay)
    finally:
        running.stop()


def dsn(*, to: str, recipient: str, status: str, action: str, diagnostic: str,
        original_message_id: str | None = None) -> bytes:
    """A Postfix-style RFC 3464 report; the returned headers quote the original's
    Message-ID only when given (the VERP token must do without it)."""
    returned = f"Message-ID: <{original_message_id}>\n" if original_message_id else ""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\n"
        f"To: {to}\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "Message-ID: <dsn.20261118@mx.example.org>\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\n\n'
        "--b1\nContent-Type: text/plain; charset=us-ascii\n\n"
        "This is the mail system at host mx.example.org.\n\n"
        f"<{recipient}>: host mx.example.org said: {diagnostic} (in reply to RCPT TO command)\n\n"
        "--b1\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.org\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; {diagnostic}\n\n"
        "--b1\nContent-Type: text/rfc822-headers\n\n"
        f"From: Central de Atendimento <{SERVICE}>\nTo: {recipient}\n{returned}"
        "Subject: Solicitação recebida\n\n"
        "--b1--\n").encode()


def open_ticket(desk: Desk) -> tuple[str, str, str]:
    """The citizen writes; returns the protocol, the ack's return path and its Message-ID."""
    desk.send(CITIZEN, SERVICE, make_mail(sender=f"Ana Souza <{CITIZEN}>",
                                          trace={"Authentication-Results": "mx.example.gov.br; dmarc=pass "
                                                                           "header.from=example.org"}))
    protocol = desk.running.tickets()[-1]["protocol"]
    [(mail_from, _, raw)] = desk.relayed_to(CITIZEN)
    message_id = re.search(rb"^Message-ID: <([^>]+)>", raw, re.MULTILINE | re.IGNORECASE).group(1).decode()
    return protocol, mail_from, message_id


def test_every_mail_leaves_with_its_own_unguessable_return_path(desk: Desk) -> None:
    protocol, ack_from, _ = open_ticket(desk)
    [(team_from, _, _)] = desk.relayed_to(TEAM)
    assert VERP.match(ack_from) and VERP.match(team_from), (ack_from, team_from)
    assert ack_from != team_from, "one token per outbox row"
    with smtplib.SMTP("127.0.0.1", desk.running.port, timeout=30) as client:
        client.ehlo()
        assert client.mail("")[0] == 250
        assert client.rcpt(ack_from)[0] == 250, "our return path is taken"
        assert client.rcpt("bounce+abc@example.net")[0] == 550, "another domain's is not"
        client.rset()
    assert protocol


def test_a_hard_bounce_is_recorded_the_team_told_the_address_marked_and_no_reminder_sent(desk: Desk) -> None:
    protocol, ack_from, _ = open_ticket(desk)
    # The report quotes nothing of ours: only the VERP token ties it to the ack.
    desk.send("", ack_from, dsn(to=ack_from, recipient=CITIZEN, status="5.1.1", action="failed",
                                diagnostic="550 5.1.1 <ana.souza@example.org>: Recipient address rejected: "
                                           "User unknown in virtual mailbox table"))
    outcome, reason = desk.inbox_rows()[-1]
    assert outcome == "follow_up" and "VERP return path" in reason, reason
    assert len(desk.running.tickets()) == 1, "a bounce never opens a ticket"
    failed = [e["note"] for e in desk.events(protocol) if e["kind"] == "delivery_failed"]
    assert failed and failed[0].startswith("entrega falhou: endereço inexistente (ana.souza@example.org, 5.1.1"), failed
    [notice] = desk.running.outbox(kind="team_bounce")
    assert notice["To"] == TEAM and notice["Auto-Submitted"] == "auto-generated"
    body = notice.get_body(("plain",)).get_content()
    assert "endereço inexistente" in body and "marcado como inválido" in body, body
    assert desk.bouncing() == [CITIZEN]
    assert desk.running.outbox(to="mailer-daemon@mx.example.org") == [], "a bounce is never answered"

    # The analyst asks for data: her words still go to the citizen ...
    desk.send(ANALYST, f"atendimento+{protocol}@example.gov.br", make_mail(
        subject=f"RE: [{protocol}] Novo chamado", sender=f"Maria Lima <{ANALYST}>",
        to=f"atendimento+{protocol}@example.gov.br", trace=TRUSTED,
        body="#aguardando\nInforme o número do CNES da unidade, por favor."))
    ticket = desk.running.ticket(protocol)
    assert ticket["status"] == "waiting" and ticket["due_kind"] == "remind_waiting", ticket
    assert len(desk.running.outbox(to=CITIZEN)) == 2, "the ack and the analyst's question"
    # ... but the reminder the clock would send is not.
    desk.clock.set(datetime.fromisoformat(ticket["due_at"]) + timedelta(minutes=1))
    done: dict[str, int] = {}
    for result in desk.running.gateway.sweep_all():
        for kind, count in result.done.items():
            done[kind] = done.get(kind, 0) + count
    assert done.get("remind_waiting") == 1, done
    assert desk.running.outbox(kind="reminder_waiting") == []
    skipped = [e["note"] for e in desk.events(protocol) if e["kind"] == "answer_skipped"]
    assert skipped and "reminder_waiting" in skipped[-1] and "marcado como inválido" in skipped[-1], skipped


def test_a_delay_only_records(desk: Desk) -> None:
    protocol, ack_from, _ = open_ticket(desk)
    desk.send("", ack_from, dsn(to=ack_from, recipient=CITIZEN, status="4.2.2", action="delayed",
                                diagnostic="452 4.2.2 Mailbox full"))
    failed = [e["note"] for e in desk.events(protocol) if e["kind"] == "delivery_failed"]
    assert failed and failed[0].startswith("entrega atrasada: caixa cheia"), failed
    assert desk.running.outbox(kind="team_bounce") == [] and desk.bouncing() == []


def test_a_full_mailbox_tells_the_team_but_keeps_the_address(desk: Desk) -> None:
    protocol, ack_from, _ = open_ticket(desk)
    desk.send("", ack_from, dsn(to=ack_from, recipient=CITIZEN, status="5.2.2", action="failed",
                                diagnostic="552 5.2.2 Mailbox full"))
    failed = [e["note"] for e in desk.events(protocol) if e["kind"] == "delivery_failed"]
    assert failed and failed[0].startswith("entrega falhou: caixa cheia"), failed
    assert len(desk.running.outbox(kind="team_bounce")) == 1 and desk.bouncing() == []


def test_a_report_with_an_unknown_token_is_tied_by_the_message_id_it_quotes(desk: Desk) -> None:
    protocol, _, message_id = open_ticket(desk)
    address = "bounce+aaaaaaaaaaaaaaaa@example.gov.br"
    desk.send("", address, dsn(to=address, recipient=CITIZEN, status="5.1.1", action="failed",
                               diagnostic="550 5.1.1 User unknown", original_message_id=message_id))
    outcome, reason = desk.inbox_rows()[-1]
    assert outcome == "follow_up" and "quoted Message-ID" in reason and protocol in reason, reason
    assert desk.bouncing() == [CITIZEN]


def test_mail_to_the_return_path_that_is_no_report_of_ours_opens_nothing(desk: Desk) -> None:
    open_ticket(desk)
    address = "bounce+aaaaaaaaaaaaaaaa@example.gov.br"
    desk.send("spam@example.net", address, make_mail(sender="Alguém <spam@example.net>", to=address,
                                                     subject="Oferta imperdível"))
    outcome, reason = desk.inbox_rows()[-1]
    assert outcome != "new_ticket", reason
    assert len(desk.running.tickets()) == 1
    assert desk.running.outbox(to="spam@example.net") == []


def _mark_dead(desk: Desk) -> str:
    """A ticket whose acknowledgement bounced for good: the citizen's address is marked dead."""
    protocol, ack_from, _ = open_ticket(desk)
    desk.send("", ack_from, dsn(to=ack_from, recipient=CITIZEN, status="5.1.1", action="failed",
                                diagnostic="550 5.1.1 User unknown"))
    assert desk.bouncing() == [CITIZEN]
    return protocol


def _citizen_replies(desk: Desk, protocol: str, verdict: str) -> None:
    desk.send(CITIZEN, SERVICE, make_mail(
        subject=f"RES: [{protocol}] Solicitação recebida", sender=f"Ana Souza <{CITIZEN}>",
        body="Minha caixa estava cheia, desculpem. O CNES da unidade é 1234567.",
        trace={"Authentication-Results": f"mx.example.gov.br; {verdict}"}))


def test_an_address_marked_dead_works_again_when_its_owner_writes_proven(desk: Desk) -> None:
    """The citizen's mailbox came back (restored, emptied): her reply,
    proven by the MTA, clears the mark, the timeline says so, and the
    reminder the clock sends reaches her again."""
    protocol = _mark_dead(desk)
    desk.send(ANALYST, f"atendimento+{protocol}@example.gov.br", make_mail(
        subject=f"RE: [{protocol}] Novo chamado", sender=f"Maria Lima <{ANALYST}>",
        to=f"atendimento+{protocol}@example.gov.br", trace=TRUSTED,
        body="#aguardando\nInforme o número do CNES da unidade, por favor."))
    _citizen_replies(desk, protocol, "dmarc=pass header.from=example.org")
    assert desk.bouncing() == []
    [note] = [e["note"] for e in desk.events(protocol) if e["kind"] == "address_works"]
    assert note.startswith(f"{CITIZEN} escreveu de novo") and "18/11/2026" in note and "5.1.1" in note, note
    # Asked again, she does not answer: this time the reminder goes.
    desk.send(ANALYST, f"atendimento+{protocol}@example.gov.br", make_mail(
        subject=f"RE: [{protocol}] Novo chamado", sender=f"Maria Lima <{ANALYST}>",
        to=f"atendimento+{protocol}@example.gov.br", trace=TRUSTED,
        body="#aguardando\nFalta também o CPF do profissional."))
    ticket = desk.running.ticket(protocol)
    assert ticket["status"] == "waiting", ticket
    desk.clock.set(datetime.fromisoformat(ticket["due_at"]) + timedelta(minutes=1))
    desk.running.gateway.sweep_all()
    assert len(desk.running.outbox(kind="reminder_waiting", to=CITIZEN)) == 1


def test_a_reply_the_mta_could_not_prove_leaves_the_mark(desk: Desk) -> None:
    """Anyone can write a citizen's address in From: a reply whose From the
    MTA found unproven does not bring reminders back to a dead address."""
    protocol = _mark_dead(desk)
    _citizen_replies(desk, protocol, "dmarc=fail header.from=example.org")
    assert desk.bouncing() == [CITIZEN]
    assert "address_works" not in [e["kind"] for e in desk.events(protocol)]
