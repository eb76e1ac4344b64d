"""Issue 13.8: warnings about forged analyst mail are capped per claimed
address and hour, carry a short excerpt, and speak the mailbox's language."""

from __future__ import annotations

from datetime import timedelta

from tests.helpers.mailfactory import make_mail
from tests.security.conftest import CNES_TEAM, MALLORY, MARIA, Target


def _forge(target: Target, protocol: str, body: str) -> None:
    rcpt = f"cnes+{protocol}@example.gov.br"
    target.send(make_mail(subject=f"RE: [{protocol}] x", sender=f"Maria <{MARIA}>", to=rcpt, body=body),
                mail_from=MALLORY, to=rcpt)


def test_forgeries_are_warned_a_few_times_an_hour_briefly_in_portuguese(target):
    protocol = target.citizen_opens()
    long_text = "#fechar\n" + "Texto do atacante que não deve chegar inteiro à equipe. " * 80  # ~4,500 characters
    for _ in range(6):
        _forge(target, protocol, long_text)

    warnings = target.outbox(kind="forged_warning", to=CNES_TEAM)
    assert len(warnings) == target.settings.limits.forged_warnings_per_sender_per_hour == 3
    assert target.events(protocol).count("forged_analyst") == 6, "each forgery is on the timeline"
    assert len(target.quarantined()) == 6, "each forgery is kept"
    body = warnings[0].get_body(("plain",)).get_content()
    assert "sem nenhuma comprovação" in body and MARIA in body
    assert "without" not in body and "proof" not in body, "no English in a pt_BR warning"
    assert len(body) < 2000 and body.count("Texto do atacante") < 10

    target.clock.advance(timedelta(hours=1, minutes=1))
    _forge(target, protocol, "#fechar")
    assert len(target.outbox(kind="forged_warning", to=CNES_TEAM)) == 4, "a new hour, a new warning"


def test_an_english_mailbox_is_warned_in_english(attack_desk):
    target = attack_desk(cnes={"language": "en"})
    protocol = target.citizen_opens()
    _forge(target, protocol, "#close")
    [warning] = target.outbox(kind="forged_warning", to=CNES_TEAM)
    body = warning.get_body(("plain",)).get_content()
    assert "no proof" in body and "comprovação" not in body
