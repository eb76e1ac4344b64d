"""classify(): RFC 3834 headers, OOO subjects, bounces (ptbr and sisimai)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.corpus import CORPUS, ptbr_cases
from gateway.mail.automatic import classify
from gateway.mail.parsed import ParseError, parse

SISIMAI = CORPUS / "sisimai-set-of-emails" / "maildir"
#: Measured: 814 of 829 sisimai automatic mails (bounces, vacation replies,
#: ARF reports) are recognised (98.2%); the misses are provider notices
#: with no machine marker (AWS SNS "Notification Message", fml list-admin
#: notices, a KDDI Japanese subject, a forwarded bounce).
SISIMAI_MIN_AUTOMATIC = 0.98
HUMAN_KINDS = {"new", "followup", "solution_answer", "survey_answer"}
OWN = ("cnes@example.gov.br", "atendimento@example.gov.br")


def _mail(headers: str, body: str = "Oi\n"):  # type: ignore[no-untyped-def]
    return parse((headers.strip() + "\n\n" + body).encode())


def test_corpus_present(corpus: Path) -> None:
    assert SISIMAI.is_dir()


@pytest.mark.parametrize(("path", "truth"), ptbr_cases(), ids=lambda v: getattr(v, "name", ""))
def test_ptbr_automatic_and_bounce_flags(path: Path, truth: dict) -> None:
    verdict = classify(parse(path.read_bytes()), envelope_sender=None, own_addresses=OWN)
    assert verdict.automatic == truth["auto_submitted"], verdict.reasons
    assert verdict.bounce == truth["is_bounce"], verdict.reasons
    if truth["kind"] in HUMAN_KINDS:
        assert not verdict.automatic


def test_ptbr_ooo_without_header_is_caught_by_its_subject() -> None:
    mail = parse((CORPUS / "ptbr-clients" / "20-autoreply-sem-header-ferias.eml").read_bytes())
    verdict = classify(mail, envelope_sender="debora.campos@example.org")
    assert verdict.automatic and any("out-of-office" in r for r in verdict.reasons)


def test_sisimai_automatic_share_reaches_threshold() -> None:
    total = recognised = 0
    for folder in ("bsd", "dos", "mac", "err", "tmp"):
        for path in sorted((SISIMAI / folder).glob("*.eml")):
            try:
                mail = parse(path.read_bytes())
            except ParseError:
                continue
            total += 1
            recognised += classify(mail, envelope_sender=None).automatic
    assert total > 800
    assert recognised / total >= SISIMAI_MIN_AUTOMATIC


@pytest.mark.parametrize("path", sorted(SISIMAI.glob("not/*.eml")), ids=lambda p: p.name)
def test_sisimai_non_bounces_are_not_bounces(path: Path) -> None:
    assert not classify(parse(path.read_bytes()), envelope_sender=None).bounce


@pytest.mark.parametrize(("headers", "automatic"), [
    ("From: a@b.org\nAuto-Submitted: no", False),
    ("From: a@b.org\nAuto-Submitted: NO ; comment", False),
    ("From: a@b.org\nAuto-Submitted: auto-replied; owner-email=x@y", True),
    ("From: a@b.org\nPrecedence: bulk", True),
    ("From: a@b.org\nPrecedence: auto_reply", True),
    ("From: a@b.org\nList-Id: <l.example.org>", True),
    ("From: a@b.org\nList-Unsubscribe: <mailto:u@x>", True),
    ("From: a@b.org\nX-Autoreply: yes", True),
    ("From: a@b.org\nX-Autorespond: yes", True),
    ("From: a@b.org\nX-MS-Exchange-Inbox-Rules-Loop: a@b.org", True),
    ("From: a@b.org\nX-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent", True),
    # A request to others not to auto-reply, which Outlook adds to ordinary mail.
    ("From: a@b.org\nX-Auto-Response-Suppress: All", False),
    ("From: a@b.org\nX-Loop: cnes@example.gov.br", True),
    ("From: a@b.org\nX-Loop: other@example.org", False),
    ("From: CNES <cnes@example.gov.br>", True),
    ("From: a@b.org\nSubject: Resposta automática: [ATD-2026-000001-7] Recebido", True),
    ("From: a@b.org\nSubject: Ausência temporária", True),
    ("From: a@b.org\nSubject: Fora do escritório até 30/11", True),
    ("From: a@b.org\nSubject: RES: Out of Office: retorno dia 2", True),
    ("From: a@b.org\nSubject: Automatic reply: pedido", True),
    ("From: a@b.org\nSubject: Autoreply", True),
    ("From: a@b.org\nSubject: Férias: retorno em dezembro", True),
    ("From: a@b.org\nSubject: Dúvida sobre férias do servidor", False),
    ("From: a@b.org\nSubject: Re: [ATD-2026-000001-7] pedido de férias", False),
])
def test_header_and_subject_signals(headers: str, automatic: bool) -> None:
    verdict = classify(_mail(headers), envelope_sender="a@b.org", own_addresses=OWN)
    assert verdict.automatic is automatic, verdict.reasons


@pytest.mark.parametrize("sender", ["", "<>", "MAILER-DAEMON@mx.example.net", "postmaster@x.org"])
def test_null_or_daemon_envelope_sender_is_automatic(sender: str) -> None:
    assert classify(_mail("From: a@b.org"), envelope_sender=sender).automatic


@pytest.mark.parametrize("subject", ["Undelivered Mail Returned to Sender", "Mensagem não entregue",
                                     "Falha na entrega", "Não foi possível entregar a mensagem",
                                     "Delivery Status Notification (Failure)", "Returned mail: x"])
def test_daemon_with_bounce_subject_is_a_bounce(subject: str) -> None:
    mail = _mail(f"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\nSubject: {subject}")
    verdict = classify(mail, envelope_sender="")
    assert verdict.automatic and verdict.bounce


def test_daemon_sender_with_ordinary_subject_is_automatic_but_not_a_bounce() -> None:
    verdict = classify(_mail("From: postmaster@x.org\nSubject: Aviso"), envelope_sender="")
    assert verdict.automatic and not verdict.bounce


def test_delivery_status_part_makes_a_bounce() -> None:
    mail = _mail("From: a@b.org\nContent-Type: multipart/mixed; boundary=B",
                 "--B\nContent-Type: text/plain\n\nx\n--B\nContent-Type: message/delivery-status\n\n"
                 "Reporting-MTA: dns; x\n\nFinal-Recipient: rfc822; y@z\nAction: failed\nStatus: 5.1.1\n--B--\n")
    assert classify(mail, envelope_sender="a@b.org").bounce
