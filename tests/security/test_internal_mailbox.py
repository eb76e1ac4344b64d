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


def test_an_internal_mailbox_read_over_imap_proves_nothing(attack_desk, tmp_path):
    """Anyone can write to an IMAP account: its mail reaches the pipeline
    without the listener's RCPT check, and the pipeline refuses the same."""
    from tests.conftest import need
    from tests.helpers.dovecot import BINARY, Dovecot
    from tests.helpers.servers import wait_until

    need(BINARY is not None, "Debian's dovecot-imapd is not installed (apt-get install dovecot-imapd)")
    dovecot = Dovecot({"interno": "segredo-interno"}).start()
    try:
        secret = tmp_path / "interno.secret"
        secret.write_text("segredo-interno\n")
        imap = {"host": "127.0.0.1", "port": dovecot.port, "tls": "plain", "user": "interno",
                "password_file": str(secret), "timeout": 10, "reconnect_max": 2, "poll_interval": 0.2}
        target = attack_desk(internal={"imap": imap})
        protocol = _staff_request(target)
        dovecot.append("interno", _command(protocol, "#fechar\nFechado pelo atacante."))
        wait_until(lambda: "forged_analyst" in target.events(protocol), timeout=20,
                   what="the IMAP mail to be processed")
        assert target.status(protocol) == "new"
    finally:
        dovecot.stop(remove=True)
