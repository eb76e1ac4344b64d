"""The IMAP poller against a real Dovecot: mail in, tickets out, server
folders tidy, and the failure cases of PITFALLS D, E, H and I.

Mails are delivered with IMAP APPEND; every wait is bounded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from imapclient import IMAPClient

from gateway.app import Gateway
from gateway.transports import imap as imap_transport
from tests.helpers.dovecot import Dovecot, wait_for_count
from tests.helpers.mailfactory import make_mail
from tests.helpers.servers import RunningGateway, wait_until
from tests.integration.imap.conftest import ADDRESS, CNES, mailbox

pytestmark = pytest.mark.dovecot

USER = "atendimento"


class SimulatedCrash(BaseException):
    """Raised between the commit and the move: the poller's thread dies there."""


def _tickets(gateway: Gateway) -> list[dict[str, Any]]:
    from gateway.services import views
    from gateway.store import tickets

    with gateway.db.transaction() as tx:
        return [views.summary(t) for t in tickets.listing(tx, limit=10_000)]


def _inbox(gateway: Gateway) -> dict[str, int]:
    from gateway.store import inbox

    with gateway.db.transaction() as tx:
        return inbox.counts(tx)


def test_new_mail_becomes_a_ticket_with_an_acknowledgement_and_lands_in_processed(
        dovecot: Dovecot, imap_gateway: Callable[..., RunningGateway]) -> None:
    running = imap_gateway()
    dovecot.append(USER, make_mail(subject="Erro no cadastro do profissional"))
    running.wait_processed(1, timeout=20)
    [ticket] = running.tickets()
    assert ticket["subject"] == "Erro no cadastro do profissional"
    [ack] = running.outbox(to="ana.souza@example.org")
    assert ticket["protocol"] in ack["Subject"]
    wait_for_count(dovecot, USER, "Processed", 1)
    assert dovecot.count(USER, "INBOX") == 0
    with running.gateway.db.transaction() as tx:
        from gateway.store.models import InboxRow

        row = tx.get(InboxRow, 1)
        assert row is not None and row.via == "imap" and row.mailbox_hint == ADDRESS


def test_idle_wakes_the_poller_within_seconds_not_the_poll_interval(
        dovecot: Dovecot, imap_gateway: Callable[..., RunningGateway]) -> None:
    running = imap_gateway(idle=True, poll_interval=300)
    [poller] = running.gateway.pollers
    wait_until(poller.idling.is_set, timeout=15, what="the poller to enter IDLE")
    started = time.monotonic()
    dovecot.append(USER, make_mail(subject="Chegou durante o IDLE"))
    running.wait_processed(1, timeout=10)
    latency = time.monotonic() - started
    assert latency < 5, f"IDLE wake-up took {latency:.1f} s"
    assert running.tickets()[0]["subject"] == "Chegou durante o IDLE"


def test_a_mail_announced_with_the_idle_continuation_is_taken_at_once(
        dovecot: Dovecot, imap_gateway: Callable[..., RunningGateway], monkeypatch: pytest.MonkeyPatch) -> None:
    """A mail that lands between a drain and IDLE is announced by Dovecot
    right behind its "+ idling".  When both came in one read, imaplib kept
    the "* 1 EXISTS" in its buffer, the socket stayed quiet, and the mail
    waited for Dovecot's two-minute keepalive: in CI, a mail appended as
    the gateway started was not taken within 20 s.  Here the mail is
    appended just before IDLE and the client reads only once both lines
    are there."""
    real_begin = imap_transport._begin_idle
    appended = threading.Event()

    def begin_after_a_mail(client: IMAPClient) -> None:
        if appended.is_set():
            return real_begin(client)
        dovecot.append(USER, make_mail(subject="Chegou antes do IDLE"))
        appended.set()
        connection, send = client._imap, client._imap.send

        def send_then_wait(data: bytes) -> None:
            send(data)
            time.sleep(0.5)  # Dovecot answers "+ idling" and the news before the first read
        connection.send = send_then_wait
        try:
            return real_begin(client)
        finally:
            del connection.send

    # Dovecot's keepalive comes at a random point of its two minutes: the
    # slow path sometimes took the mail within the wait below.  What tells
    # them apart is who read the news: idle_check (after that keepalive
    # woke it) or the look at the buffer (the DONE that follows reads it).
    heard: list[Any] = []
    real_check = IMAPClient.idle_check

    def check_and_note(client: IMAPClient, timeout: float | None = None) -> list[Any]:
        responses = real_check(client, timeout)
        heard.extend(responses)
        return responses

    monkeypatch.setattr(imap_transport, "_begin_idle", begin_after_a_mail)
    monkeypatch.setattr(IMAPClient, "idle_check", check_and_note)
    running = imap_gateway(idle=True, poll_interval=300)
    wait_until(appended.is_set, timeout=15, what="the poller to enter IDLE")
    running.wait_processed(1, timeout=20)
    assert running.tickets()[0]["subject"] == "Chegou antes do IDLE"
    assert not [r for r in heard if len(r) >= 2 and r[1] == b"EXISTS"], heard


def test_without_idle_the_poller_looks_every_poll_interval(
        dovecot: Dovecot, imap_gateway: Callable[..., RunningGateway]) -> None:
    running = imap_gateway(idle=False, poll_interval=0.5)
    [poller] = running.gateway.pollers
    dovecot.append(USER, make_mail(subject="Primeira"))
    running.wait_processed(1, timeout=15)
    dovecot.append(USER, make_mail(subject="Segunda"))
    running.wait_processed(2, timeout=15)
    assert not poller.idling.is_set()
    assert sorted(t["subject"] for t in running.tickets()) == ["Primeira", "Segunda"]


def test_a_crash_between_commit_and_move_neither_loses_nor_duplicates(
        dovecot: Dovecot, offline: Callable[..., Gateway]) -> None:
    dovecot.append(USER, make_mail(subject="Pedido de acesso ao sistema"))
    first = offline()
    [poller] = first.imap_pollers()

    def crash(uids: list[int]) -> None:
        raise SimulatedCrash(f"killed after committing {uids}, before moving them")

    poller.on_accepted.append(crash)
    with pytest.raises(SimulatedCrash):
        poller.drain_once()
    assert _inbox(first) == {"accepted": 1}  # committed...
    assert dovecot.count(USER, "INBOX") == 1  # ...but still on the server
    first.close()

    restarted = offline()  # same database, a new process
    [poller] = restarted.imap_pollers()
    result = poller.drain_once()
    assert (result.accepted, result.acknowledged) == (1, 1)
    restarted.ingest.process_pending()
    assert [t["subject"] for t in _tickets(restarted)] == ["Pedido de acesso ao sistema"]
    assert _inbox(restarted) == {"processed": 1, "duplicate": 1}
    assert (dovecot.count(USER, "INBOX"), dovecot.count(USER, "Processed")) == (0, 1)


def test_a_uidvalidity_change_rescans_without_duplicate_tickets(
        dovecot: Dovecot, offline: Callable[..., Gateway], caplog: pytest.LogCaptureFixture) -> None:
    old = [make_mail(subject=f"Antiga {n}") for n in range(2)]
    dovecot.append(USER, *old, folder="Entrada")
    gateway = offline(folder="Entrada", after="flag")
    [poller] = gateway.imap_pollers()
    assert poller.drain_once().accepted == 2
    gateway.ingest.process_pending()
    with dovecot.client(USER) as client:
        before = client.folder_status("Entrada", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
        client.delete_folder("Entrada")  # the admin rebuilds the folder: same mails, new UIDs
        client.create_folder("Entrada")
        after = client.folder_status("Entrada", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    assert before != after
    dovecot.append(USER, *old, make_mail(subject="Nova"), folder="Entrada")

    with caplog.at_level(logging.WARNING, logger="gateway.imap"):
        assert poller.drain_once().accepted == 3
    gateway.ingest.process_pending()
    assert sorted(t["subject"] for t in _tickets(gateway)) == ["Antiga 0", "Antiga 1", "Nova"]
    assert _inbox(gateway) == {"processed": 3, "duplicate": 2}
    assert f"UIDVALIDITY {before} -> {after}" in caplog.text
    assert poller.drain_once().accepted == 0  # and the new position holds


def test_a_dropped_connection_mid_fetch_reconnects_and_continues(
        dovecot: Dovecot, offline: Callable[..., Gateway], caplog: pytest.LogCaptureFixture) -> None:
    total = 60
    dovecot.append(USER, *[make_mail(subject=f"Pedido {n:03d}") for n in range(total)])
    gateway = offline(batch_size=5)
    [poller] = gateway.imap_pollers()
    batches: list[list[int]] = []

    def restart_server_on_the_third_batch(uids: list[int]) -> None:
        batches.append(uids)
        if len(batches) == 3:  # committed, not yet moved: every connection drops now
            dovecot.restart()

    poller.on_accepted.append(restart_server_on_the_third_batch)
    stopping = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stopping,), daemon=True)
    with caplog.at_level(logging.WARNING, logger="gateway.imap"):
        thread.start()
        try:
            wait_for_count(dovecot, USER, "Processed", total, timeout=60)
        finally:
            stopping.set()
            thread.join(timeout=20)
    assert not thread.is_alive()
    gateway.ingest.process_pending()
    subjects = [t["subject"] for t in _tickets(gateway)]
    assert sorted(subjects) == [f"Pedido {n:03d}" for n in range(total)]  # each exactly once
    assert _inbox(gateway) == {"processed": total, "duplicate": 5}  # the batch whose move was cut off
    assert dovecot.count(USER, "INBOX") == 0
    line = next(r.getMessage() for r in caplog.records if "reconnecting" in r.getMessage())
    assert line.startswith(f"mailbox {ADDRESS}: IMAP atendimento@127.0.0.1:{dovecot.port} (INBOX): connection")


def test_two_mailboxes_one_with_a_wrong_password_the_other_keeps_working(
        dovecot: Dovecot, start_gateway: Callable[..., RunningGateway],
        imap_config: Callable[..., dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.imap"):
        running = start_gateway(mailbox=[
            mailbox(CNES, "CNES", **imap_config("cnes", password="expirou")),
            # Dovecot's auth penalty is per client address, not per account:
            # while cnes keeps failing, every login from 127.0.0.1 (the good
            # one's too) waits up to 15 s before it is answered.  A login
            # timeout under that (the fixture's 10 s) made the good mailbox
            # time out and retry into the same penalty for over 60 s in CI.
            mailbox(ADDRESS, "ATD", **imap_config("atendimento", timeout=40)),
        ])
        dovecot.append("cnes", make_mail(subject="Para o CNES", to=CNES))
        dovecot.append(USER, make_mail(subject="Para o atendimento"))
        running.wait_processed(1, timeout=60)
        wait_until(lambda: "login refused" in caplog.text, timeout=15, what="the login failure to be logged")
    assert [t["subject"] for t in running.tickets()] == ["Para o atendimento"]
    assert dovecot.count("cnes", "INBOX") == 1  # untouched, waiting for the fix
    line = next(r.getMessage() for r in caplog.records if "login refused" in r.getMessage())
    assert f"mailbox {CNES}" in line and "Authentication failed" in line  # Dovecot's own words
    assert "mailbox[0].imap.user" in line
    failing = next(p for p in running.gateway.pollers if p.mailbox == CNES)
    assert "login refused" in failing.last_error


def test_an_expired_oauth2_token_stops_only_its_mailbox_and_says_which_key(
        dovecot: Dovecot, start_gateway: Callable[..., RunningGateway],
        imap_config: Callable[..., dict[str, Any]], caplog: pytest.LogCaptureFixture, tmp_path) -> None:
    """PITFALLS H (osTicket#6455, zammad#3294): a Microsoft 365 mailbox whose
    token refresh fails must neither stop silently nor stop the others.  The
    token command exits 1: one error naming the key and the command's own
    words, the mailbox's mail left on the server, the other mailbox served."""
    token = tmp_path / "cnes-token"
    token.write_text("#!/bin/sh\necho 'AADSTS700082: The refresh token has expired' >&2\nexit 1\n")
    token.chmod(0o700)
    cnes = {key: value for key, value in imap_config("cnes").items() if key != "password_file"}
    with caplog.at_level(logging.WARNING, logger="gateway.imap"):
        running = start_gateway(mailbox=[
            mailbox(CNES, "CNES", **cnes, oauth2_token_command=str(token)),
            mailbox(ADDRESS, "ATD", **imap_config("atendimento")),
        ], admin={"max_imap_silence": 1.0})
        dovecot.append("cnes", make_mail(subject="Para o CNES", to=CNES))
        dovecot.append(USER, make_mail(subject="Para o atendimento"))
        running.wait_processed(1, timeout=60)
        wait_until(lambda: "oauth2_token_command" in caplog.text, timeout=15, what="the token failure to be logged")
    assert [t["subject"] for t in running.tickets()] == ["Para o atendimento"]
    assert dovecot.count("cnes", "INBOX") == 1  # untouched, waiting for a new token
    line = next(r for r in caplog.records if "oauth2_token_command" in r.getMessage())
    assert line.levelno == logging.ERROR and f"mailbox {CNES}" in line.getMessage()
    assert "mailbox[0].imap.oauth2_token_command exited 1" in line.getMessage()
    assert "AADSTS700082: The refresh token has expired" in line.getMessage()
    failing = next(p for p in running.gateway.pollers if p.mailbox == CNES)
    assert "oauth2_token_command" in failing.last_error and failing.last_success is None
    # Not silent to the operator either: the admin /healthz fails, naming it.
    import httpx

    def unhealthy() -> Any:
        answer = httpx.get(f"http://127.0.0.1:{running.gateway.admin_port}/healthz", timeout=30)
        return answer if answer.status_code == 503 else None

    checks = wait_until(unhealthy, timeout=20, what="/healthz to fail").json()["checks"]
    assert checks[f"imap {CNES}"]["ok"] is False and "oauth2_token_command" in checks[f"imap {CNES}"]["last_error"]
    assert checks[f"imap {ADDRESS}"]["ok"] is True


def test_bad_and_oversized_mail_go_to_quarantine_and_the_folder_flows_on(
        dovecot: Dovecot, imap_gateway: Callable[..., RunningGateway]) -> None:
    dovecot.append(USER,
                   make_mail(subject="Antes"),
                   b"isto nao e um e-mail, so texto sem cabecalho\r\n",
                   make_mail(subject="Anexo enorme", attachments=[("laudo.pdf", "application/pdf", b"%PDF" * 10_000)]),
                   make_mail(subject="Depois"))
    running = imap_gateway(max_message_size=20_000)
    running.wait_processed(4, timeout=20)
    assert sorted(t["subject"] for t in running.tickets()) == ["Antes", "Depois"]
    reasons = dict(running.quarantined())
    assert "does not start with a header line" in reasons["parse"]
    assert "over mailbox[0].imap.max_message_size (20000 bytes)" in reasons["imap"]
    assert "Quarantine" in reasons["imap"]
    wait_for_count(dovecot, USER, "Quarantine", 2)
    assert (dovecot.count(USER, "Processed"), dovecot.count(USER, "INBOX")) == (2, 0)


def test_flag_mode_marks_seen_and_keyword_and_takes_each_mail_once(
        dovecot: Dovecot, offline: Callable[..., Gateway]) -> None:
    dovecot.append(USER, make_mail(subject="Fica na caixa"))
    with dovecot.client(USER, "INBOX") as client:  # a person already read it: it must still be taken
        client.add_flags(client.search("ALL"), [b"\\Seen"])
    gateway = offline(after="flag")
    [poller] = gateway.imap_pollers()
    assert poller.drain_once().accepted == 1
    gateway.ingest.process_pending()
    assert [t["subject"] for t in _tickets(gateway)] == ["Fica na caixa"]
    [flags] = dovecot.flags(USER, "INBOX")
    assert b"\\Seen" in flags and b"$GatewayProcessed" in flags
    assert dovecot.count(USER, "Processed") == 0
    assert poller.drain_once().accepted == 0
    dovecot.append(USER, make_mail(subject="Outra"))
    assert poller.drain_once().accepted == 1
    assert _inbox(gateway) == {"processed": 1, "accepted": 1}


def test_idle_is_renewed_after_idle_timeout_and_still_wakes(
        dovecot: Dovecot, imap_gateway: Callable[..., RunningGateway], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.imap"):
        running = imap_gateway(idle=True, idle_timeout=1, poll_interval=300)
        [poller] = running.gateway.pollers
        wait_until(poller.idling.is_set, timeout=15, what="the poller to enter IDLE")
        time.sleep(3.5)  # three IDLE rounds, each ended by DONE, a full look, and a new IDLE
        wait_until(poller.idling.is_set, timeout=5, what="the poller to be back in IDLE")
        dovecot.append(USER, make_mail(subject="Depois de renovar o IDLE"))
        running.wait_processed(1, timeout=10)
    assert caplog.records == [], caplog.text  # no reconnection was needed


def test_a_missing_folder_is_named_with_the_key_to_fix(dovecot: Dovecot, offline: Callable[..., Gateway]) -> None:
    [poller] = offline(folder="Entradas").imap_pollers()
    with pytest.raises(Exception) as error:
        poller.drain_once()
    line = poller.describe(error.value)
    assert line.startswith(f"mailbox {ADDRESS}: IMAP atendimento@127.0.0.1:{dovecot.port} (Entradas): ")
    assert "cannot open folder 'Entradas' (check mailbox[0].imap.folder)" in line
    assert "Mailbox doesn't exist" in line  # Dovecot's words



def test_a_mail_the_server_will_not_move_does_not_stop_the_folder(
        dovecot: Dovecot, imap_gateway: Callable[..., RunningGateway], caplog: pytest.LogCaptureFixture) -> None:
    """The processed folder cannot be made (Dovecot: "Begins with '~'"), as
    with a quota or a missing right.  The mails are stored: an error names
    them and the key, and the drain goes on.  Before, the refusal ended the
    drain at the first mail and every reconnect met it again, once a second:
    nothing after it in the folder was ever taken."""
    with caplog.at_level(logging.WARNING, logger="gateway.imap"):
        running = imap_gateway(processed_folder="~Processados")
        dovecot.append(USER, make_mail(subject="Primeira"))
        running.wait_processed(1, timeout=20)
        dovecot.append(USER, make_mail(subject="Segunda"))
        running.wait_processed(2, timeout=20)
        # The refusal is logged after the commit, while the mail is processed.
        wait_until(lambda: sum("refused to move" in r.getMessage() for r in caplog.records) >= 2, timeout=15,
                   what="both refusals to be logged")
    assert sorted(t["subject"] for t in running.tickets()) == ["Primeira", "Segunda"]
    refused = [r.getMessage() for r in caplog.records if "refused to move" in r.getMessage()]
    assert len(refused) == 2 and "check mailbox[0].imap.processed_folder" in refused[0]
    assert "Invalid mailbox name" in refused[0]  # Dovecot's words
    assert not [r for r in caplog.records if "reconnecting" in r.getMessage()], caplog.text
    assert dovecot.count(USER, "INBOX") == 2  # left where they were, stored once




def test_a_stored_mail_whose_move_is_refused_is_not_fetched_again_only_moved_again(
        dovecot: Dovecot, offline: Callable[..., Gateway], caplog: pytest.LogCaptureFixture) -> None:
    """Each full look re-found the mail left in the folder and stored it once
    more for de-duplication to drop; now only its move is tried again."""
    dovecot.append(USER, make_mail(subject="Fica na caixa"))
    gateway = offline(processed_folder="~Processados")
    [poller] = gateway.imap_pollers()
    with caplog.at_level(logging.ERROR, logger="gateway.imap"):
        assert poller.drain_once().accepted == 1
        assert poller.drain_once().accepted == 0  # a full look
    assert _inbox(gateway) == {"accepted": 1}  # stored once
    assert sum("refused to move" in r.getMessage() for r in caplog.records) == 2  # tried again, said again
    assert dovecot.count(USER, "INBOX") == 1
    from dataclasses import replace

    poller.config = replace(poller.config, processed_folder="Processados")  # the operator fixes it
    assert poller.drain_once().accepted == 0
    assert (dovecot.count(USER, "INBOX"), dovecot.count(USER, "Processados")) == (0, 1)
    assert _inbox(gateway) == {"accepted": 1}

def test_a_mail_held_whose_move_is_refused_is_held_once_however_often_it_is_tried(
        dovecot: Dovecot, offline: Callable[..., Gateway]) -> None:
    """Too big, so held; the quarantine folder cannot be made, so the mail
    stays and every full look meets it again: one placeholder, not one a look."""
    dovecot.append(USER, make_mail(subject="Anexo enorme", attachments=[("laudo.pdf", "application/pdf",
                                                                          b"%PDF" * 10_000)]))
    gateway = offline(max_message_size=20_000, quarantine_folder="~Quarentena")
    [poller] = gateway.imap_pollers()
    for _ in range(3):
        poller.drain_once()
    with gateway.db.transaction() as tx:
        from gateway.store import inbox

        held = inbox.quarantined(tx)
    assert len(held) == 1 and "max_message_size" in held[0][0].reason
    assert dovecot.count(USER, "INBOX") == 1


def test_a_drain_stops_between_batches_once_the_hold_is_gone(
        dovecot: Dovecot, offline: Callable[..., Gateway], monkeypatch: pytest.MonkeyPatch) -> None:
    """The hold's database connection can end during a long drain (another
    node then takes the folder over): the drain stops at the next batch,
    not at the end of the backlog."""
    from contextlib import contextmanager

    from gateway.errors import ImapSetupError

    dovecot.append(USER, make_mail(subject="Primeira"), make_mail(subject="Segunda"))
    [poller] = offline(batch_size=1).imap_pollers()
    asked: list[bool] = []

    class Fading:
        mine = True

        def still(self) -> bool:  # asked before each batch after the first: gone by then
            asked.append(True)
            return False

    @contextmanager
    def exclusive(mailbox: str, folder: str) -> Iterator[Fading]:
        yield Fading()

    monkeypatch.setattr(poller._state, "exclusive", exclusive)
    with pytest.raises(ImapSetupError, match="lost the hold"):
        poller.drain_once()
    assert asked == [True]
    assert dovecot.count(USER, "INBOX") == 1 and dovecot.count(USER, "Processed") == 1

def test_a_session_that_fails_after_login_backs_off_like_a_refused_login(
        dovecot: Dovecot, imap_gateway: Callable[..., RunningGateway], caplog: pytest.LogCaptureFixture) -> None:
    """A folder that cannot be opened fails every session after a good
    login.  The wait between sessions doubles up to reconnect_max; it was
    reset to 1 s at each login, a login a second for as long as it lasted."""
    with caplog.at_level(logging.WARNING, logger="gateway.imap"):
        imap_gateway(folder="Entradas", reconnect_max=8)
        wait_until(lambda: sum("reconnecting in" in r.getMessage() for r in caplog.records) >= 4, timeout=30,
                   what="four failed sessions")
    waits = [r.getMessage().rsplit("reconnecting in ", 1)[1] for r in caplog.records
             if "reconnecting in" in r.getMessage()]
    assert waits[:4] == ["1 s", "2 s", "4 s", "8 s"], waits


def test_the_session_has_tcp_keepalives(dovecot: Dovecot, offline: Callable[..., Gateway]) -> None:
    """A NAT that drops an idle flow without a word left IDLE deaf until
    idle_timeout; keepalive probes keep the flow, or end a dead one."""
    import socket

    [poller] = offline().imap_pollers()
    with poller._session() as client:
        sock = client.socket()
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 60

def test_old_mail_in_the_folder_is_left_there_named_and_never_acknowledged(
        dovecot: Dovecot, offline: Callable[..., Gateway], caplog: pytest.LogCaptureFixture) -> None:
    """PITFALLS E (zammad#243): pointing the poller at a desk's old shared
    mailbox must not turn its history into new tickets with an
    acknowledgement each.  Mail that reached the folder more than
    max_age_days ago stays on the server, untouched, and an error says how
    many and what to do; today's mail is taken as always."""
    from datetime import datetime, timezone

    with dovecot.client(USER) as client:
        for year in (2019, 2021, 2024):
            client.append("INBOX", make_mail(subject=f"Pedido antigo de {year}"),
                          msg_time=datetime(year, 3, 4, 10, 0, tzinfo=timezone.utc))
    dovecot.append(USER, make_mail(subject="Pedido de hoje"))
    gateway = offline()
    [poller] = gateway.imap_pollers()
    with caplog.at_level(logging.ERROR, logger="gateway.imap"):
        result = poller.drain_once()
    gateway.ingest.process_pending()
    assert result.accepted == 1 and [t["subject"] for t in _tickets(gateway)] == ["Pedido de hoje"]
    assert dovecot.count(USER, "INBOX") == 3 and dovecot.count(USER, "Processed") == 1
    assert dovecot.flags(USER, "INBOX") == [(), (), ()], "left as they were: not even seen"
    [line] = [r.getMessage() for r in caplog.records if "max_age_days" in r.getMessage()]
    assert "3 mail(s) in INBOX" in line and "mailbox[0].imap.max_age_days = 7" in line
    assert "gateway migrate" in line and poller.left_for_age == 3
    with gateway.db.reading() as tx:
        from gateway.store.models import OutboxRow

        assert tx.query(OutboxRow).filter(OutboxRow.kind == "ack").count() == 1

    # A mail that reaches the folder later is new, whatever its arrival date
    # (one rescued from Junk keeps the date it first arrived with).
    with dovecot.client(USER) as client:
        client.append("INBOX", make_mail(subject="Resgatado do lixo eletrônico"),
                      msg_time=datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc))
    assert poller.drain_once().accepted == 1 and dovecot.count(USER, "INBOX") == 3
    gateway.ingest.process_pending()
    assert sorted(t["subject"] for t in _tickets(gateway)) == ["Pedido de hoje", "Resgatado do lixo eletrônico"]

    gateway.close()
    everything = offline(max_age_days=0)  # the operator's choice: take them as new requests
    [poller] = everything.imap_pollers()
    assert poller.drain_once().accepted == 3
    everything.ingest.process_pending()
    assert len(_tickets(everything)) == 5 and dovecot.count(USER, "INBOX") == 0


def test_a_second_gateway_on_the_same_folder_stands_by_and_takes_over(
        dovecot: Dovecot, start_gateway: Callable[..., RunningGateway],
        imap_config: Callable[..., dict[str, Any]]) -> None:
    """Two nodes whose roles both include "imap" (the default): one session
    on the folder, the other waits, healthy, and takes over when the first
    stops.  Two sessions moved the same mails: copies in Processed."""
    settings = {"mailbox": [mailbox(**imap_config(poll_interval=0.5, idle=False))]}
    first = start_gateway(**settings)
    second = start_gateway(**settings)
    [standing] = second.gateway.pollers
    wait_until(lambda: standing.standby, timeout=15, what="the second poller to stand by")
    import httpx

    health = httpx.get(f"http://127.0.0.1:{second.gateway.admin_port}/healthz", timeout=30).json()["checks"]
    assert health[f"imap {ADDRESS}"]["ok"] is True and health[f"imap {ADDRESS}"]["standby"] is True
    dovecot.append(USER, make_mail(subject="Primeiro"))
    first.wait_processed(1, timeout=20)
    first.stop()
    dovecot.append(USER, make_mail(subject="Depois da troca"))
    wait_until(lambda: not standing.standby and dovecot.count(USER, "INBOX") == 0, timeout=20,
               what="the second poller to take over")
    second.wait_processed(2, timeout=20)
    assert sorted(t["subject"] for t in second.tickets()) == ["Depois da troca", "Primeiro"]
    assert dovecot.count(USER, "Processed") == 2


def test_without_keywords_flag_mode_leaves_the_old_backlog_but_takes_what_comes_later(
        dovecot: Dovecot, offline: Callable[..., Gateway], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A server that keeps no keywords: flag mode looks only above its
    position.  The old backlog is named and left on first sight, and an old
    mail arriving later (a new UID) is taken, not skipped silently."""
    from datetime import datetime, timezone

    from gateway.transports import imap

    monkeypatch.setattr(imap, "_keeps_keyword", lambda selected, keyword: False)
    with dovecot.client(USER) as client:
        client.append("INBOX", make_mail(subject="Antigo"), msg_time=datetime(2020, 5, 1, tzinfo=timezone.utc))
    dovecot.append(USER, make_mail(subject="Novo"))
    gateway = offline(after="flag")
    [poller] = gateway.imap_pollers()
    with caplog.at_level(logging.ERROR, logger="gateway.imap"):
        assert poller.drain_once().accepted == 1
    assert "1 mail(s) in INBOX" in caplog.text
    with dovecot.client(USER) as client:
        client.append("INBOX", make_mail(subject="Movido depois"), msg_time=datetime(2021, 5, 1, tzinfo=timezone.utc))
    assert poller.drain_once().accepted == 1
    gateway.ingest.process_pending()
    assert sorted(t["subject"] for t in _tickets(gateway)) == ["Movido depois", "Novo"]



def test_a_first_pass_cut_short_leaves_the_old_backlog_old_after_a_restart(
        dovecot: Dovecot, offline: Callable[..., Gateway]) -> None:
    """PITFALLS E again, across a restart: the first pass over a folder with
    old mail saved its position every ten batches, and a process that died
    after one such save left the next one a position above which every UID
    was new, the years-old mail of the backlog included, acknowledged to
    each citizen.  The first pass now saves no position until it is done."""
    from datetime import datetime, timezone

    with dovecot.client(USER) as client:
        for n in range(11):
            client.append("INBOX", make_mail(subject=f"Recente {n}"))
        for year in (2019, 2021):
            client.append("INBOX", make_mail(subject=f"Antigo de {year}"),
                          msg_time=datetime(year, 3, 4, 10, 0, tzinfo=timezone.utc))
        client.append("INBOX", make_mail(subject="Recente depois dos antigos"))
    first = offline(batch_size=1)
    [poller] = first.imap_pollers()

    def crash(uids: list[int]) -> None:
        if 11 in uids:  # ten batches taken (a position save was due after the tenth), then the process dies
            raise SimulatedCrash(f"killed after committing {uids}, before moving them")

    poller.on_accepted.append(crash)
    with pytest.raises(SimulatedCrash):
        poller.drain_once()
    assert dovecot.count(USER, "Processed") == 10
    first.close()

    restarted = offline(batch_size=1)  # same database, a new process
    [poller] = restarted.imap_pollers()
    poller.drain_once()
    restarted.ingest.process_pending()
    subjects = sorted(t["subject"] for t in _tickets(restarted))
    assert subjects == sorted([f"Recente {n}" for n in range(11)] + ["Recente depois dos antigos"])
    assert dovecot.count(USER, "INBOX") == 2 and poller.left_for_age == 2, "the old mail left where it was"


def test_a_first_pass_keeps_its_progress_once_past_the_old_mail(
        dovecot: Dovecot, offline: Callable[..., Gateway]) -> None:
    """The other side of the rule above: once the first pass has passed the
    last old mail, a position is safe again and saved as usual, so a pass
    cut short (in flag mode without keywords everything taken is fetched
    again) does not start over from the first mail."""
    from datetime import datetime, timezone

    with dovecot.client(USER) as client:
        for year in (2019, 2021):
            client.append("INBOX", make_mail(subject=f"Antigo de {year}"),
                          msg_time=datetime(year, 3, 4, 10, 0, tzinfo=timezone.utc))
        for n in range(12):
            client.append("INBOX", make_mail(subject=f"Recente {n}"))
    first = offline(batch_size=1)
    [poller] = first.imap_pollers()

    def crash(uids: list[int]) -> None:
        if 13 in uids:
            raise SimulatedCrash(f"killed after committing {uids}, before moving them")

    poller.on_accepted.append(crash)
    with pytest.raises(SimulatedCrash):
        poller.drain_once()
    saved = first.imap_pollers()[0]._state.load(poller.mailbox, "INBOX")
    assert saved is not None and saved[2] == 12, "saved after the tenth batch (UID 12), past the old UIDs 1 and 2"
    first.close()

    restarted = offline(batch_size=1)
    [poller] = restarted.imap_pollers()
    assert poller.drain_once().accepted == 2, "UID 13 again (a duplicate) and UID 14: not the eleven before"
    restarted.ingest.process_pending()
    assert sorted(t["subject"] for t in _tickets(restarted)) == sorted(f"Recente {n}" for n in range(12))
    assert dovecot.count(USER, "INBOX") == 2
