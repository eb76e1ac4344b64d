"""Kill the gateway at random moments while mail streams in: every mail that
got ``250`` ends processed exactly once, and a client that got no ``250``
retries (as an MTA does) without creating a second ticket."""

from __future__ import annotations

import random
import smtplib
import threading
import time

import pytest

from tests.helpers.mailfactory import make_mail
from tests.helpers.process import GatewayProcess, query, smtp_port, write_config
from tests.helpers.servers import wait_until

MAILS = 80
KILLS = 4


@pytest.mark.slow
def test_kill_minus_nine_at_any_moment_loses_nothing_and_duplicates_nothing(tmp_path):
    config = write_config(tmp_path)
    port = smtp_port(config)
    gateway = GatewayProcess(config, tmp_path / "gateway.log").start()
    mails = {i: make_mail(sender=f"Cidadão {i} <cidadao{i}@example.org>", subject=f"Pedido {i}")
             for i in range(MAILS)}
    acknowledged: set[int] = set()
    sending_done = threading.Event()
    kills: list[float] = []

    def killer() -> None:
        # Kill after given numbers of accepted mails (plus a random few ms),
        # not after given seconds: a faster gateway must still be killed
        # while mail flows, KILLS times.
        rng = random.Random(20261123)
        for threshold in sorted(rng.sample(range(5, MAILS - 25), KILLS)):
            while len(acknowledged) < threshold:
                if sending_done.wait(0.01):
                    return
            time.sleep(rng.uniform(0.0, 0.02))
            gateway.kill()
            kills.append(time.monotonic())
            gateway.start()

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    deadline = time.monotonic() + 180
    for i, raw in mails.items():
        while True:  # an MTA keeps the mail and retries until it gets 250
            assert time.monotonic() < deadline, f"mail {i} never accepted; see {tmp_path / 'gateway.log'}"
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                    client.sendmail(f"cidadao{i}@example.org", ["atendimento@example.gov.br"], raw)
                acknowledged.add(i)
                break
            except (OSError, smtplib.SMTPException):
                time.sleep(0.05)
    sending_done.set()
    thread.join(timeout=60)
    assert len(kills) == KILLS, "the test must actually kill the gateway while mail flows"

    db = tmp_path / "gateway.db"
    wait_until(lambda: query(db, "select count(*) from inbox where status = 'accepted'") == [(0,)]
               and query(db, "select count(*) from outbox where status = 'queued'") == [(0,)],
               timeout=60, what="the backlog processed and sent after the last restart")
    assert gateway.terminate() == 0, "SIGTERM stops the gateway cleanly"

    assert acknowledged == set(mails)
    per_requester = dict(query(db, "select requester, count(*) from ticket group by requester"))
    assert per_requester == {f"cidadao{i}@example.org": 1 for i in mails}, "one ticket per mail, none lost"
    acks = dict(query(db, "select first_rcpt, count(*) from outbox where kind = 'ack' group by first_rcpt"))
    assert acks == {f"cidadao{i}@example.org": 1 for i in mails}, "exactly one acknowledgement each"
    statuses = {s for (s,) in query(db, "select distinct status from inbox")}
    assert statuses <= {"processed", "duplicate"}, statuses
    sequences = sorted(int(p.split("-")[2]) for (p,) in query(db, "select protocol from ticket"))
    assert sequences == list(range(1, MAILS + 1)), "protocol numbers are unique and without gaps"
