"""Several nodes on one PostgreSQL: protocol numbers stay unique, every mail
is processed once, and every outbox row is delivered once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

from gateway.app import Gateway
from gateway.delivery import Delivery
from gateway.store import tickets
from tests.helpers.mailfactory import make_mail

pytestmark = pytest.mark.postgres


def test_protocol_sequence_is_unique_under_concurrent_transactions(make_settings, postgres_url):
    gateway = Gateway(make_settings(storage={"url": postgres_url}))
    try:
        def take(_: int) -> int:
            with gateway.db.transaction() as tx:
                return tickets.next_sequence(tx, "ATD", 2026)

        with ThreadPoolExecutor(max_workers=8) as pool:
            numbers = list(pool.map(take, range(200)))
        assert sorted(numbers) == list(range(1, 201))
    finally:
        gateway.close()


def test_two_nodes_processing_the_same_inbox_act_once_per_mail(make_settings, postgres_url, tmp_path):
    settings = make_settings(storage={"url": postgres_url})
    nodes = [Gateway(settings), Gateway(settings, migrate=False)]
    try:
        at = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
        for i in range(60):
            raw = make_mail(sender=f"cidadao{i}@example.org", subject=f"Pedido {i}")
            receipt = nodes[i % 2].ingest.accept(Delivery(raw=raw, mail_from=f"cidadao{i}@example.org",
                                                          rcpt_tos=("atendimento@example.gov.br",), via="smtp",
                                                          received_at=at))
            assert receipt.accepted
        start = threading.Barrier(2)

        def drain(node: Gateway) -> int:
            start.wait(timeout=10)
            return len(node.ingest.process_pending())

        with ThreadPoolExecutor(max_workers=2) as pool:
            done = list(pool.map(drain, nodes))
        assert sum(done) == 60, f"each mail processed by exactly one node, got {done}"

        with nodes[0].db.transaction() as tx:
            rows = tickets.listing(tx, limit=1000)
            assert len(rows) == 60 and len({t.protocol for t in rows}) == 60
            assert len({t.requester for t in rows}) == 60

        with ThreadPoolExecutor(max_workers=2) as pool:
            tried = list(pool.map(lambda node: node.sender.run_once(), nodes))
        assert sum(tried) == 120, f"ack + team notice per ticket, each delivered by one node: {tried}"
        delivered = list((tmp_path / "outbox" / "new").iterdir())
        assert len(delivered) == 120
    finally:
        for node in nodes:
            node.close()
