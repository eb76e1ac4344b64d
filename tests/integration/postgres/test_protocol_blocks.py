"""Protocol numbers on PostgreSQL come from blocks reserved in a short
transaction of their own (store.numbers): no lock on ``protocol_sequence``
is held across a group, and no number is ever given twice, across nodes,
rollbacks and a worker killed mid-group (issue 19)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from gateway.app import Gateway
from gateway.config import StorageConfig
from gateway.delivery import Delivery
from gateway.store import tickets
from gateway.store.db import Database
from gateway.store.models import SequenceRow
from gateway.store.numbers import MAX_BLOCK
from gateway.tickets import protocol as protocols
from tests.faults.support import Role, Store
from tests.helpers.mailfactory import make_mail
from tests.helpers.process import write_config
from tests.helpers.servers import wait_until

pytestmark = pytest.mark.postgres

AT = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def _database(url: str, *, migrate: bool = False) -> Database:
    database = Database(StorageConfig(url=url))
    if migrate:
        database.migrate()
    return database


def test_a_number_taken_in_an_open_transaction_does_not_hold_up_another_node(postgres_url):
    first, second = _database(postgres_url, migrate=True), _database(postgres_url)
    try:
        with first.transaction() as tx:  # a group still running: not committed
            mine = tickets.next_sequence(tx, "ATD", 2026)

            def other_node() -> int:
                with second.transaction() as other:
                    return tickets.next_sequence(other, "ATD", 2026)

            with ThreadPoolExecutor(max_workers=1) as pool:
                future = pool.submit(other_node)
                try:
                    theirs = future.result(timeout=30)
                except FutureTimeout:  # the old upsert waited for the first transaction's commit
                    tx.rollback()
                    future.result(timeout=30)
                    pytest.fail("the second node waited for the first node's open transaction")
        assert mine != theirs
    finally:
        first.dispose()
        second.dispose()


def test_two_nodes_taking_numbers_at_once_never_share_one(postgres_url):
    nodes = [_database(postgres_url, migrate=True), _database(postgres_url)]
    start = threading.Barrier(6)

    def take(job: int) -> list[int]:
        node = nodes[job % 2]
        start.wait(timeout=30)
        taken = []
        for i in range(150):
            with node.transaction() as tx:
                number = tickets.next_sequence(tx, "ATD", 2026)
                if i % 7 == 0:  # a group that fails: its number is not given back, nor again
                    tx.rollback()
                    continue
                taken.append(number)
        return taken

    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            taken = [n for numbers in pool.map(take, range(6)) for n in numbers]
        assert len(taken) == 6 * (150 - 22)
        repeated = [n for n, times in Counter(taken).items() if times > 1]
        assert not repeated, f"numbers given twice: {repeated[:10]}"
        with nodes[0].transaction() as tx:
            last = tx.scalar(select(SequenceRow.last).where(SequenceRow.prefix == "ATD", SequenceRow.year == 2026))
        assert max(taken) <= last
        # Gaps are the price: at most one block per process and key, plus the rolled-back numbers.
        assert last - 6 * 150 < 2 * MAX_BLOCK
    finally:
        for node in nodes:
            node.dispose()


def test_a_process_that_restarts_never_reuses_a_number_of_its_last_block(postgres_url):
    before = _database(postgres_url, migrate=True)
    with before.transaction() as tx:
        old = [tickets.next_sequence(tx, "ATD", 2026) for _ in range(40)]  # blocks of 1, 2, 4, ...
    before.dispose()  # the process ends with part of its block unused
    after = _database(postgres_url)
    try:
        with after.transaction() as tx:
            new = [tickets.next_sequence(tx, "ATD", 2026) for _ in range(10)]
        assert min(new) > max(old)
        assert old == list(range(1, 41))  # one process alone: consecutive within its blocks
    finally:
        after.dispose()


def test_each_prefix_and_year_has_its_own_numbers(postgres_url):
    database = _database(postgres_url, migrate=True)
    try:
        with database.transaction() as tx:
            taken = [(p, y, tickets.next_sequence(tx, p, y)) for p, y in
                     [("ATD", 2026), ("OUV", 2026), ("ATD", 2027), ("ATD", 2026)]]
        assert taken == [("ATD", 2026, 1), ("OUV", 2026, 1), ("ATD", 2027, 1), ("ATD", 2026, 2)]
    finally:
        database.dispose()


def test_sqlite_keeps_one_upsert_in_the_transaction_without_gaps(tmp_path):
    database = _database(f"sqlite:///{tmp_path}/gateway.db", migrate=True)
    try:
        with database.transaction() as tx:
            assert tickets.next_sequence(tx, "ATD", 2026) == 1
            tx.rollback()  # the number goes back
        with database.transaction() as tx:
            assert [tickets.next_sequence(tx, "ATD", 2026) for _ in range(3)] == [1, 2, 3]
        with database.transaction() as tx:
            assert tx.scalar(select(SequenceRow.last)) == 3
    finally:
        database.dispose()


def test_two_process_workers_one_killed_mid_group_act_once_per_mail(make_settings, postgres_url, tmp_path):
    """A stored backlog, two ``gateway run --only process`` workers; one is
    killed with SIGKILL while it processes, then started again."""
    total = 400
    settings = make_settings(storage={"url": postgres_url})
    loader = Gateway(settings)
    try:
        for i in range(total):
            raw = make_mail(sender=f"cidadao{i}@example.org", subject=f"Pedido {i}")
            receipt = loader.ingest.accept(Delivery(raw=raw, mail_from=f"cidadao{i}@example.org",
                                                    rcpt_tos=("atendimento@example.gov.br",), via="smtp",
                                                    received_at=AT))
            assert receipt.accepted
    finally:
        loader.close()
    store = Store(postgres_url, None)

    def processed() -> int:
        return int(store.one("SELECT count(*) FROM inbox WHERE status <> 'accepted'"))

    workers = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        workers.append(Role(write_config(folder, storage_url=postgres_url), folder / "gateway.log",
                            only="process").start())
    try:
        wait_until(lambda: processed() >= 40, timeout=120, interval=0.05, what="the workers to begin")
        assert processed() < total, "the backlog was gone before the kill: make it bigger"
        workers[0].kill()
        workers[0].start()  # a restarted node reserves a new block
        wait_until(lambda: processed() == total, timeout=300, interval=0.2, what="the backlog to be processed")
    finally:
        for worker in workers:
            worker.kill()

    assert store.one("SELECT count(*) FROM inbox WHERE status = 'quarantined'") == 0
    tickets_made = store.one("SELECT count(*) FROM ticket")
    acks = store.one("SELECT count(*) FROM outbox WHERE kind = 'ack'")
    assert (tickets_made, acks) == (total, total)
    assert store.one("SELECT count(DISTINCT ticket_id) FROM outbox WHERE kind = 'ack'") == total
    protocol_list = [p for (p,) in store.rows("SELECT protocol FROM ticket")]
    assert len(set(protocol_list)) == total
    assert all(protocols.parse(p) is not None for p in protocol_list), "format and check digit kept"
    assert store.one("SELECT count(DISTINCT requester) FROM ticket") == total
