"""Issue 20.4: a relay that takes a team notice for one of its two
addresses and refuses the other.  The one that took it is delivered (and
never sent again); a 550 is recorded against the refused address alone,
and the ticket's event names only it; a 451 is retried for that address
alone."""

from __future__ import annotations

import smtplib
from collections import Counter
from pathlib import Path

from tests.faults.support import Role, Store, relay_config, wait_for
from tests.helpers.mailfactory import make_mail
from tests.helpers.process import GatewayProcess, smtp_port
from tests.helpers.servers import CaptureRelay

TEAM, GONE = "equipe@example.gov.br", "plantao@example.gov.br"


def _desk(tmp_path: Path, relay: CaptureRelay, processes: list[GatewayProcess]) -> tuple[Path, Store]:
    config = relay_config(tmp_path, relay)
    config.write_text(config.read_text(encoding="utf-8").replace(
        f'team = ["{TEAM}"]', f'team = ["{TEAM}", "{GONE}"]', 1), encoding="utf-8")
    processes.append(Role(config, tmp_path / "gateway.log").start())
    with smtplib.SMTP("127.0.0.1", smtp_port(config), timeout=30) as client:
        client.sendmail("ana@example.org", ["atendimento@example.gov.br"],
                        make_mail(sender="Ana Souza <ana@example.org>", subject="Erro no cadastro"))
    return config, Store("", tmp_path / "gateway.db")


def _received(relay: CaptureRelay) -> Counter[str]:
    """How many mails each address got at the relay."""
    return Counter(rcpt for _, rcpts, _ in list(relay.messages) for rcpt in rcpts)


def test_a_550_for_one_team_address_leaves_the_other_delivered_and_names_only_the_refused(
        tmp_path: Path, processes: list[GatewayProcess]) -> None:
    relay = CaptureRelay(refuse={GONE: "550 5.1.1 no such user"}).start()
    try:
        _, store = _desk(tmp_path, relay, processes)
        wait_for(lambda: store.rows("select status from outbox where kind != 'ack'") == [("sent",)]
                 and store.rows("select status from outbox where kind = 'ack'") == [("sent",)],
                 timeout=20, what=lambda: f"the notice settled (outbox: {store.statuses('outbox')})")
        assert processes[0].terminate() == 0
    finally:
        relay.stop()

    assert _received(relay) == Counter({TEAM: 1, "ana@example.org": 1}), "the team's other address got it, once"
    notes = [note for (note,) in store.rows("select note from event where kind = 'delivery_failed'")]
    assert len(notes) == 1, notes
    assert GONE in notes[0] and "550" in notes[0] and TEAM not in notes[0], notes[0]
    [(results,)] = store.rows("select rcpt_results from outbox where kind != 'ack'")
    assert '"sent"' in results and "550" in results


def test_a_451_for_one_team_address_is_retried_for_that_address_alone(
        tmp_path: Path, processes: list[GatewayProcess]) -> None:
    relay = CaptureRelay(refuse={GONE: "451 4.2.1 mailbox busy, try later"}).start()
    try:
        _, store = _desk(tmp_path, relay, processes)
        wait_for(lambda: store.rows("select status, attempts from outbox where kind != 'ack'") == [("queued", 1)]
                 and _received(relay)[TEAM] == 1, timeout=20, what="a first attempt: delivered to one, deferred")
        relay.refuse.clear()  # the busy mailbox takes mail again
        wait_for(lambda: store.rows("select status from outbox where kind != 'ack'") == [("sent",)],
                 timeout=20, what=lambda: f"the retry (outbox: {store.statuses('outbox')})")
        assert processes[0].terminate() == 0
    finally:
        relay.stop()

    assert _received(relay) == Counter({TEAM: 1, GONE: 1, "ana@example.org": 1}), \
        "the retry went to the deferred address only"
    assert store.rows("select count(*) from event where kind = 'delivery_failed'") == [(0,)]
