"""Issue 20.1: a sender killed mid-batch (``kill -9``) leaves no row
``sending`` for the length of a lease: its restart takes back the rows of
the dead process at once, and of the mails it was delivering at most the
one in flight reaches the relay twice."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest

from tests.faults.support import Role, Store, message_ids, relay_config, wait_for
from tests.helpers.mailfactory import make_mail
from tests.helpers.process import GatewayProcess, smtp_port
from tests.helpers.servers import CaptureRelay

MAILS = 12  # an acknowledgement and a team notice each: 24 rows, a batch


@pytest.mark.slow
def test_a_sender_killed_mid_batch_resends_at_most_the_mail_in_flight(
        tmp_path: Path, store: Store, processes: list[GatewayProcess]) -> None:
    relay = CaptureRelay(delay=0.25).start()  # slow: the kill lands inside the batch
    try:
        config = relay_config(tmp_path, relay, storage_url=store.url)
        desk = Role(config, tmp_path / "desk.log", only="smtp,process")
        processes.append(desk.start())
        with smtplib.SMTP("127.0.0.1", smtp_port(config), timeout=30) as client:
            for i in range(MAILS):
                client.sendmail(f"cidadao{i}@example.org", ["atendimento@example.gov.br"],
                                make_mail(sender=f"Cidadão {i} <cidadao{i}@example.org>", subject=f"Pedido {i}"))
        wait_for(lambda: store.one("select count(*) from outbox") == 2 * MAILS, timeout=30,
                 what="an acknowledgement and a team notice queued for each mail")

        sender = Role(config, tmp_path / "sender.log", only="send")
        processes.append(sender.start())
        wait_for(lambda: len(relay.messages) >= 4, timeout=30, what="the sender to deliver a few mails")
        sender.kill()
        stuck = store.one("select count(*) from outbox where status = 'sending'")
        assert stuck > 0, "the kill must land while a batch is claimed, or the test proves nothing"

        again = Role(config, tmp_path / "sender2.log", only="send")
        processes.append(again.start())
        # Well within the one-minute lease: the restart takes the dead process's rows back at once.
        wait_for(lambda: store.statuses("outbox") == {"sent": 2 * MAILS}, timeout=25,
                 what=lambda: f"every row sent after the restart (left: {store.statuses('outbox')}); see {tmp_path}")
        assert again.terminate() == 0
        assert desk.terminate() == 0
    finally:
        relay.stop()

    queued = {m for (m,) in store.rows("select message_id from outbox")}
    seen = message_ids(relay)
    assert set(seen) == {m.strip("<>") for m in queued}, "every mail reached the relay"
    repeated = {m: n for m, n in seen.items() if n > 1}
    assert sum(n - 1 for n in repeated.values()) <= 1, f"only the mail in flight may go twice: {repeated}"
