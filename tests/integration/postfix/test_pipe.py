"""Postfix in front, by pipe(8) running `gateway ingest` from the generated
master.cf line, and what Postfix does with each sysexits code."""

from __future__ import annotations

import json
import re
import smtplib

import pytest

from tests.helpers.mailfactory import make_mail
from tests.helpers.postfix import PIPE_USER, Postfix, pipe_gateway
from tests.helpers.process import query
from tests.helpers.servers import wait_until
from tests.integration.postfix.support import ATENDIMENTO, CITIZEN, CNES, gateway_config, tickets

pytestmark = pytest.mark.slow


def _submit(postfix: Postfix, mail: bytes, *recipients: str) -> None:
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as client:
        assert client.sendmail(CITIZEN, list(recipients), mail) == {}


def _piped(postfix: Postfix) -> tuple:
    folder = postfix.shared_dir()
    config = gateway_config(folder, postfix=postfix)
    files = postfix.configure(config, "--pipe", "--gateway", pipe_gateway(PIPE_USER, folder), "--user", PIPE_USER)
    return folder, config, files


def test_postfix_pipes_mail_to_gateway_ingest_with_every_recipient(postfix):
    folder, config, files = _piped(postfix)
    assert f"user={PIPE_USER}" in files["master.cf.add"]
    assert f"--config {config} ingest --sender ${{sender}} -- ${{recipient}}" in files["master.cf.add"]
    assert f"{CNES}" in files["transport"] and "gateway:" in files["transport"]
    postfix.start()

    _submit(postfix, make_mail(sender=f"Ana Souza <{CITIZEN}>", to=f"{ATENDIMENTO}, {CNES}"), ATENDIMENTO, CNES)
    for address in (ATENDIMENTO, CNES):
        postfix.wait_log(rf"to=<{address}>, relay=gateway,.* status=sent \(delivered via gateway service")
    _submit(postfix, make_mail(sender=f"Ana Souza <{CITIZEN}>", to=CNES, subject="Outra dúvida"), CNES)
    wait_until(lambda: len(re.findall(rf"to=<{CNES}>, relay=gateway,.* status=sent", postfix.log())) == 2,
               timeout=20, what="the second mail to CNES piped")

    # The second found a database ready for the pipe's quick path: it was
    # stored, Postfix told "delivered", and a `gateway process` the pipe
    # started in the background (no worker runs here) processes it.
    wait_until(lambda: query(folder / "gateway.db", "select count(*) from inbox where status = 'accepted'") == [(0,)],
               timeout=30, what=lambda: "the background gateway process to process the second mail; its log: "
               + "".join(p.read_text(errors="replace") for p in folder.glob("process*")))
    rows = query(folder / "gateway.db", "select rcpt_tos, mail_from, via, status from inbox order by id")
    # One Postfix delivery, one `gateway ingest`, both recipients on it; one
    # mail to two of our addresses is one ticket (test_smtp_intake), the
    # second mail makes CNES's own.
    assert [(json.loads(r[0]), r[1], r[2], r[3]) for r in rows] == [
        ([ATENDIMENTO, CNES], CITIZEN, "pipe", "processed"), ([CNES], CITIZEN, "pipe", "processed")]
    assert sorted(t["mailbox"] for t in tickets(config)) == [ATENDIMENTO, CNES]


def test_a_broken_config_makes_postfix_defer_and_the_mail_arrives_once_fixed(postfix):
    folder, config, _ = _piped(postfix)
    good = config.read_text()
    config.write_text(good.replace("[smtp]\n", "[smtp]\nprot = 25\n"))
    postfix.start()
    _submit(postfix, make_mail(sender=f"Ana Souza <{CITIZEN}>"), ATENDIMENTO)
    # A broken config file answers 75: Postfix keeps the mail (it would bounce
    # on 78) and shows our reason in its log.
    postfix.wait_log(rf"to=<{ATENDIMENTO}>, relay=gateway,.* status=deferred \(.*smtp\.prot")
    assert [m["queue_name"] for m in postfix.queue()] == ["deferred"]

    config.write_text(good)
    postfix.flush()
    postfix.wait_log(rf"to=<{ATENDIMENTO}>, relay=gateway,.* status=sent")
    wait_until(lambda: not postfix.queue(), timeout=20, what="Postfix's queue to empty")
    assert [t["mailbox"] for t in tickets(config)] == [ATENDIMENTO]
