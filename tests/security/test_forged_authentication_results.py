"""Issue 13.2: only the Authentication-Results our MTA added count, and
only when the mail came through it.  Each attack is a mail in Maria's
name (a CNES analyst) whose command would hand the ticket to the attacker;
after it, the ticket, its events and the outbox show nothing was obeyed,
and the citizen's next mail (with her CPF) reaches nobody outside."""

from __future__ import annotations

import random

import pytest

from tests.helpers.mailfactory import make_mail
from tests.security.conftest import (ANA, CNES, MALLORY, MARIA, MTA_PEER, MX, PUBLIC_PEER, Target, passes,
                                     verdict)
from tests.unit.rules.rule_helpers import generate_cpf

ASSIGN = f"#atribuir {MALLORY}\nPassando para o colega."
DKIM_PASS = f"{MX}; dkim=pass header.d=example.gov.br"


def _attack(target: Target, protocol: str, raw_head: bytes, *, source: str) -> None:
    """Maria's name, the attacker's command, the headers given as raw bytes on top."""
    rcpt = f"cnes+{protocol}@example.gov.br"
    mail = make_mail(subject=f"RE: [{protocol}] Novo chamado", sender=f"Maria Lima <{MARIA}>", to=rcpt, body=ASSIGN)
    target.send(raw_head + mail, mail_from=MALLORY, to=rcpt, source=source)


def _nothing_obeyed(target: Target, protocol: str) -> None:
    ticket = target.ticket(protocol)
    assert ticket["assignee"] is None and "assigned" not in target.events(protocol)
    assert "forged_analyst" in target.events(protocol)
    assert any("without" in reason for _, reason in target.quarantined())
    # The citizen's next mail, with her CPF, goes to her team only.
    target.send(make_mail(subject=f"RES: [{protocol}] dados", sender=f"Ana <{ANA}>", to=CNES,
                          body=f"CPF: {generate_cpf(random.Random(13))}", trace=passes(ANA)), mail_from=ANA, source=MTA_PEER)
    assert not target.outbox(to=MALLORY), "no mail ever goes to the attacker"


@pytest.mark.parametrize("where", ["public listener", "below a failing header", "in a comment",
                                   "smuggled by a bare CR", "below the sender's own headers"])
def test_a_forged_pass_gives_no_analyst_powers(target, where):
    protocol = target.citizen_opens()
    head = {
        # Straight from the Internet, no MTA in front: every trusted-id header is the sender's.
        "public listener": f"Authentication-Results: {DKIM_PASS}\r\n".encode(),
        # Our MTA said fail on top; the sender's pass sits right below it.
        "below a failing header": (f"Authentication-Results: {MX}; dkim=fail header.d=example.gov.br; "
                                   f"dmarc=fail header.from=example.gov.br\r\n"
                                   f"Authentication-Results: {DKIM_PASS}\r\n").encode(),
        "in a comment": f"Authentication-Results: {MX}; dkim=none (dkim=pass header.d=example.gov.br)\r\n".encode(),
        "smuggled by a bare CR": f"X-Note: a\rAuthentication-Results: {DKIM_PASS}\r\n".encode(),
        "below the sender's own headers": f"X-Mailer: Forjador 1.0\r\nAuthentication-Results: {DKIM_PASS}\r\n".encode(),
    }[where]
    _attack(target, protocol, head, source=PUBLIC_PEER if where == "public listener" else MTA_PEER)
    _nothing_obeyed(target, protocol)


def test_the_public_listener_ignores_even_a_genuine_looking_pass_and_says_so(target):
    protocol = target.citizen_opens()
    _attack(target, protocol, f"Authentication-Results: {DKIM_PASS}\r\n".encode(), source=PUBLIC_PEER)
    [(_, reason)] = target.quarantined()
    assert "no trusted Authentication-Results" in reason


def test_the_mtas_own_pass_on_top_is_proof(target):
    """The positive control: the same mail, with our MTA's header on top
    and through the MTA, is Maria's, and an assignment within the desk works."""
    protocol = target.citizen_opens()
    rcpt = f"cnes+{protocol}@example.gov.br"
    mail = make_mail(subject=f"RE: [{protocol}] Novo chamado", sender=f"Maria Lima <{MARIA}>", to=rcpt,
                     body="#prioridade alta", trace=verdict("dkim=pass header.d=example.gov.br"))
    target.send(mail, mail_from=MARIA, to=rcpt, source=MTA_PEER)
    assert target.ticket(protocol)["priority"] == "alta"


def test_another_domains_pass_proves_nothing_about_maria(target):
    protocol = target.citizen_opens()
    _attack(target, protocol, f"Authentication-Results: {MX}; dkim=pass header.d=evil.example; "
                              f"spf=pass smtp.mailfrom=evil.example\r\n".encode(), source=MTA_PEER)
    _nothing_obeyed(target, protocol)


def test_an_untrusted_authserv_id_proves_nothing(target):
    protocol = target.citizen_opens()
    _attack(target, protocol, b"Authentication-Results: mx.evil.example; dkim=pass header.d=example.gov.br\r\n",
            source=MTA_PEER)
    _nothing_obeyed(target, protocol)


def test_explain_shows_which_door_makes_the_header_count(tmp_path):
    """`gateway explain --via mta` judges a mail as the MTA in front would hand
    it over; by default it is judged as coming from the public Internet."""
    from tests.helpers.process import run, write_config

    config = write_config(tmp_path, extra=f'analysts = ["{MARIA}"]')
    config.write_text(config.read_text() + f'\n[auth]\ntrusted_authserv_ids = ["{MX}"]\n')
    mail = tmp_path / "maria.eml"
    mail.write_bytes(make_mail(subject="Pergunta", sender=f"Maria <{MARIA}>", body="#fechar",
                               trace=verdict("dkim=pass header.d=example.gov.br")))

    through_mta = run(config, "explain", "--via", "mta", str(mail))
    public = run(config, "explain", str(mail))

    assert through_mta.returncode == 0 and public.returncode == 0, public.stderr
    assert "role:     analyst (dkim pass from a trusted MTA)" in through_mta.stdout.decode()
    assert "forged_analyst" in public.stdout.decode()
    assert "did not come through the trusted MTA" in public.stdout.decode()


def test_a_dmarc_fail_outweighs_a_dkim_pass_right_below_it(target):
    """Our MTA did not strip the sender's header and put nothing between:
    its DMARC fail for the domain still decides."""
    protocol = target.citizen_opens()
    head = (f"Authentication-Results: {MX}; spf=fail smtp.mailfrom=evil.example; "
            f"dmarc=fail header.from=example.gov.br\r\nAuthentication-Results: {DKIM_PASS}\r\n").encode()
    _attack(target, protocol, head, source=MTA_PEER)
    _nothing_obeyed(target, protocol)


@pytest.mark.parametrize("trusted", [False, True])
def test_an_imap_accounts_headers_prove_nothing_unless_the_mailbox_says_its_server_strips_them(
        attack_desk, imap_account, trusted):
    """The server hosting an IMAP account does not know to remove headers
    with our MTA's authserv-id: a sender's own sits under its trace headers.
    Only a mailbox whose server does strip them says so, and then they count."""
    from tests.helpers.servers import wait_until

    dovecot, imap = imap_account("cnes")
    target = attack_desk(cnes={"imap": {**imap, "trust_authentication_results": trusted}})
    protocol = target.citizen_opens()
    forged = make_mail(subject=f"RE: [{protocol}] x", sender=f"Maria <{MARIA}>", to="cnes@example.gov.br",
                       body="#fechar\nResolvido.",
                       trace={"Return-Path": f"<{MALLORY}>", "Delivered-To": "cnes@hosting.example",
                              "Received": "from evil.example by imap.hosting.example; Mon, 23 Nov 2026 10:00 -0300",
                              "Authentication-Results": DKIM_PASS})
    dovecot.append("cnes", forged)
    if trusted:
        wait_until(lambda: target.status(protocol) == "closed", timeout=20, what="Maria's command obeyed")
        return
    wait_until(lambda: "forged_analyst" in target.events(protocol), timeout=20, what="the IMAP mail processed")
    assert target.status(protocol) == "new"
