"""Outbound through a real SMTP relay (an aiosmtpd capture server): down,
then up; permanent refusals recorded on the ticket."""

from __future__ import annotations

import smtplib
import time

import pytest

from tests.helpers.mailfactory import make_mail
from tests.helpers.servers import CaptureRelay, free_port, wait_until


def _relay_settings(port: int) -> dict[str, object]:
    return {"mode": "smtp", "host": "127.0.0.1", "port": port, "retry_initial": 1, "retry_max": 2,
            "poll_interval": 0.1, "timeout": 5}


def _outbox_rows(gateway):
    from sqlalchemy import select

    from gateway.store.models import OutboxRow

    with gateway.gateway.db.transaction() as tx:
        return [(r.kind, r.status, r.attempts, r.last_error) for r in tx.scalars(select(OutboxRow).order_by(OutboxRow.id))]


def test_relay_down_then_up_delivers_the_acknowledgement_once(start_gateway, caplog):
    import logging

    port = free_port()
    with caplog.at_level(logging.ERROR, logger="gateway.sender"):
        gateway = start_gateway(outbound=_relay_settings(port))
        with smtplib.SMTP("127.0.0.1", gateway.port) as client:
            client.sendmail("ana.souza@example.org", [gateway.address], make_mail())
        gateway.wait_processed(1)
        wait_until(lambda: caplog.text.count("RelayUnavailable") >= 2, what="passes against the closed port")
    # The relay's failure, not the mails': none is charged an attempt or
    # given an error (one attempt each had failed a whole queue for good).
    wait_until(lambda: {(r[1], r[2], r[3]) for r in _outbox_rows(gateway)} == {("queued", 0, None)},
               what="both rows queued, uncharged, between passes")

    relay = CaptureRelay(port).start()
    try:
        wait_until(lambda: len(relay.messages) >= 2, timeout=20, what="ack and team notice at the relay")
        time.sleep(2.5)  # longer than retry_max: a second copy would have arrived by now
        kinds = sorted(m["Subject"].split("]")[1].strip().split(":")[0] for m in relay.parsed())
        assert kinds == ["Novo chamado", "Solicitação recebida"]
        assert [rcpts for _, rcpts, _ in relay.messages].count(["ana.souza@example.org"]) == 1
        assert {r[1] for r in _outbox_rows(gateway)} == {"sent"}
    finally:
        relay.stop()


REFUSED_GREETING = (b"554 5.3.2 relay.example.gov.br not accepting mail from you\r\n",)
# Greets, then refuses EHLO and HELO (the session is opened, and refused, before any mail).
REFUSED_HELLO = (b"220 relay.example.gov.br ESMTP\r\n", b"554 5.3.2 not accepting mail from you\r\n",
                 b"554 5.3.2 not accepting mail from you\r\n")


@pytest.mark.parametrize("conversation", [REFUSED_GREETING, REFUSED_HELLO], ids=["greeting", "ehlo-and-helo"])
def test_a_relay_that_refuses_every_session_fails_no_mail(start_gateway, caplog, conversation):
    """A 554 greeting, a 554 to EHLO and HELO (or a 535 after a password
    change) is the relay's answer to us, not to one mail: before, each
    queued mail got it as its own permanent refusal and failed for good."""
    import logging
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", free_port()))
    listener.settimeout(0.5)
    closing = threading.Event()

    def greet_and_refuse() -> None:
        while not closing.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(5)
                for index, line in enumerate(conversation):
                    if index:  # each reply after the greeting answers a command
                        try:
                            connection.recv(1024)
                        except OSError:
                            break
                    connection.sendall(line)

    thread = threading.Thread(target=greet_and_refuse, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.ERROR, logger="gateway"):
            gateway = start_gateway(outbound=_relay_settings(listener.getsockname()[1]))
            with smtplib.SMTP("127.0.0.1", gateway.port) as client:
                client.sendmail("ana.souza@example.org", [gateway.address], make_mail())
            gateway.wait_processed(1)
            wait_until(lambda: caplog.text.count("554 5.3.2") >= 2, timeout=20,
                       what="the relay's refusal to be logged twice")
        wait_until(lambda: len(rows := _outbox_rows(gateway)) == 2 and {(r[1], r[2]) for r in rows} == {("queued", 0)},
                   what="both rows queued, uncharged, between passes")
        [ticket] = gateway.tickets()
        assert not [e for e in gateway.ticket(ticket["protocol"])["events"] if e["kind"] == "delivery_failed"]
    finally:
        closing.set()
        thread.join(timeout=10)
        listener.close()


def test_a_permanent_refusal_is_not_retried_and_is_recorded_on_the_ticket(start_gateway, relay):
    relay.answer = "550 5.1.1 <ana.souza@example.org>: user unknown"
    gateway = start_gateway(outbound=_relay_settings(relay.port))

    with smtplib.SMTP("127.0.0.1", gateway.port) as client:
        client.sendmail("ana.souza@example.org", [gateway.address], make_mail())
    gateway.wait_processed(1)
    rows = wait_until(lambda: [r for r in _outbox_rows(gateway) if r[1] == "failed"] or None,
                      what="the outbox row marked failed")
    assert all(r[2] == 1 for r in rows), "a 5xx answer is not retried"
    [ticket] = gateway.tickets()
    events = gateway.ticket(ticket["protocol"])["events"]
    failures = [e for e in events if e["kind"] == "delivery_failed"]
    assert failures and "550" in failures[0]["note"]


def test_a_temporary_refusal_is_retried_until_accepted(start_gateway, relay):
    relay.answer = "451 4.3.0 try later"
    gateway = start_gateway(outbound=_relay_settings(relay.port))

    with smtplib.SMTP("127.0.0.1", gateway.port) as client:
        client.sendmail("ana.souza@example.org", [gateway.address], make_mail())
    gateway.wait_processed(1)
    wait_until(lambda: any(r[2] >= 1 and "451" in (r[3] or "") for r in _outbox_rows(gateway)),
               what="a 451 recorded as a retryable failure")
    relay.answer = None
    wait_until(lambda: {r[1] for r in _outbox_rows(gateway)} == {"sent"}, timeout=20, what="all mails sent")
    assert len(relay.messages) == 2


def test_a_relay_slower_than_timeout_to_answer_the_final_dot_gets_each_mail_once(start_gateway):
    """RFC 5321 gives the final dot 10 minutes; a content-scanning relay may
    take longer than our 5 s ``timeout`` here.  Given up on, each mail was
    sent again at each retry, and the relay delivered every copy."""
    relay = CaptureRelay(delay=6.5).start()
    try:
        gateway = start_gateway(outbound=_relay_settings(relay.port))
        with smtplib.SMTP("127.0.0.1", gateway.port) as client:
            client.sendmail("ana.souza@example.org", [gateway.address], make_mail())
        gateway.wait_processed(1)
        wait_until(lambda: {r[1] for r in _outbox_rows(gateway)} == {"sent"}, timeout=60, what="both mails sent")
        assert len(relay.messages) == 2 and all(r[2] == 1 for r in _outbox_rows(gateway))
    finally:
        relay.stop()

