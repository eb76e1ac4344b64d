"""Postfix in front, by LMTP (the recommended path), with the gateway's own
mail leaving through the same Postfix."""

from __future__ import annotations

import smtplib

import pytest

from tests.helpers.mailfactory import make_mail
from tests.helpers.postfix import Postfix
from tests.helpers.process import GatewayProcess, query
from tests.helpers.servers import CaptureRelay, free_port, wait_until
from tests.integration.postfix.support import ATENDIMENTO, CITIZEN, gateway_config, tickets

pytestmark = pytest.mark.slow


def _submit(postfix: Postfix, mail: bytes, *recipients: str) -> None:
    """A citizen's mail client hands a mail to Postfix, as to any MX."""
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as client:
        refused = client.sendmail(CITIZEN, list(recipients), mail)
    assert refused == {}


def _acks_to_citizen(relay: CaptureRelay) -> list[bytes]:
    return [raw for _, rcpt_tos, raw in relay.messages if CITIZEN in rcpt_tos]


def test_a_mail_to_postfix_becomes_a_ticket_and_the_ack_leaves_through_postfix(postfix, relay, tmp_path):
    lmtp_port = free_port()
    config = gateway_config(tmp_path, postfix=postfix, lmtp_port=lmtp_port)
    files = postfix.configure(config)
    assert f"lmtp:inet:127.0.0.1:{lmtp_port}" in files["transport"]
    postfix.start()
    gateway = GatewayProcess(config, tmp_path / "gateway.log").start()
    try:
        _submit(postfix, make_mail(sender=f"Ana Souza <{CITIZEN}>"), ATENDIMENTO)
        postfix.wait_log(rf"to=<{ATENDIMENTO}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{lmtp_port},.* status=sent")
        wait_until(lambda: _acks_to_citizen(relay), timeout=30, what="the acknowledgement at the capture server")
    finally:
        gateway.terminate()
    [ticket] = tickets(config)
    assert ticket["mailbox"] == ATENDIMENTO
    [ack] = [m for m in relay.parsed() if CITIZEN in str(m["To"])]
    assert ticket["protocol"] in ack["Subject"]
    assert "by mta.example.org (Postfix)" in str(ack["Received"]), "the ack must have passed through Postfix"
    postfix.wait_log(rf"to=<{CITIZEN}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{relay.port},.* status=sent")
    assert query(tmp_path / "gateway.db", "select via, peer like '127.0.0.1%' from inbox") == [("lmtp", 1)]


def test_postfix_defers_while_the_gateway_is_down_and_delivers_once_when_it_is_back(postfix, relay, tmp_path):
    lmtp_port = free_port()
    config = gateway_config(tmp_path, postfix=postfix, lmtp_port=lmtp_port)
    postfix.configure(config)
    postfix.start()
    _submit(postfix, make_mail(sender=f"Ana Souza <{CITIZEN}>"), ATENDIMENTO)
    postfix.wait_log(rf"to=<{ATENDIMENTO}>, relay=none,.* status=deferred \(connect to "
                     rf"127\.0\.0\.1\[127\.0\.0\.1\]:{lmtp_port}: Connection refused\)")
    [queued] = wait_until(lambda: [m for m in postfix.queue() if m["queue_name"] == "deferred"], timeout=20,
                          what="the mail in Postfix's deferred queue")
    assert [r["address"] for r in queued["recipients"]] == [ATENDIMENTO]

    gateway = GatewayProcess(config, tmp_path / "gateway.log").start()
    try:
        postfix.flush()
        postfix.wait_log(rf"to=<{ATENDIMENTO}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{lmtp_port},.* status=sent")
        wait_until(lambda: _acks_to_citizen(relay), timeout=30, what="the acknowledgement at the capture server")
        wait_until(lambda: not postfix.queue(), timeout=20, what="Postfix's queue to empty")
    finally:
        gateway.terminate()
    assert len(tickets(config)) == 1
    assert query(tmp_path / "gateway.db", "select count(*) from inbox") == [(1,)], "delivered once"
    assert len(_acks_to_citizen(relay)) == 1
