"""A citizen's mail over real SMTP: ticket, protocol, acknowledgement, team
notice; and what the listener refuses."""

from __future__ import annotations

import re
import smtplib
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pytest

from gateway.tickets.protocol import find_all
from tests.conftest import TEAM
from tests.helpers.mailfactory import make_mail
from tests.helpers.servers import parse_message, wait_until

TWO_MAILBOXES = [{"address": "atendimento@example.gov.br", "protocol_prefix": "ATD"},
                 {"address": "cnes@example.gov.br", "protocol_prefix": "CNES"}]

CITIZEN = "ana.souza@example.org"


def test_new_mail_opens_a_ticket_and_queues_ack_and_team_notice(gateway, smtp_client):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    mail = make_mail(subject="Dúvida - inclusão de profissional (CBO incompatível)",
                     attachments=[("tela.png", "image/png", png)])
    smtp_client.sendmail(CITIZEN, [gateway.address], mail)
    gateway.wait_processed(1)

    [ticket] = gateway.tickets()
    assert re.fullmatch(r"ATD-\d{4}-000001-\d", ticket["protocol"])
    assert [str(p) for p in find_all(ticket["protocol"])] == [ticket["protocol"]]
    assert ticket["status"] == "new" and ticket["requester"] == CITIZEN

    [ack] = gateway.outbox(kind="ack")
    assert ack["To"] == CITIZEN
    assert ack["Subject"].startswith(f"[{ticket['protocol']}] ")
    assert "Dúvida - inclusão de profissional" in ack["Subject"]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["X-Auto-Response-Suppress"] == "All"
    original_id = re.search(rb"Message-ID: (<[^>]+>)", mail).group(1).decode()
    assert ack["In-Reply-To"] == original_id and original_id in ack["References"]
    assert ack["Message-ID"].endswith("@example.gov.br>")
    text = ack.get_body(("plain",)).get_content()
    html = ack.get_body(("html",)).get_content()
    assert ticket["protocol"] in text and ticket["protocol"] in html
    assert "/t/" in text, "the acknowledgement carries a tracking link"
    assert "Recebemos sua mensagem" in text  # pt_BR by default

    [notice] = gateway.outbox(kind="team_new")
    assert notice["To"] == TEAM
    assert notice["Reply-To"] == f"atendimento+{ticket['protocol']}@example.gov.br"
    assert "Não consigo incluir a enfermeira" in notice.get_body(("plain",)).get_content()
    [attachment] = list(notice.iter_attachments())
    assert attachment.get_filename() == "tela.png" and attachment.get_content() == png


def test_ack_is_delivered_to_the_maildir_by_default(gateway, smtp_client):
    smtp_client.sendmail(CITIZEN, [gateway.address], make_mail())
    gateway.wait_processed(1)
    new = Path(gateway.settings.outbound.path) / "new"
    wait_until(lambda: new.is_dir() and len(list(new.iterdir())) >= 2, what="two mails in the outbox Maildir")
    time.sleep(0.5)  # a third would be a duplicate: give it the chance to show up
    subjects = sorted(parse_message(path.read_bytes())["Subject"].split("] ")[1].split(":")[0] for path in new.iterdir())
    assert subjects == ["Novo chamado", "Solicitação recebida"]  # team notice and acknowledgement, once each


def test_unknown_recipient_is_refused_with_550_and_nothing_is_stored(gateway, smtp_client):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        smtp_client.sendmail(CITIZEN, ["nobody@example.gov.br"], make_mail(to="nobody@example.gov.br"))
    assert refused.value.recipients["nobody@example.gov.br"][0] == 550
    assert gateway.inbox_counts() == {}


def test_open_relay_attempt_is_refused(gateway, smtp_client):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        smtp_client.sendmail(CITIZEN, ["victim@example.net"], make_mail(to="victim@example.net"))
    assert refused.value.recipients["victim@example.net"][0] == 550


def test_oversized_mail_is_refused_with_552_and_size_is_advertised(start_gateway):
    gateway = start_gateway(smtp={"max_message_size": 10_000})
    with smtplib.SMTP("127.0.0.1", gateway.port) as client:
        client.ehlo()
        assert client.has_extn("size") and client.esmtp_features["size"] == "10000"
        with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as refused:
            client.sendmail(CITIZEN, [gateway.address], make_mail(body="x" * 20_000))
    assert refused.value.smtp_code == 552
    assert gateway.inbox_counts() == {}


def test_too_many_recipients_get_452_for_the_extra_ones(start_gateway):
    gateway = start_gateway(smtp={"max_recipients": 1},
                            mailbox=TWO_MAILBOXES)
    with smtplib.SMTP("127.0.0.1", gateway.port) as client:
        client.ehlo()
        client.mail(CITIZEN)
        assert client.rcpt("atendimento@example.gov.br")[0] == 250
        assert client.rcpt("cnes@example.gov.br")[0] == 452


def test_bad_commands_and_slow_clients_do_not_take_the_listener_down(start_gateway):
    gateway = start_gateway(smtp={"timeout": 1})
    with smtplib.SMTP("127.0.0.1", gateway.port) as client:
        assert client.docmd("FROBNICATE")[0] == 500
        assert client.docmd("RCPT TO:<x@example.org>")[0] == 503  # no MAIL first
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as slow:
        slow.recv(1024)  # greeting, then say nothing
        time.sleep(1.5)
        answer = slow.recv(1024)
        # aiosmtpd drops an idle client (some versions say 421 first)
        assert answer == b"" or answer.startswith(b"421")
    with smtplib.SMTP("127.0.0.1", gateway.port) as client:
        client.sendmail(CITIZEN, [gateway.address], make_mail())
    gateway.wait_processed(1)
    assert len(gateway.tickets()) == 1


@contextmanager
def _lmtp(gateway) -> Iterator[tuple[socket.socket, BinaryIO, Callable[[bytes], bytes]]]:
    """A raw LMTP conversation: smtplib.LMTP reads one reply after DATA,
    LMTP sends one per recipient.  ``say`` sends a command and returns the
    last line of its reply."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as conn:
        lines = conn.makefile("rb")

        def say(command: bytes) -> bytes:
            conn.sendall(command + b"\r\n")
            reply = lines.readline()
            while reply[3:4] == b"-":
                reply = lines.readline()
            return reply

        yield conn, lines, say


def _data(raw: bytes) -> bytes:
    """A mail as DATA sends it: leading dots doubled, the final dot line."""
    return raw.replace(b"\n.", b"\n..") + b"\r\n.\r\n"


def _lmtp_to_both(conn: socket.socket, lines: BinaryIO, say: Callable[[bytes], bytes], raw: bytes, *,
                  refused: tuple[bytes, ...] = ()) -> list[bytes]:
    """Greeting, LHLO, MAIL, RCPT to both mailboxes (and to each of
    ``refused``, answered 550), DATA and the mail: the two replies to it."""
    assert lines.readline().startswith(b"220")
    assert say(b"LHLO client.example.org").startswith(b"250")
    assert say(b"MAIL FROM:<ana.souza@example.org>").startswith(b"250")  # no SIZE=: the body is measured
    assert say(b"RCPT TO:<atendimento@example.gov.br>").startswith(b"250")
    assert say(b"RCPT TO:<cnes@example.gov.br>").startswith(b"250")
    for address in refused:
        assert say(b"RCPT TO:<" + address + b">").startswith(b"550")
    assert say(b"DATA").startswith(b"354")
    conn.sendall(_data(raw))
    return [lines.readline(), lines.readline()]


def test_lmtp_listener_answers_per_recipient(start_gateway):
    gateway = start_gateway(smtp={"lmtp": True},
                            mailbox=TWO_MAILBOXES)
    with _lmtp(gateway) as (conn, lines, say):
        replies = _lmtp_to_both(conn, lines, say, make_mail(), refused=(b"nobody@example.gov.br",))
        assert all(r.startswith(b"250 2.0.0") for r in replies), replies
        assert say(b"QUIT").startswith(b"221")
    gateway.wait_processed(1)
    assert len(gateway.tickets()) == 1, "one mail to two of our addresses is one ticket"


def test_lmtp_refuses_a_body_too_big_once_per_recipient_and_stays_in_step(start_gateway):
    """RFC 2033: after DATA, one reply per accepted recipient, refusals too.
    One 552 for two recipients left the MTA waiting for the second (Postfix:
    600 s) and then reading each later reply as the answer to the wrong command."""
    gateway = start_gateway(smtp={"lmtp": True, "max_message_size": 5_000},
                            mailbox=TWO_MAILBOXES)
    with _lmtp(gateway) as (conn, lines, say):
        replies = _lmtp_to_both(conn, lines, say, make_mail(body="x" * 20_000))
        assert all(r.startswith(b"552") for r in replies), replies
        assert say(b"NOOP").startswith(b"250"), "the next reply answers the next command"
    assert gateway.inbox_counts() == {}

def test_header_injection_in_subject_and_name_does_not_reach_our_headers(gateway, smtp_client):
    raw = (b"From: =?utf-8?q?Ana=0D=0ABcc=3A_victim=40example=2Enet?= <ana@example.org>\r\n"
           b"To: atendimento@example.gov.br\r\nSubject: =?utf-8?q?Oi=0D=0ABcc=3A_victim=40example=2Enet?=\r\n"
           b"Message-ID: <inj@example.org>\r\n\r\nbody\r\n")
    smtp_client.sendmail("ana@example.org", [gateway.address], raw)
    gateway.wait_processed(1)
    [ticket] = gateway.tickets()
    assert "\n" not in ticket["subject"] and "\r" not in ticket["subject"]
    for mail in gateway.outbox():
        assert mail["Bcc"] is None
        header_block = mail.as_bytes().replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
        assert not any(line.lower().startswith(b"bcc:") for line in header_block.split(b"\n"))


def test_a_fault_of_ours_in_data_is_a_451_and_the_session_goes_on(gateway, monkeypatch):
    """aiosmtpd answers an exception in ``handle_DATA`` with ``500 Error:
    (RuntimeError) ...``: permanent, so the client bounces the citizen's
    mail, and it shows our internals.  Ours is ``451``, the transaction
    ended: the same session's next MAIL (no RSET in between) is taken."""
    from gateway.transports import replies

    stored = gateway.gateway.ingest.stored
    calls = []

    async def faulty(delivery):
        calls.append(delivery)
        if len(calls) == 1:
            raise RuntimeError("segredo interno /srv/gateway")
        return await stored(delivery)

    monkeypatch.setattr(gateway.gateway.ingest, "stored", faulty)
    mail = _data(make_mail(message_id="<falha-1@example.org>"))
    with _lmtp(gateway) as (conn, lines, say):  # a raw conversation: smtplib would send RSET after the 451
        assert lines.readline().startswith(b"220")
        assert say(b"EHLO client.example.org").startswith(b"250")
        for attempt in (1, 2):
            assert say(f"MAIL FROM:<{CITIZEN}>".encode()).startswith(b"250"), attempt
            assert say(f"RCPT TO:<{gateway.address}>".encode()).startswith(b"250")
            assert say(b"DATA").startswith(b"354")
            conn.sendall(mail)
            reply = lines.readline()
            if attempt == 1:
                assert reply.decode().rstrip("\r\n") == replies.TEMPFAIL
            else:
                assert reply.startswith(b"250 2.0.0"), reply
    gateway.wait_processed(1)
    assert len(gateway.tickets()) == 1 and len(calls) == 2


def test_a_fault_of_ours_in_the_middle_of_a_body_closes_the_session_with_421(gateway, monkeypatch):
    """Anything our hooks do not answer for (here the body reader, half-way
    through a mail) reaches aiosmtpd's ``handle_exception``: the rest of the
    body would be read as commands, so the session is answered ``421`` and
    closed, and the client tries again on a new one."""
    from gateway.transports import replies, smtp_data

    real = smtp_data.read_body
    broken = []

    async def breaks_half_way(reader, **kwargs):
        if not broken:
            broken.append(await reader.readline())
            raise RuntimeError("segredo interno")
        return await real(reader, **kwargs)

    monkeypatch.setattr(smtp_data, "read_body", breaks_half_way)
    with _lmtp(gateway) as (conn, lines, say):
        assert lines.readline().startswith(b"220")
        assert say(b"EHLO client.example.org").startswith(b"250")
        assert say(f"MAIL FROM:<{CITIZEN}>".encode()).startswith(b"250")
        assert say(f"RCPT TO:<{gateway.address}>".encode()).startswith(b"250")
        assert say(b"DATA").startswith(b"354")
        conn.sendall(_data(make_mail()))
        assert lines.readline().decode().rstrip("\r\n") == replies.CLOSING_ON_ERROR
        assert lines.readline() == b"", "closed: nothing more is read from the session"
    assert broken and gateway.inbox_counts() == {}
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:  # the client's retry
        client.sendmail(CITIZEN, [gateway.address], make_mail())
    gateway.wait_processed(1)
    assert len(gateway.tickets()) == 1


def test_lmtp_answers_a_fault_of_ours_once_per_recipient(start_gateway, monkeypatch):
    gateway = start_gateway(smtp={"lmtp": True}, mailbox=TWO_MAILBOXES)

    async def faulty(delivery):
        raise RuntimeError("boom")

    monkeypatch.setattr(gateway.gateway.ingest, "stored", faulty)
    with _lmtp(gateway) as (conn, lines, say):
        replies = _lmtp_to_both(conn, lines, say, make_mail())
        assert all(r.startswith(b"451 4.3.0") for r in replies), replies
        assert say(b"NOOP").startswith(b"250"), "the next reply answers the next command"
        assert say(b"MAIL FROM:<ana.souza@example.org>").startswith(b"250"), "the transaction was ended"
    assert gateway.inbox_counts() == {}


def test_a_fault_of_ours_at_rcpt_is_a_451_not_a_bounce(start_gateway, monkeypatch):
    from gateway.transports import smtp

    real = smtp.recipient_check

    def check_that_breaks(settings):
        check = real(settings)

        def faulty(address, trusted):
            if address.startswith("cnes@"):
                raise LookupError("segredo interno")
            return check(address, trusted)

        return faulty

    monkeypatch.setattr(smtp, "recipient_check", check_that_breaks)
    gateway = start_gateway(mailbox=TWO_MAILBOXES)
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
        client.ehlo()
        client.mail(CITIZEN)
        code, text = client.rcpt("cnes@example.gov.br")
        assert code == 451 and b"segredo" not in text and b"LookupError" not in text
        assert client.rcpt("atendimento@example.gov.br")[0] == 250
        assert client.data(make_mail())[0] == 250
    gateway.wait_processed(1)
    assert len(gateway.tickets()) == 1
