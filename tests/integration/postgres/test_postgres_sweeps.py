"""Two nodes sweeping the same PostgreSQL database at the same instant act
once per ticket: one reminder, one closure, one team warning each."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from gateway.app import Gateway
from gateway.clock import FixedClock
from gateway.store import tickets
from gateway.store.models import EventRow, OutboxRow

pytestmark = pytest.mark.postgres

START = datetime(2026, 11, 20, 13, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def _seed(node: Gateway, count: int) -> None:
    """Tickets due in three ways: waiting past its limit, waiting at its reminder, new past an SLA warning."""
    with node.db.transaction() as tx:
        for i in range(count):
            kind = ("no_response", "remind_waiting", "sla_warning")[i % 3]
            status = "new" if kind == "sla_warning" else "waiting"
            ticket = tickets.add_ticket(
                tx, protocol=f"ATD-2026-{i + 1:06d}-0", mailbox="atendimento@example.gov.br", status=status,
                requester=f"cidadao{i}@example.org", subject=f"Pedido {i}", language="pt_BR", created_at=START,
                updated_at=START, sla_done="")
            if kind == "no_response":
                ticket.limit_at = NOW - timedelta(hours=1)
            elif kind == "remind_waiting":
                ticket.limit_at, ticket.remind_at = NOW + timedelta(days=1), NOW - timedelta(hours=1)
            else:
                ticket.resolution_due_at = NOW + timedelta(hours=1)
            ticket.due_at, ticket.due_kind = NOW - timedelta(hours=1), kind


def test_two_nodes_sweeping_at_once_act_once_per_ticket(make_settings, postgres_url):
    settings = make_settings(storage={"url": postgres_url}, schedule={"enabled": False},
                             mailbox=[{"address": "atendimento@example.gov.br", "protocol_prefix": "ATD",
                                       "team": ["equipe@example.gov.br"],
                                       "sla_default": {"resolution": "10d", "warning": "2d"}}])
    nodes = [Gateway(settings, FixedClock(NOW)), Gateway(settings, FixedClock(NOW), migrate=False)]
    try:
        _seed(nodes[0], 90)
        start = threading.Barrier(2)

        def sweep(node: Gateway):
            start.wait(timeout=10)
            return node.sweeper.run_once()

        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(sweep, nodes))
        assert sum(r.acted for r in results) == 90, [r.summary() for r in results]
        assert all(r.found == 90 for r in results), "both saw the whole due set; the locks split it"
        with nodes[0].db.transaction() as tx:
            mails = Counter(dict(tx.execute(select(OutboxRow.kind, func.count()).group_by(OutboxRow.kind)).all()))
            events = Counter(dict(tx.execute(select(EventRow.kind, func.count()).group_by(EventRow.kind)).all()))
        assert mails == {"closed_no_response": 30, "reminder_waiting": 30, "team_sla_warning": 30}
        assert (events["closed"], events["reminded"], events["sla_warning"]) == (30, 30, 30)

        again = [node.sweeper.run_once() for node in nodes]
        assert [r.acted for r in again] == [0, 0], "a second pass finds nothing due"
    finally:
        for node in nodes:
            node.close()
