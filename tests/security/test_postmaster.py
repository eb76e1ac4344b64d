"""Issue 13.8: postmaster@ (RFC 5321 4.5.1 requires it) and abuse@ of our
domains are accepted and handed to a person, never made a ticket; the
postmaster of anyone else's domain is still refused (no open relay)."""

from __future__ import annotations

import smtplib

from tests.helpers.mailfactory import make_mail
from tests.security.conftest import CNES_TEAM, MALLORY, Target

ADMIN = "admin-correio@example.org"


def test_postmaster_and_abuse_of_our_domain_are_accepted_and_handed_on(attack_desk):
    target: Target = attack_desk(smtp={"postmaster": ADMIN})
    for rcpt in ("postmaster@example.gov.br", "Abuse@Example.gov.br", "postmaster"):
        assert target.rcpt_reply(rcpt)[0] == 250, rcpt
    assert target.rcpt_reply("postmaster@elsewhere.example")[0] == 550
    assert target.rcpt_reply("webmaster@example.gov.br")[0] == 550

    raw = make_mail(subject="Seu servidor enviou spam?", sender=f"Relator <{MALLORY}>", to="abuse@example.gov.br",
                    body="Recebemos 300 mensagens do seu IP.")
    target.send(raw, to="abuse@example.gov.br")

    assert target.tickets() == [], "no ticket"
    [forward] = target.outbox(kind="postmaster", to=ADMIN)
    assert "abuse@example.gov.br" in forward.get_body(("plain",)).get_content()
    [original] = list(forward.iter_attachments())
    assert original.get_content_type() == "message/rfc822"
    assert b"Recebemos 300 mensagens" in original.get_payload()[0].as_bytes()
    assert not target.outbox(to=MALLORY), "the sender gets no answer"


def test_without_a_postmaster_setting_the_first_team_reads_it(target):
    target.send(make_mail(subject="Teste", sender=f"X <{MALLORY}>", to="postmaster@example.gov.br"),
                to="postmaster@example.gov.br")
    assert len(target.outbox(kind="postmaster", to=CNES_TEAM)) == 1


def test_postmaster_is_not_a_flood_gate(attack_desk):
    """The address is public: past a cap per hour, mail to it is kept, not forwarded."""
    from gateway.services import postmaster

    target: Target = attack_desk(smtp={"postmaster": ADMIN})
    cap = postmaster.PER_HOUR
    with smtplib.SMTP("127.0.0.1", target.running.port, timeout=30, source_address=("127.0.0.2", 0)) as client:
        for number in range(cap + 3):
            client.sendmail(MALLORY, ["postmaster@example.gov.br"],
                            make_mail(subject=f"spam {number}", sender=f"X <{MALLORY}>", to="postmaster@example.gov.br"))
    target.sent += cap + 3
    target.running.wait_processed(target.sent, timeout=60)
    assert len(target.outbox(kind="postmaster", to=ADMIN)) == cap
    assert len(target.quarantined()) == 3
