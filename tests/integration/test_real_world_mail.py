"""Real-world mail through the real SMTP listener (issue 16).

An mbox ``From `` line, a preamble, a garbage From above the real one, no
From at all, undeclared 8-bit headers, an Outlook winmail.dat: each opens
the ticket a person would expect.  Automatic mail that names no ticket is
filed (listed by ``gateway filed list``, counted, never answered), and
Outlook's Thread-Index finds a ticket for the people on it, and only them.
"""

from __future__ import annotations

import base64
import json
import smtplib
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from gateway.mail.threadindex import conversation_of
from gateway.store.models import InboxRow
from tests.conftest import TEAM
from tests.helpers.corpus import CORPUS, require_corpus
from tests.helpers.mailfactory import crlf, make_mail
from tests.helpers.process import run, write_config
from tests.helpers.servers import RunningGateway

ANA = "ana.souza@example.org"
SERVICE = "atendimento@example.gov.br"
CONVERSATION = bytes(range(1, 23))  # an Outlook conversation's 22-byte header


def send(gateway: RunningGateway, raw: bytes, *, mail_from: str = ANA) -> InboxRow:
    """Deliver over a real SMTP session, wait until processed, return its inbox row."""
    before = sum(gateway.inbox_counts().values())
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
        client.sendmail(mail_from, [gateway.address], crlf(raw))
    gateway.wait_processed(before + 1)
    with gateway.gateway.db.transaction() as tx:
        row = tx.scalars(select(InboxRow).order_by(InboxRow.id.desc())).first()
        tx.expunge_all()
    assert row is not None
    return row


def thread_index(extra: bytes = b"") -> str:
    return base64.b64encode(CONVERSATION + extra).decode()


# -- headers misread before ------------------------------------------------------


def test_an_mbox_from_line_and_a_preamble_still_name_the_requester(gateway: RunningGateway) -> None:
    mbox = b"From ana.souza@example.org  Mon Nov 23 12:00:00 2026\r\n" + make_mail(subject="Erro no cadastro")
    row = send(gateway, mbox)
    assert row.outcome == "new_ticket", row.reason
    preamble = b"---- Original email message ----\r\n" + make_mail(subject="Segundo pedido",
                                                                     sender="Bia <bia@example.org>")
    row = send(gateway, preamble, mail_from="bia@example.org")
    assert row.outcome == "new_ticket", row.reason
    tickets = {t["subject"]: t["requester"] for t in gateway.tickets()}
    assert set(tickets) == {"Erro no cadastro", "Segundo pedido"}
    assert len(gateway.outbox(kind="ack")) == 2


def test_a_garbage_from_above_the_real_one(gateway: RunningGateway) -> None:
    raw = b"From: [??????]\r\n" + make_mail(subject="Pedido de certidao")
    row = send(gateway, raw, mail_from="bounces@relay.example.net")
    assert row.outcome == "new_ticket", row.reason
    [ack] = gateway.outbox(kind="ack")
    assert ack["To"] == ANA or ANA in ack["To"]


def test_no_from_answers_the_sender_header_and_grants_nothing(gateway: RunningGateway) -> None:
    first = send(gateway, make_mail(subject="Erro no cadastro"))
    assert first.outcome == "new_ticket"
    [ack] = gateway.outbox(kind="ack")
    protocol = ack["X-Ticket-Protocol"]
    without_from = make_mail(subject=f"RES: [{protocol}] Erro no cadastro", headers={"Sender": f"Ana <{ANA}>"})
    without_from = without_from.replace(b"From: Ana Souza <ana.souza@example.org>\r\n", b"")
    assert b"\r\nFrom:" not in without_from and not without_from.startswith(b"From:")
    row = send(gateway, without_from, mail_from="relay@lists.example.net")
    # The Sender header says whom to answer: a new ticket for Ana, linked,
    # never a follow-up on hers (anyone can write a Sender header).
    assert row.outcome == "new_ticket", row.reason
    assert row.ticket_id != first.ticket_id
    acks = gateway.outbox(kind="ack")
    assert len(acks) == 2 and ANA in acks[1]["To"]
    assert [m["direction"] for m in gateway.ticket(protocol)["messages"]].count("in") == 1


def test_no_from_and_an_analyst_in_reply_to_opens_nothing(gateway: RunningGateway) -> None:
    raw = make_mail(subject="Pedido", headers={"Reply-To": TEAM}).replace(
        b"From: Ana Souza <ana.souza@example.org>\r\n", b"")
    row = send(gateway, raw, mail_from="relay@lists.example.net")
    assert row.status == "quarantined" and f"names analyst {TEAM}" in row.reason, row.reason
    assert gateway.tickets() == [] and gateway.outbox() == []


def test_undeclared_8bit_subject_and_file_name(gateway: RunningGateway) -> None:
    raw = make_mail(subject="PLACEHOLDER-SUBJECT",
                    attachments=[("PLACEHOLDER.txt", "text/plain", b"nota fiscal\n")])
    raw = raw.replace(b"PLACEHOLDER-SUBJECT", "Solicitação de certidão".encode("latin-1"))
    raw = raw.replace(b"PLACEHOLDER.txt", "relatório.txt".encode("latin-1"))
    row = send(gateway, raw)
    assert row.outcome == "new_ticket", row.reason
    [ticket] = gateway.tickets()
    assert ticket["subject"] == "Solicitação de certidão"
    detail = gateway.ticket(ticket["protocol"])
    assert [a["filename"] for a in detail["messages"][0]["attachments"]] == ["relatório.txt"]


def test_a_corpus_mail_with_raw_utf8_file_names(gateway: RunningGateway) -> None:
    require_corpus()
    raw = (CORPUS / "mail-parser/mails/mail_test_1").read_bytes()
    row = send(gateway, raw, mail_from="sender@example.net")
    assert row.ticket_id is not None, row.reason
    [ticket] = gateway.tickets()
    names = [a["filename"] for a in gateway.ticket(ticket["protocol"])["messages"][0]["attachments"]]
    assert "ФНС_РФ558.zip" in names, names


def test_winmail_dat_reaches_the_ticket_unpacked(gateway: RunningGateway) -> None:
    from tests.unit.mail.test_real_world import PDF, tnef

    winmail = tnef([("RG.pdf", PDF)])
    row = send(gateway, make_mail(subject="Documentos", attachments=[("winmail.dat", "application/ms-tnef", winmail)]))
    assert row.outcome == "new_ticket", row.reason
    [ticket] = gateway.tickets()
    files = gateway.ticket(ticket["protocol"])["messages"][0]["attachments"]
    assert [(f["filename"], f["type"]) for f in files] == [("winmail.dat", None),  # no magic number known
                                                           ("RG.pdf", "application/pdf")]
    [team] = gateway.outbox(kind="team_new")
    assert "RG.pdf" in [part.get_filename() for part in team.iter_attachments()]


# -- automatic mail that names no ticket: filed ----------------------------------


def test_a_bounce_for_no_ticket_is_filed_listed_and_counted(gateway: RunningGateway, tmp_path: Path) -> None:
    bounce = make_mail(sender="Mail Delivery System <MAILER-DAEMON@mx.example.org>",
                       subject="Undelivered Mail Returned to Sender", headers={"Auto-Submitted": "auto-replied"})
    row = send(gateway, bounce, mail_from="")
    assert (row.status, row.outcome) == ("processed", "filed"), row.reason
    assert gateway.quarantined() == [] and gateway.outbox() == [] and gateway.tickets() == []

    (tmp_path / "cli").mkdir()
    config = write_config(tmp_path / "cli", storage_url=gateway.settings.storage.url)
    listed = run(config, "filed", "list", "--json")
    assert listed.returncode == 0, listed.stderr.decode()
    [entry] = json.loads(listed.stdout)
    assert entry["inbox_id"] == row.id and entry["reason"].startswith("bounce that refers to no ticket")
    quarantine = run(config, "quarantine", "list", "--json")
    assert json.loads(quarantine.stdout) == []

    port = gateway.gateway.admin_port
    assert port, "the admin listener is up"
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("gateway_mails_processed_total", (("outcome", "filed"),))] == 1
    assert samples[("gateway_mails_processed_total", (("outcome", "quarantined"),))] == 0


# -- Thread-Index ------------------------------------------------------------------


def test_our_mails_carry_the_ticket_s_conversation_and_an_outlook_reply_finds_it(gateway: RunningGateway) -> None:
    """PITFALLS J (freescout#4922): the acknowledgement and the team's copy
    carry one Thread-Index conversation and the subject as Thread-Topic, so
    Outlook groups them; a citizen's reply from Outlook keeps that header,
    and finds the ticket by it when the server dropped In-Reply-To and the
    subject lost the protocol.  A stranger who copies it does not."""
    first = send(gateway, make_mail(subject="Erro no cadastro do profissional"))
    [ack] = gateway.outbox(kind="ack")
    [team] = gateway.outbox(kind="team_new")
    assert ack["Thread-Topic"] == team["Thread-Topic"] == "Erro no cadastro do profissional"
    conversation = conversation_of(str(ack["Thread-Index"]))
    assert conversation is not None and conversation == conversation_of(str(team["Thread-Index"]))

    outlook_reply = base64.b64encode(base64.b64decode(str(ack["Thread-Index"])) + b"\x00\x00\x10\x20\x30").decode()
    reply = make_mail(subject="Erro no cadastro do profissional", body="Segue o print.", message_id="<r1@example.org>",
                      headers={"Thread-Index": outlook_reply, "Thread-Topic": "Erro no cadastro do profissional"})
    row = send(gateway, reply)
    assert (row.outcome, row.ticket_id) == ("follow_up", first.ticket_id), row.reason
    assert "Thread-Index" in row.reason

    stranger = make_mail(sender="Intruso <intruso@example.net>", subject="Erro no cadastro do profissional",
                         message_id="<x1@example.net>", headers={"Thread-Index": outlook_reply})
    row = send(gateway, stranger, mail_from="intruso@example.net")
    assert row.outcome == "new_ticket" and row.ticket_id != first.ticket_id, row.reason


def test_thread_index_finds_the_ticket_for_its_requester_only(gateway: RunningGateway) -> None:
    first = send(gateway, make_mail(subject="Erro no cadastro", headers={"Thread-Index": thread_index(),
                                                                       "Thread-Topic": "Erro no cadastro"}))
    assert first.outcome == "new_ticket", first.reason
    # Exchange dropped In-Reply-To and the subject lost the protocol.
    reply = make_mail(subject="Erro no cadastro", body="Segue o print que faltava.",
                      headers={"Thread-Index": thread_index(b"\x00\x00\x01\x02\x03"), "Thread-Topic": "Erro no cadastro"})
    row = send(gateway, reply)
    assert (row.outcome, row.ticket_id) == ("follow_up", first.ticket_id), row.reason
    assert "Thread-Index" in row.reason

    # A stranger who copied the header gets a ticket of their own.
    stranger = make_mail(sender="Intruso <intruso@example.net>", subject="Erro no cadastro",
                         headers={"Thread-Index": thread_index(b"\x00\x00\x01\x02\x04")})
    row = send(gateway, stranger, mail_from="intruso@example.net")
    assert row.outcome == "new_ticket" and row.ticket_id != first.ticket_id, row.reason
    assert len(gateway.tickets()) == 2


def test_an_outlook_reply_finds_its_ticket_after_the_secret_is_rotated(start_gateway) -> None:
    """The conversation tag in our Thread-Index is signed with the web
    secret: with the old secret in ``[web] previous_secrets`` a reply from
    Outlook to a mail sent before the rotation still finds its ticket;
    without it, the tag is anybody's."""
    old, new = "o" * 40, "n" * 40
    before = start_gateway(web={"secret": old})
    first = send(before, make_mail(subject="Erro no cadastro do profissional"))
    [ack] = before.outbox(kind="ack")
    before.stop()
    outlook_reply = base64.b64encode(base64.b64decode(str(ack["Thread-Index"])) + b"\x00\x00\x10\x20\x30").decode()

    def reply(n: int) -> bytes:
        return make_mail(subject="Erro no cadastro do profissional", body="Segue o print.",
                         message_id=f"<rot{n}@example.org>", headers={"Thread-Index": outlook_reply})

    forgotten = start_gateway(web={"secret": new})
    row = send(forgotten, reply(1))
    assert row.outcome == "new_ticket" and row.ticket_id != first.ticket_id, row.reason
    forgotten.stop()
    rotated = start_gateway(web={"secret": new, "previous_secrets": [old]})
    row = send(rotated, reply(2))
    assert (row.outcome, row.ticket_id) == ("follow_up", first.ticket_id), row.reason
    assert "Thread-Index" in row.reason
