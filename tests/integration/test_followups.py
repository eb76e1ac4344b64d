"""Replies over real SMTP find their ticket (PITFALLS A, B, C, K and item 4).

A citizen writes, gets the acknowledgement, and answers it the way real
mail clients do: localised prefixes, brackets or none, RFC 2047 words,
folded subjects, only threading headers, the ``+protocol`` address, no
subject at all.  Each answer must become a follow-up of *that* ticket,
with the quoted history cut from the stored text, the team told, and no
second acknowledgement.  A near-miss protocol, a stranger quoting a
protocol and a reply to a closed ticket open new tickets instead.
"""

from __future__ import annotations

import base64
import smtplib
from email.utils import parseaddr
from typing import Any

import pytest

from gateway.store import tickets
from gateway.tickets.protocol import parse
from tests.conftest import TEAM
from tests.helpers.mailfactory import crlf, make_mail
from tests.helpers.servers import RunningGateway, last_inbox

CITIZEN = "ana.souza@example.org"
COLLEAGUE = "bruno.lima@example.org"
STRANGER = "intruso@example.net"
SUBJECT = "Erro ao incluir profissional no CNES"


# -- helpers ----------------------------------------------------------------


def send(gateway: RunningGateway, raw: bytes, *, mail_from: str = CITIZEN,
         rcpt: list[str] | None = None, wait: bool = True) -> None:
    """Deliver over a real SMTP session and (by default) wait until processed."""
    before = sum(gateway.inbox_counts().values())
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
        client.sendmail(mail_from, rcpt or [gateway.address], crlf(raw))
    if wait:
        gateway.wait_processed(before + 1)


def open_ticket(gateway: RunningGateway, **mail: Any) -> tuple[str, Any, str]:
    """A citizen's first mail: returns (protocol, the ack, the mail's Message-ID)."""
    raw = make_mail(**{"subject": SUBJECT, **mail})
    sender = parseaddr(mail.get("sender", CITIZEN))[1]
    send(gateway, raw, mail_from=sender)
    row = last_inbox(gateway)
    assert row.outcome == "new_ticket", row.reason
    [ack] = [a for a in gateway.outbox(kind="ack") if a["In-Reply-To"] == f"<{row.message_id}>"]
    return ack["X-Ticket-Protocol"], ack, f"<{row.message_id}>"


def incoming(gateway: RunningGateway, protocol: str) -> list[dict[str, Any]]:
    return [m for m in gateway.ticket(protocol)["messages"] if m["direction"] == "in"]


def assert_follow_up(gateway: RunningGateway, protocol: str, *, text: str, role: str = "requester",
                     sender: str = CITIZEN, how: str | None = None) -> None:
    """The last mail is a follow-up of ``protocol``: stored, team told, no ack, nothing else opened."""
    row = last_inbox(gateway)
    assert row.outcome == "follow_up", f"expected a follow-up of {protocol}, got {row.outcome}: {row.reason}"
    assert row.reason.startswith(f"added to {protocol} "), row.reason
    if how:
        assert how in row.reason, row.reason
    assert len(gateway.tickets()) == 1, "the reply opened another ticket"
    ticket = gateway.ticket(protocol)
    assert ticket["status"] == "new"
    *_, last = incoming(gateway, protocol)
    assert (last["role"], last["sender"], last["text"]) == (role, sender, text)
    assert ticket["events"][-1]["kind"] == "follow_up"
    assert len(gateway.outbox(kind="ack")) == 1, "a follow-up must not be acknowledged again"
    [notice] = gateway.outbox(kind="team_followup")
    assert notice["To"] == TEAM and protocol in notice["Subject"]
    assert text in notice.get_body(("plain",)).get_content()


def with_subject(raw: bytes, header_value: bytes) -> bytes:
    """Replace the Subject line make_mail wrote with raw header bytes."""
    head, sep, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    lines = [line for line in head.split(b"\n") if not line.startswith(b"Subject:")]
    return b"\n".join([*lines, b"Subject: " + header_value]) + sep + body


def other_check_digit(protocol: str) -> str:
    return protocol[:-1] + str((int(protocol[-1]) + 1) % 10)


# -- the protocol in the subject --------------------------------------------

SUBJECTS = {
    "RE": "RE: [{p}] Solicitação recebida: " + SUBJECT,
    "Re": "Re: [{p}] Solicitação recebida: " + SUBJECT,
    "RES": "RES: [{p}] Solicitação recebida: " + SUBJECT,
    "Res": "Res: [{p}] Solicitação recebida: " + SUBJECT,
    "Re-RES-ENC": "Re: RES: ENC: [{p}] Solicitação recebida: " + SUBJECT,
    "Fwd": "Fwd: [{p}] Solicitação recebida: " + SUBJECT,
    "FW": "FW: [{p}] Solicitação recebida: " + SUBJECT,
    "ENC": "ENC: [{p}] Solicitação recebida: " + SUBJECT,
    "AW": "AW: [{p}] Solicitação recebida: " + SUBJECT,
    "WG": "WG: [{p}] Solicitação recebida: " + SUBJECT,
    "VS": "VS: [{p}] Solicitação recebida: " + SUBJECT,
    "SV": "SV: [{p}] Solicitação recebida: " + SUBJECT,
    "TR": "TR: [{p}] Solicitação recebida: " + SUBJECT,
    "Antw": "Antw: [{p}] Solicitação recebida: " + SUBJECT,
    "R": "R: [{p}] Solicitação recebida: " + SUBJECT,
    "chinese": "回复: [{p}] Solicitação recebida: " + SUBJECT,
    "no-brackets": "RE: {p} Solicitação recebida: " + SUBJECT,
    "parentheses-no-space": "RES:RES:({p})" + SUBJECT,
    "lower-case": "re: [{lower}] solicitação recebida",
    "extra-spaces": "RE:    [  {p}  ]    Solicitação   recebida",
    "spaces-inside": "RES: [{spaced}] Solicitação recebida",
    "at-the-end": "Dúvida sobre o protocolo {p}",
}


@pytest.mark.parametrize("template", SUBJECTS.values(), ids=SUBJECTS.keys())
def test_reply_with_the_protocol_in_the_subject_is_a_follow_up(gateway: RunningGateway, template: str) -> None:
    protocol, ack, _ = open_ticket(gateway)
    subject = template.format(p=protocol, lower=protocol.lower(), spaced=protocol.replace("-", " - "))
    send(gateway, make_mail(subject=subject, body="Segue o número CNES: 1234567."))
    assert_follow_up(gateway, protocol, text="Segue o número CNES: 1234567.", how="in the subject")


def test_a_protocol_with_a_wrong_check_digit_opens_a_new_ticket(gateway: RunningGateway) -> None:
    protocol, _, _ = open_ticket(gateway)
    typo = other_check_digit(protocol)
    assert parse(typo) is None or str(parse(typo)) != protocol
    send(gateway, make_mail(subject=f"RE: [{typo}] Solicitação recebida", body="Outro assunto."))
    row = last_inbox(gateway)
    assert row.outcome == "new_ticket", row.reason
    assert len(gateway.tickets()) == 2
    assert len(incoming(gateway, protocol)) == 1, "the typo reached the old ticket"
    assert gateway.ticket(protocol)["events"][-1]["kind"] != "follow_up"


def test_a_stranger_quoting_a_protocol_gets_a_new_ticket_and_the_old_one_a_note(gateway: RunningGateway) -> None:
    protocol, _, _ = open_ticket(gateway)
    secret = "Quero ver os dados desse chamado"
    send(gateway, make_mail(sender=f"Intruso <{STRANGER}>", subject=f"RE: [{protocol}] Solicitação recebida",
                            body=secret), mail_from=STRANGER)
    row = last_inbox(gateway)
    assert row.outcome == "new_ticket", row.reason
    [old, new] = sorted(gateway.tickets(), key=lambda t: t["protocol"] != protocol)
    assert old["protocol"] == protocol and new["requester"] == STRANGER
    old_detail = gateway.ticket(protocol)
    assert all(secret not in m["text"] and m["sender"] != STRANGER for m in old_detail["messages"])
    note = old_detail["events"][-1]
    assert note["kind"] == "note" and STRANGER in note["note"] and new["protocol"] in note["note"]
    assert old_detail["status"] == "new"
    assert len(gateway.outbox(to=CITIZEN)) == 1, "the requester heard about the stranger's mail"
    [stranger_ack] = gateway.outbox(kind="ack", to=STRANGER)
    assert new["protocol"] in stranger_ack["Subject"]
    assert gateway.outbox(kind="team_followup") == []


# -- threading headers only ---------------------------------------------------


def test_in_reply_to_the_ack_without_a_protocol_is_a_follow_up(gateway: RunningGateway) -> None:
    protocol, ack, _ = open_ticket(gateway)
    send(gateway, make_mail(subject="Re: " + SUBJECT, body="Ainda não consegui.", in_reply_to=ack["Message-ID"]))
    assert_follow_up(gateway, protocol, text="Ainda não consegui.", how="In-Reply-To/References")


def test_references_to_the_ack_without_in_reply_to_is_a_follow_up(gateway: RunningGateway) -> None:
    protocol, ack, original = open_ticket(gateway)
    send(gateway, make_mail(subject="Novo print", body="Segue o print.",
                            references=f"{original} {ack['Message-ID']}"))
    assert_follow_up(gateway, protocol, text="Segue o print.", how="In-Reply-To/References")


def test_a_reply_to_the_citizens_own_first_mail_before_the_ticket_exists_is_a_follow_up(
        gateway: RunningGateway) -> None:
    first = make_mail(subject=SUBJECT, message_id="<primeira.ana@client.example.org>")
    second = make_mail(subject="Re: " + SUBJECT, body="Esqueci de dizer: é a UBS Centro.",
                       in_reply_to="<primeira.ana@client.example.org>",
                       references="<primeira.ana@client.example.org>")
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:  # both before any ack exists
        client.sendmail(CITIZEN, [gateway.address], crlf(first))
        client.sendmail(CITIZEN, [gateway.address], crlf(second))
    gateway.wait_processed(2)
    [ticket] = gateway.tickets()
    assert_follow_up(gateway, ticket["protocol"], text="Esqueci de dizer: é a UBS Centro.",
                     how="In-Reply-To/References")


def test_two_replies_to_a_mail_we_never_received_are_one_ticket(gateway: RunningGateway) -> None:
    """zammad#5716 (PITFALLS A): Ana wrote to her colleagues and not to us;
    Bruno's reply copies us, and so does Ana's own answer to her first
    mail.  The two share only the root of their References, a mail we
    never got: one ticket, not two.  A stranger naming the same root is
    no one on that ticket and opens one of their own."""
    root = "<pergunta.original@client.example.org>"
    send(gateway, make_mail(sender=f"Bruno Lima <{COLLEAGUE}>", to="atendimento@example.gov.br",
                            cc=f"Ana Souza <{CITIZEN}>", subject="RE: " + SUBJECT,
                            body="Encaminho à central; aconteceu aqui também.", in_reply_to=root, references=root),
         mail_from=COLLEAGUE)
    [ticket] = gateway.tickets()
    protocol = ticket["protocol"]
    assert gateway.ticket(protocol)["participants"] == [CITIZEN]
    send(gateway, make_mail(subject="RE: " + SUBJECT, to="atendimento@example.gov.br",
                            body="Complementando: é a UBS Centro.", in_reply_to=root,
                            references=f"{root} <outra.resposta@client.example.org>"))
    row = last_inbox(gateway)
    assert row.outcome == "follow_up" and row.reason.startswith(f"added to {protocol} "), row.reason
    assert "root of its References" in row.reason, row.reason
    assert [t["protocol"] for t in gateway.tickets()] == [protocol]
    assert incoming(gateway, protocol)[-1]["text"] == "Complementando: é a UBS Centro."

    send(gateway, make_mail(sender=STRANGER, to="atendimento@example.gov.br", subject="RE: " + SUBJECT,
                            body="Também quero ver.", in_reply_to=root, references=root), mail_from=STRANGER)
    row = last_inbox(gateway)
    assert row.outcome == "new_ticket", row.reason
    assert len(gateway.tickets()) == 2 and STRANGER not in gateway.ticket(protocol)["participants"]


def test_a_reply_that_kept_only_the_quoted_protocol_is_a_follow_up_for_its_requester(
        gateway: RunningGateway) -> None:
    """PITFALLS item 4, zammad#3022: another system stripped In-Reply-To and
    References, and Ana's new subject has no protocol; the body still quotes
    our acknowledgement, which names it.  For her, a follow-up; the same
    mail from a stranger opens a ticket of its own, and hers gets no note."""
    protocol, ack, _ = open_ticket(gateway)
    quoted = "\n".join("> " + line for line in ack.get_body(("plain",)).get_content().splitlines())
    assert protocol in quoted
    body = f"Segue o print que faltava.\n\nEm 23/11/2026, Central escreveu:\n{quoted}"
    send(gateway, make_mail(subject="Print do erro", body=body))
    assert_follow_up(gateway, protocol, text="Segue o print que faltava.", how=f"protocol {protocol} in the body")

    events = len(gateway.ticket(protocol)["events"])
    send(gateway, make_mail(sender=STRANGER, subject="Print do erro", body=body), mail_from=STRANGER)
    assert last_inbox(gateway).outcome == "new_ticket"
    assert len(gateway.tickets()) == 2 and len(gateway.ticket(protocol)["events"]) == events


def test_a_cc_colleague_replying_is_a_participant_follow_up(gateway: RunningGateway) -> None:
    protocol, _, original = open_ticket(gateway, cc=f"Bruno Lima <{COLLEAGUE}>")
    assert gateway.ticket(protocol)["participants"] == [COLLEAGUE]
    # Reply-all to the citizen's mail: the colleague never saw the ack.
    send(gateway, make_mail(sender=f"Bruno Lima <{COLLEAGUE}>", to=f"{CITIZEN}, atendimento@example.gov.br",
                            subject="RE: " + SUBJECT, body="Confirmo, aconteceu aqui também.",
                            in_reply_to=original, references=original), mail_from=COLLEAGUE)
    assert_follow_up(gateway, protocol, text="Confirmo, aconteceu aqui também.", role="participant",
                     sender=COLLEAGUE)
    assert gateway.outbox(to=COLLEAGUE) == [], "the colleague got an acknowledgement"
    # And with the protocol in the subject.
    send(gateway, make_mail(sender=COLLEAGUE, subject=f"RES: [{protocol}] {SUBJECT}", body="Mais um dado."),
         mail_from=COLLEAGUE)
    row = last_inbox(gateway)
    assert row.outcome == "follow_up" and row.reason.startswith(f"added to {protocol}"), row.reason
    assert incoming(gateway, protocol)[-1]["role"] == "participant"


def test_no_subject_at_all(gateway: RunningGateway) -> None:
    protocol, ack, _ = open_ticket(gateway, subject=None)
    assert gateway.ticket(protocol)["subject"] == "(sem assunto)"
    assert ack["Subject"] == f"[{protocol}] Solicitação recebida: (sem assunto)"
    send(gateway, make_mail(subject=None, body="Respondendo sem assunto.", in_reply_to=ack["Message-ID"]))
    assert_follow_up(gateway, protocol, text="Respondendo sem assunto.")


# -- subjects as mail clients really write them -------------------------------

ENCODED = {
    # ptbr-clients 07: Outlook puts the bracketed protocol inside the encoded words.
    "q-windows-1252": b"=?windows-1252?q?RES=3A_=5B{p}=5D_Solicita=E7=E3o_rec?=\n =?windows-1252?q?ebida=3A_Erro?=",
    "b-utf-8": None,  # built below: the whole subject base64-encoded
    # the protocol itself split across two adjacent encoded words
    "split-word": b"=?utf-8?q?RE=3A_=5B{head}?= =?utf-8?q?{tail}=5D_Solicita=C3=A7=C3=A3o?=",
}


@pytest.mark.parametrize("variant", ENCODED)
def test_protocol_inside_rfc2047_encoded_words(gateway: RunningGateway, variant: str) -> None:
    protocol, _, _ = open_ticket(gateway)
    if variant == "b-utf-8":
        value = b"=?UTF-8?B?" + base64.b64encode(f"RES: [{protocol}] Solicitação recebida".encode()) + b"?="
    else:
        value = ENCODED[variant].replace(b"{p}", protocol.encode()).replace(
            b"{head}", protocol[:9].encode()).replace(b"{tail}", protocol[9:].encode())
    send(gateway, with_subject(make_mail(body="Complementando a informação."), value))
    assert_follow_up(gateway, protocol, text="Complementando a informação.", how="in the subject")


def test_protocol_on_the_continuation_line_of_a_folded_subject(gateway: RunningGateway) -> None:
    """django-helpdesk#756: the tag on the second line of a folded header."""
    protocol, _, _ = open_ticket(gateway)
    value = (b"RES: Solicitacao recebida: Erro ao incluir profissional no CNES da unidade basica\n"
             b"\t[" + protocol.encode() + b"]")
    send(gateway, with_subject(make_mail(body="Resposta à confirmação."), value))
    assert_follow_up(gateway, protocol, text="Resposta à confirmação.", how="in the subject")


@pytest.mark.parametrize("case", ["as issued", "lower case"])
def test_plus_protocol_recipient_with_an_unrelated_subject(gateway: RunningGateway, case: str) -> None:
    protocol, ack, _ = open_ticket(gateway)
    token = protocol if case == "as issued" else protocol.lower()
    address = f"atendimento+{token}@example.gov.br"
    send(gateway, make_mail(to=address, subject="Documento complementar", body="Segue o documento."),
         rcpt=[address])
    assert_follow_up(gateway, protocol, text="Segue o documento.",
                     how="recipient address")


# -- closed tickets, quoted history, raw mail kept ----------------------------


def test_a_mail_to_a_closed_ticket_opens_a_new_ticket_linked_to_it(gateway: RunningGateway) -> None:
    protocol, _, _ = open_ticket(gateway)
    with gateway.gateway.db.transaction() as tx:
        ticket = tickets.by_protocol(tx, protocol)
        assert ticket is not None
        ticket.status = "closed"
    send(gateway, make_mail(subject=f"RE: [{protocol}] Solicitação recebida", body="O erro voltou."))
    row = last_inbox(gateway)
    assert row.outcome == "new_ticket", row.reason
    [new] = [t for t in gateway.tickets() if t["protocol"] != protocol]
    new_detail, old_detail = gateway.ticket(new["protocol"]), gateway.ticket(protocol)
    assert new_detail["linked_to"] == protocol and new["requester"] == CITIZEN
    assert [m["text"].strip() for m in incoming(gateway, new["protocol"])] == ["O erro voltou."]
    assert old_detail["status"] == "closed" and len(incoming(gateway, protocol)) == 1
    assert old_detail["events"][-1]["kind"] == "note" and new["protocol"] in old_detail["events"][-1]["note"]
    assert [a["X-Ticket-Protocol"] for a in gateway.outbox(kind="ack")] == [protocol, new["protocol"]]


def test_quoted_history_is_cut_from_the_stored_text_and_the_raw_mail_is_kept(gateway: RunningGateway) -> None:
    protocol, ack, _ = open_ticket(gateway)
    body = ("Bom dia, o número CNES é 7654321.\n\n"
            "Em seg., 23 de nov. de 2026 às 09:00, Central de Atendimento "
            "<atendimento@example.gov.br> escreveu:\n"
            f"> Recebemos sua mensagem e registramos a solicitação sob o protocolo {protocol}.\n"
            "> Para acompanhar o atendimento, acesse o link.\n")
    send(gateway, make_mail(subject=f"Re: [{protocol}] Solicitação recebida", body=body,
                            in_reply_to=ack["Message-ID"]))
    assert_follow_up(gateway, protocol, text="Bom dia, o número CNES é 7654321.")
    [notice] = gateway.outbox(kind="team_followup")
    assert "Recebemos sua mensagem" not in notice.get_body(("plain",)).get_content()
    row = last_inbox(gateway)
    assert row.status == "processed" and b"Para acompanhar o atendimento, acesse o link." in row.raw
    assert [m["message_id"] for m in incoming(gateway, protocol)][-1] == row.message_id


def test_the_ack_subject_protocol_round_trips(gateway: RunningGateway) -> None:
    """What we send is what we match: the ack's own subject, replied as is."""
    protocol, ack, _ = open_ticket(gateway)
    assert str(parse(protocol)) == protocol
    send(gateway, make_mail(subject="RE: " + ack["Subject"], body="Obrigada."))
    assert_follow_up(gateway, protocol, text="Obrigada.")
