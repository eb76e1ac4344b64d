"""A backlog is processed several mails per transaction, each in its own
savepoint: one mail whose processing fails leaves no trace but its
quarantine row, and its neighbours in the same group keep all their effects.

The gateway is real (SQLite, templates, outbox); the only thing added is a
step that fails for one chosen mail after the real ``act`` has written its
ticket and mails, which is what a bug late in the pipeline looks like.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from gateway.app import Gateway
from gateway.config import Settings
from gateway.delivery import Delivery
from gateway.pipeline.context import MailContext, Stop
from tests.helpers.mailfactory import make_mail
from tests.helpers.servers import RunningGateway

SERVICE = "atendimento@example.gov.br"
MAILS = 12
FAILING = 5  # the sixth mail of the backlog


def _accept(gateway: Gateway, index: int) -> int:
    raw = make_mail(sender=f"Pessoa {index} <pessoa{index}@example.org>", subject=f"Pedido {index}")
    receipt = gateway.ingest.accept(Delivery(raw=raw, mail_from=f"pessoa{index}@example.org", rcpt_tos=(SERVICE,),
                                             via="smtp", peer="127.0.0.1", received_at=datetime.now(timezone.utc)))
    assert receipt.inbox_id is not None
    return receipt.inbox_id


def _failing_after_act(act: Callable[[MailContext], Stop | None], inbox_id: int) -> Callable[[MailContext], Stop | None]:
    def act_then_fail(ctx: MailContext) -> Stop | None:
        stop = act(ctx)
        if ctx.inbox.id == inbox_id:
            raise RuntimeError("a bug after the ticket was written")
        return stop

    act_then_fail.__name__ = "act"
    return act_then_fail


def test_a_failing_mail_in_a_group_is_quarantined_alone_and_its_effects_rolled_back(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(processing={"group_size": 8, "batch_size": 100})
    gateway = Gateway(settings)
    try:
        ids = [_accept(gateway, i) for i in range(MAILS)]
        *deciding, act = gateway.ingest.pipeline
        gateway.ingest.pipeline = (*deciding, _failing_after_act(act, ids[FAILING]))

        results = gateway.ingest.process_pending()

        assert [r.inbox_id for r in results] == ids
        failed = [r for r in results if r.outcome.value == "quarantined"]
        assert [r.inbox_id for r in failed] == [ids[FAILING]]
        assert "RuntimeError in step act" in failed[0].reason
        running = RunningGateway(settings, gateway)
        assert running.quarantined() == [("act", failed[0].reason)]
        requesters = sorted(t["requester"] for t in running.tickets())
        assert requesters == sorted(f"pessoa{i}@example.org" for i in range(MAILS) if i != FAILING)
        protocols = [t["protocol"] for t in running.tickets()]
        sequences = sorted(int(p.split("-")[2]) for p in protocols)
        assert sequences == list(range(1, MAILS)), "the failed mail's number was given back: no gap"
        acked = sorted(m["To"] for m in running.outbox(kind="ack"))
        assert acked == requesters, "no acknowledgement for the mail whose processing was rolled back"
        assert running.inbox_counts() == {"processed": MAILS - 1, "quarantined": 1}
    finally:
        gateway.close()


def test_a_released_mail_is_processed_again_after_the_fix(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(processing={"group_size": 4})
    gateway = Gateway(settings)
    try:
        ids = [_accept(gateway, i) for i in range(6)]
        original = gateway.ingest.pipeline
        *deciding, act = original
        gateway.ingest.pipeline = (*deciding, _failing_after_act(act, ids[2]))
        gateway.ingest.drain()
        gateway.ingest.pipeline = original  # the fix
        running = RunningGateway(settings, gateway)
        assert running.inbox_counts() == {"processed": 5, "quarantined": 1}

        from gateway.store import inbox

        with gateway.db.transaction() as tx:
            [(entry, _)] = inbox.quarantined(tx)
            assert inbox.release(tx, entry.id, datetime.now(timezone.utc)) is not None
        assert gateway.ingest.drain() == 1
        assert running.inbox_counts() == {"processed": 6}
        assert len(running.tickets()) == 6
    finally:
        gateway.close()


def test_a_ticket_failing_in_a_sweep_group_rolls_back_alone_and_is_done_next_sweep(
        make_settings: Callable[..., Settings]) -> None:
    """Sweeps share a transaction between due tickets the same way."""
    settings = make_settings(processing={"group_size": 4},
                             mailbox=[{"address": SERVICE, "name": "Central de Atendimento", "protocol_prefix": "ATD",
                                       "team": ["equipe@example.gov.br"], "sla_default": {"first_response": "1h"}}])
    gateway = Gateway(settings)
    try:
        for i in range(6):
            _accept(gateway, i)
        gateway.ingest.drain()
        running = RunningGateway(settings, gateway)
        tickets = running.tickets()
        assert [t["due_kind"] for t in tickets] == ["sla_warning"] * 6
        victim = tickets[2]["protocol"]
        real_act = gateway.sweeper.service.act

        def act_then_fail(tx, ticket, now):  # type: ignore[no-untyped-def]
            done = real_act(tx, ticket, now)
            if ticket.protocol == victim:
                raise RuntimeError("a bug after the breach was recorded")
            return done

        gateway.sweeper.service.act = act_then_fail  # type: ignore[method-assign]
        later = datetime.now(timezone.utc) + timedelta(hours=3)
        first = gateway.sweeper.run_once(later)
        assert (first.found, first.acted, first.failed) == (6, 5, 1)
        by_protocol = {t["protocol"]: running.ticket(t["protocol"]) for t in tickets}
        breached = {p for p, t in by_protocol.items() if "sla_breach" in [e["kind"] for e in t["events"]]}
        assert breached == set(by_protocol) - {victim}, "the failing ticket's breach was rolled back, the others kept"
        assert by_protocol[victim]["due_kind"] == "sla_warning", "its deadline did not move"

        gateway.sweeper.service.act = real_act  # type: ignore[method-assign]
        second = gateway.sweeper.run_once(later)
        assert (second.found, second.acted, second.failed) == (1, 1, 0)
        assert "sla_breach" in [e["kind"] for e in running.ticket(victim)["events"]]
    finally:
        gateway.close()
