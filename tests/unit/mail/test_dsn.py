"""The delivery-report reader (gateway.mail.dsn), VERP addresses
(gateway.mail.verp) and what a bounce does to a ticket (gateway.tickets.bounces),
on reports written the ways real MTAs write them."""

from __future__ import annotations

import pytest

from gateway.mail import verp
from gateway.mail.dsn import Reason, classify, read
from gateway.tickets.bounces import Failure, on_bounce
from gateway.tickets.kinds import EventKind, Template

OURS = "atendimento@example.gov.br"
DOMAINS = {"example.gov.br"}


def _report(per_recipient: str, *, text: str = "Não foi possível entregar.", tail: str = "--b1--\n") -> bytes:
    return ("From: MAILER-DAEMON@mx.example.org\nTo: bounce+abcdefghijklmnop@example.gov.br\n"
            "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\n\n'
            f"--b1\nContent-Type: text/plain; charset=utf-8\n\n{text}\n\n"
            "--b1\nContent-Type: message/delivery-status\n\n"
            "Reporting-MTA: dns; mx.example.org\nOriginal-Message-ID: <ack.1@example.gov.br>\n\n"
            f"{per_recipient}\n" + tail).encode()


def test_an_rfc3464_report_gives_each_recipient_its_status_action_and_diagnostic() -> None:
    report = read(_report("Final-Recipient: rfc822; Ana@Example.org\nAction: failed\nStatus: 5.1.1\n"
                          "Diagnostic-Code: smtp; 550 5.1.1 <ana@example.org>: User unknown\n\n"
                          "Final-Recipient: rfc822; joao@example.org\nAction: delayed\nStatus: 4.2.2\n"
                          "Diagnostic-Code: smtp; 452 4.2.2 Mailbox full\n"))
    assert report.kind == "dsn" and report.original_message_id == "ack.1@example.gov.br"
    ana, joao = report.recipients
    assert (ana.address, ana.status, ana.action, ana.reply_code, ana.reason) == (
        "ana@example.org", "5.1.1", "failed", "550", Reason.USER_UNKNOWN)
    assert ana.permanent and ana.hard and "User unknown" in ana.diagnostic
    assert (joao.status, joao.reason, joao.permanent, joao.hard) == ("4.2.2", Reason.MAILBOX_FULL, False, False)


def test_a_truncated_report_still_gives_what_came_before_the_cut() -> None:
    raw = _report("Final-Recipient: rfc822; ana@example.org\nAction: failed\nStatus: 5.1.1\n"
                  "Diagnostic-Code: smtp; 550 5.1.1 <ana@example.org>: Recipient address rejected: User unknown",
                  tail="")
    report = read(raw[: raw.index(b"Recipient address")])  # the relay cut it mid-line: no closing boundary
    assert [(r.address, r.status, r.hard) for r in report.failed] == [("ana@example.org", "5.1.1", True)]


def test_a_generic_status_takes_the_specific_one_from_the_servers_words() -> None:
    report = read(_report("Final-Recipient: rfc822; ana@example.org\nAction: failed\nStatus: 5.0.0\n"
                          "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\n"))
    [ana] = report.failed
    assert (ana.status, ana.reason, ana.hard) == ("5.2.2", Reason.MAILBOX_FULL, False)


def test_a_positive_dsn_is_no_failure() -> None:
    report = read(_report("Final-Recipient: rfc822; ana@example.org\nAction: delivered\nStatus: 2.0.0\n"))
    assert report.recipients and not report.failed


def test_exim_free_text_with_x_failed_recipients() -> None:
    raw = (b"From: Mail Delivery System <Mailer-Daemon@mx.example.org>\nTo: bounce+x@example.gov.br\n"
           b"Subject: Mail delivery failed: returning message to sender\nX-Failed-Recipients: ana@example.org\n\n"
           b"This message was created automatically by mail delivery software.\n\n"
           b"A message that you sent could not be delivered to one or more of its\n"
           b"recipients. This is a permanent error. The following address(es) failed:\n\n"
           b"  ana@example.org\n    SMTP error from remote mail server after RCPT TO:<ana@example.org>:\n"
           b"    host mx.example.org [192.0.2.1]: 550 5.1.1 User unknown\n\n"
           b"------ This is a copy of the message, including all the headers. ------\n\n"
           b"Return-path: <bounce+x@example.gov.br>\nMessage-ID: <ack.1@example.gov.br>\nTo: ana@example.org\n")
    report = read(raw)
    assert report.kind == "text" and report.original_message_id == ""
    assert "ack.1@example.gov.br" in report.references
    [ana] = report.failed
    assert (ana.address, ana.status, ana.reply_code, ana.hard) == ("ana@example.org", "5.1.1", "550", True)


def test_a_portuguese_free_text_bounce() -> None:
    raw = ("From: MAILER-DAEMON@mx.example.com.br\nTo: bounce+x@example.gov.br\n"
           "Subject: Mensagem não entregue\nContent-Type: text/plain; charset=utf-8\n\n"
           "Não foi possível entregar a sua mensagem para:\n\n"
           "<ana@example.com.br>: caixa postal cheia (552 5.2.2)\n").encode()
    [ana] = read(raw).failed
    assert (ana.address, ana.status, ana.reason, ana.hard) == ("ana@example.com.br", "5.2.2", Reason.MAILBOX_FULL, False)


def test_an_arf_complaint_names_who_complained() -> None:
    raw = (b"From: feedback@isp.example.net\nTo: bounce+x@example.gov.br\nSubject: Abuse report\nMIME-Version: 1.0\n"
           b'Content-Type: multipart/report; report-type=feedback-report; boundary="f"\n\n'
           b"--f\nContent-Type: text/plain\n\nA complaint.\n\n--f\nContent-Type: message/feedback-report\n\n"
           b"Feedback-Type: abuse\nUser-Agent: ISP/1.0\nVersion: 1\nOriginal-Rcpt-To: ana@example.org\n\n"
           b"--f\nContent-Type: message/rfc822\n\nFrom: atendimento@example.gov.br\nTo: ana@example.org\n"
           b"Message-ID: <ack.1@example.gov.br>\nSubject: x\n\nbody\n--f--\n")
    report = read(raw)
    assert (report.kind, report.feedback_type, report.original_message_id) == ("arf", "abuse", "ack.1@example.gov.br")
    [ana] = report.recipients
    assert ana.address == "ana@example.org" and ana.reason is Reason.FEEDBACK and not ana.failed and not ana.hard


@pytest.mark.parametrize("raw", [b"", b"\x00\xff garbage", b"From: ana@example.org\nSubject: Oi\n\nBom dia, tudo bem?\n"])
def test_mail_that_is_no_report_gives_no_failure_and_never_raises(raw: bytes) -> None:
    assert read(raw).failed == ()


@pytest.mark.parametrize(("status", "words", "command", "reason"), [
    ("5.0.0", "550 User unknown", "", Reason.USER_UNKNOWN),
    ("5.0.0", "550 User unknown", "DATA", Reason.FILTERED),  # a content filter's words
    ("5.1.0", "553 sender address does not exist", "MAIL", Reason.REJECTED),
    ("5.4.4", "Host or domain name not found", "", Reason.HOST_UNKNOWN),
    ("4.0.0", "DNS Error: lookup responded with code NXDOMAIN", "", Reason.NETWORK),
    ("5.7.1", "Message rejected as spam", "", Reason.SPAM),
    ("5.2.1", "", "", Reason.FILTERED),
    ("", "", "", Reason.UNDEFINED),
])
def test_classify(status: str, words: str, command: str, reason: Reason) -> None:
    assert classify(status, words, command=command) is reason


def test_verp_tokens_are_unguessable_and_read_back_only_for_our_domains() -> None:
    token = verp.new_token()
    assert len(token) == 25 and token != verp.new_token()
    drawn = "".join(verp.new_token()[9:] for _ in range(400))
    assert set(drawn) == set("abcdefghijklmnopqrstuvwxyz234567"), "every base32 symbol, and nothing else"
    address = verp.return_path(token, "example.gov.br")
    assert verp.token_of(address.upper(), DOMAINS) == token, "MTAs may change the case of a local part"
    assert verp.token_of(address.replace("example.gov.br", "example.net"), DOMAINS) is None
    assert verp.token_of("bounce+short@example.gov.br", DOMAINS) is None
    assert verp.token_of(f"bounce+{token[:24]}@example.gov.br", DOMAINS) is None
    old = "abcdefghijklmnop"  # drawn before the time came first: a bounce for it still finds its mail
    assert verp.token_of(verp.return_path(old, "example.gov.br"), DOMAINS) == old
    assert verp.is_return_path("bounce@example.gov.br", DOMAINS)
    assert not verp.is_return_path("bouncer@example.gov.br", DOMAINS)


def test_tokens_and_message_ids_sort_as_drawn_and_stay_unguessable(monkeypatch) -> None:
    """What we draw for each mail begins with the time, so the outbox's
    unique indexes grow at their end (mail.ids); two drawn in the same
    millisecond still differ in their random part."""
    import time

    from gateway.mail.ids import new_message_id

    moments = iter(range(1_795_000_000_000_000_000, 1_795_000_000_000_000_000 + 40 * 7_000_000, 7_000_000))
    monkeypatch.setattr(time, "time_ns", lambda: next(moments))
    tokens = [verp.new_token() for _ in range(20)]
    ids = [new_message_id("ack", "example.gov.br") for _ in range(20)]
    assert tokens == sorted(tokens) and ids == sorted(ids) and len(set(tokens)) == len(set(ids)) == 20
    monkeypatch.setattr(time, "time_ns", lambda: 1_795_000_000_000_000_000)
    same = [verp.new_token() for _ in range(2)] + [new_message_id("ack", "example.gov.br") for _ in range(2)]
    assert same[0][:9] == same[1][:9] and same[0] != same[1] and same[2] != same[3]
    assert len(same[2].partition("@")[0]) == len("ack.") + 11 + 16, "the time, then 64 random bits"


def test_a_dead_address_is_marked_and_the_team_told_once() -> None:
    dead = Failure("ana@example.org", "5.1.1", "userunknown", "550 User unknown", permanent=True, hard=True)
    decision = on_bounce([dead], mail_kind="ack", team={"equipe@example.gov.br"}, bouncing=set())
    assert decision.mark == (dead,)
    [event] = decision.change.events
    assert event.kind is EventKind.DELIVERY_FAILED
    assert event.note.startswith("entrega falhou: endereço inexistente (ana@example.org, 5.1.1; aviso ack)")
    [notice] = decision.change.notices
    assert notice.template is Template.TEAM_BOUNCE and notice.context["marked"] == ["ana@example.org"]
    again = on_bounce([dead], mail_kind="reminder_waiting", team=set(), bouncing={"ana@example.org"})
    assert again.change.notices == () and len(again.change.events) == 1



def test_a_bounced_notice_of_a_bounce_is_recorded_and_not_told_again() -> None:
    """A team member's mailbox is full: the team's notice of a bounce goes to
    that member too and bounces; telling the team of that bounce looped."""
    full = Failure("analista@example.gov.br", "5.2.2", "mailboxfull", "552 Mailbox full", permanent=True)
    first = on_bounce([full], mail_kind="team_new", team={"analista@example.gov.br"}, bouncing=set())
    assert [n.template for n in first.change.notices] == [Template.TEAM_BOUNCE]
    again = on_bounce([full], mail_kind="team_bounce", team={"analista@example.gov.br"}, bouncing=set())
    assert again.change.notices == () and again.mark == ()
    assert "aviso team_bounce" in again.change.events[0].note

def test_a_delay_only_records_and_a_team_address_is_never_marked() -> None:
    late = Failure("ana@example.org", "4.2.2", "mailboxfull", permanent=False)
    decision = on_bounce([late], mail_kind="ack", team=set(), bouncing=set())
    assert decision.mark == () and decision.change.notices == ()
    assert decision.change.events[0].note.startswith("entrega atrasada: caixa cheia")
    ours = Failure("equipe@example.gov.br", "5.1.1", "userunknown", permanent=True, hard=True)
    assert on_bounce([ours], mail_kind="team_new", team={"equipe@example.gov.br"}, bouncing=set()).mark == ()
