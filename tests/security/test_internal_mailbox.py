"""Issue 13.1: an internal mailbox is proof only for mail that can only
come from inside, and an analyst's proof counts only on tickets of the
mailboxes that list them.  A protocol of another mailbox in an analyst's
mail is a note at most, never a command."""

from __future__ import annotations

import pytest

from gateway.credentials import hash_password
from tests.helpers.mailfactory import make_mail
from tests.helpers.servers import free_port
from tests.security.conftest import (ANA, CNES, CNES_TEAM, INTERNAL, MALLORY, MARIA, MTA_PEER, PEDRO, Target,
                                     parsed)

PASSWORD = "correta-cavalo-bateria-grampo"


def _command(protocol: str, body: str, *, sender: str = PEDRO, to: str = INTERNAL) -> bytes:
    return make_mail(subject=f"RE: [{protocol}] x", sender=f"Pedro <{sender}>", to=to, body=body)


def _staff_request(target: Target) -> str:
    """A colleague's request to the internal mailbox, from inside (through the MTA)."""
    before = {t["protocol"] for t in target.tickets()}
    target.send(make_mail(subject="Impressora do 3º andar parada", sender="Servidora <servidora@example.gov.br>",
                          to=INTERNAL, body="A impressora não imprime desde ontem."),
                mail_from="servidora@example.gov.br", to=INTERNAL, source=MTA_PEER)
    [protocol] = [t["protocol"] for t in target.tickets() if t["protocol"] not in before]
    return protocol


def test_the_public_listener_refuses_mail_to_an_internal_mailbox_at_rcpt(target):
    code, message = target.rcpt_reply(INTERNAL, mail_from=MALLORY)
    assert code == 550 and "5.7.1" in message
    assert target.rcpt_reply(CNES, mail_from=MALLORY)[0] == 250, "the public mailbox still takes mail"
    assert target.rcpt_reply(INTERNAL, mail_from=PEDRO, source=MTA_PEER)[0] == 250, "the MTA in front may"
    assert target.inbox_count() == 0


def test_forged_pedro_on_the_public_port_closes_nothing(target):
    protocol = _staff_request(target)
    import smtplib

    with pytest.raises(smtplib.SMTPRecipientsRefused):
        target.send(_command(protocol, "#fechar\nResolvido."), mail_from=MALLORY, to=INTERNAL)
    assert target.status(protocol) == "new"
    assert "closed" not in target.events(protocol)


def test_pedro_from_inside_is_obeyed_on_his_own_mailbox(target):
    """The positive control: the internal path is still proof for its own staff."""
    protocol = _staff_request(target)
    target.send(_command(protocol, "#fechar\nTroquei o toner."), mail_from=PEDRO, to=INTERNAL, source=MTA_PEER)
    assert target.status(protocol) == "closed"


def test_a_cnes_protocol_in_pedros_internal_mail_is_a_note_never_a_command(target):
    protocol = target.citizen_opens()
    target.send(_command(protocol, "#categoria Infraestrutura\n#fechar\nFechando."), mail_from=PEDRO, to=INTERNAL,
                source=MTA_PEER)
    ticket = target.ticket(protocol)
    assert ticket["status"] == "new" and ticket["category"] is None
    assert "colleague_note" in target.events(protocol)
    [note] = [m for m in ticket["messages"] if m["sender"] == PEDRO]
    assert note["internal"] is True and note["role"] == "colleague"
    assert not [m for m in target.outbox(to=ANA) if "Fechando" in str(m)], "nothing reaches the citizen"
    [told] = target.outbox(kind="command_errors", to=PEDRO)
    assert CNES in told.get_body(("plain",)).get_content()


def _submission_desk(attack_desk, tmp_path) -> Target:
    credentials = tmp_path / "analysts.txt"
    credentials.write_text(f"{PEDRO}:{hash_password(PASSWORD, iterations=1000)}\n"
                           f"{MARIA}:{hash_password(PASSWORD, iterations=1000)}\n")
    return attack_desk(submission={"enabled": True, "port": free_port(), "require_tls": False,
                                   "credentials_file": str(credentials)})


def test_pedro_logged_in_cannot_command_a_cnes_ticket(attack_desk, tmp_path):
    target = _submission_desk(attack_desk, tmp_path)
    protocol = target.citizen_opens()
    rcpt = f"cnes+{protocol}@example.gov.br"
    target.send(_command(protocol, "#fechar\nFechado por engano.", to=rcpt), mail_from=PEDRO, to=rcpt,
                port=target.settings.submission.port, login=(PEDRO, PASSWORD))
    assert target.status(protocol) == "new"
    assert "colleague_note" in target.events(protocol) and "closed" not in target.events(protocol)


def test_maria_logged_in_is_obeyed_on_her_own_mailbox(attack_desk, tmp_path):
    target = _submission_desk(attack_desk, tmp_path)
    protocol = target.citizen_opens()
    rcpt = f"cnes+{protocol}@example.gov.br"
    target.send(make_mail(subject=f"RE: [{protocol}] x", sender=f"Maria <{MARIA}>", to=rcpt, body="#fechar\nOk."),
                mail_from=MARIA, to=rcpt, port=target.settings.submission.port, login=(MARIA, PASSWORD))
    assert target.status(protocol) == "closed"


def test_a_login_speaks_only_for_its_own_address(attack_desk, tmp_path):
    """Logged in as Maria, a mail From the citizen with her protocol is no decision of hers."""
    target = _submission_desk(attack_desk, tmp_path)
    protocol = target.citizen_opens()
    target.solved(protocol)
    target.send(make_mail(subject=f"RES: [{protocol}] x", sender=f"Ana <{ANA}>", to=CNES, body="Sim, resolvido."),
                mail_from=MARIA, to=CNES, port=target.settings.submission.port, login=(MARIA, PASSWORD))
    assert target.status(protocol) == "solved"
    assert any("a login speaks only for itself" in reason for _, reason in target.quarantined())
    assert not target.outbox(kind="survey")


def test_the_team_notice_of_a_cnes_ticket_never_reaches_another_team(target):
    """A citizen writing to the internal address with a CNES protocol lands on
    the CNES ticket, and only the CNES team hears of it."""
    protocol = target.citizen_opens()
    before = len(target.outbox(kind="team_followup"))
    target.send(make_mail(subject=f"RES: [{protocol}] mais dados", sender=f"Ana <{ANA}>", to=INTERNAL,
                          body="Segue o CNES da unidade: 1234567."), mail_from=ANA, to=INTERNAL, source=MTA_PEER)
    assert [m["sender"] for m in target.ticket(protocol)["messages"] if m["direction"] == "in"] == [ANA, ANA]
    notices = target.outbox(kind="team_followup")[before:]
    assert notices and all(CNES_TEAM in str(n["To"]) for n in notices)
    assert parsed(target.outbox(kind="team_followup")[-1].as_bytes())["X-Ticket-Protocol"] == protocol


def test_an_internal_mailbox_read_over_imap_proves_nothing(attack_desk, imap_account):
    """Anyone can write to an IMAP account: its mail reaches the pipeline
    without the listener's RCPT check, and the pipeline refuses the same."""
    from tests.helpers.servers import wait_until

    dovecot, imap = imap_account("interno")
    target = attack_desk(internal={"imap": imap})
    protocol = _staff_request(target)
    dovecot.append("interno", _command(protocol, "#fechar\nFechado pelo atacante."))
    wait_until(lambda: "forged_analyst" in target.events(protocol), timeout=20,
               what="the IMAP mail to be processed")
    assert target.status(protocol) == "new"


# -- what the review after the fix found (issue 13, second pass) ----------------

def test_mail_for_postmaster_never_reaches_the_internal_mailbox_by_its_to_header(target):
    """The envelope says whom a mail is for; a header only what the sender wrote."""
    target.send(make_mail(subject="Troca de senha urgente", sender=f"Suporte <{MALLORY}>", to=INTERNAL,
                          body="Clique aqui para validar sua senha."), to="postmaster@example.gov.br")
    assert not target.tickets(), "no ticket anywhere, let alone in the internal mailbox"
    assert target.outbox(kind="postmaster") and not target.outbox(kind="team_new")


def test_postmaster_mail_through_the_mta_makes_nobody_pedro(target):
    """The MTA must take postmaster@ from anyone and relays it from a trusted peer."""
    protocol = _staff_request(target)
    target.send(_command(protocol, "#fechar\nResolvido."), mail_from=MALLORY, to="postmaster@example.gov.br",
                source=MTA_PEER)
    assert target.status(protocol) == "new"
    assert target.outbox(kind="postmaster")


def _lmtp(target: Target, raw: bytes, *, source: str, mail_from: str = MALLORY) -> None:
    import smtplib

    with smtplib.LMTP("127.0.0.1", target.running.port, source_address=(source, 0)) as client:
        client.sendmail(mail_from, [CNES], raw)
    target.sent += 1
    target.running.wait_processed(target.sent)


def _lmtp_attack(target: Target, source: str) -> str:
    from tests.security.conftest import passes, verdict

    _lmtp(target, make_mail(subject="Erro", sender=f"Ana <{ANA}>", to=CNES, trace=passes(ANA)), source=MTA_PEER,
          mail_from=ANA)
    [ticket] = target.tickets()
    protocol = ticket["protocol"]
    _lmtp(target, make_mail(subject=f"RE: [{protocol}] x", sender=f"Maria <{MARIA}>", to=CNES, body="#fechar\nok",
                            trace=verdict("dkim=pass header.d=example.gov.br")), source=source)
    return protocol


def test_lmtp_alone_trusts_the_local_mta(attack_desk):
    from tests.security.conftest import PUBLIC_PEER

    local = attack_desk(smtp={"lmtp": True, "trusted_networks": []})  # LMTP alone: a loopback peer is the MTA
    assert local.status(_lmtp_attack(local, PUBLIC_PEER)) == "closed", "127.0.0.2 is this machine (positive control)"


def test_lmtp_with_trusted_networks_trusts_only_them(attack_desk):
    from tests.security.conftest import PUBLIC_PEER

    restricted = attack_desk(smtp={"lmtp": True, "trusted_networks": [f"{MTA_PEER}/32"]})
    assert restricted.status(_lmtp_attack(restricted, PUBLIC_PEER)) == "new", \
        "with trusted_networks, an LMTP peer outside them vouches for nothing"


def test_ipv6_peers_are_read_with_their_port_apart():
    from types import SimpleNamespace

    from gateway.config import in_networks
    from gateway.transports.smtp import _peer

    attacker = _peer(SimpleNamespace(peer=("fd00::1:2:3:4", 443, 0, 0)))
    assert attacker == "[fd00::1:2:3:4]:443"
    assert not in_networks(attacker, ("fd00:0:0:1::/64",)), "the port is no group of the address"
    assert in_networks(_peer(SimpleNamespace(peer=("::1", 40000, 0, 0))), ("::1/128",))


def test_a_trusted_ipv6_mta_reaches_the_internal_mailbox(attack_desk):
    import smtplib
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    target = attack_desk(smtp={"host": "::1", "trusted_networks": ["::1/128"]})
    with smtplib.SMTP("::1", target.running.port, timeout=10) as client:
        client.ehlo()
        client.mail(PEDRO)
        assert client.rcpt(INTERNAL)[0] == 250
