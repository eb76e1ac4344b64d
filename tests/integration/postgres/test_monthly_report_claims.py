"""A month's report is claimed once per mailbox (``store.monthly_report``,
rows of ``digest_sent`` beside the digest's), on SQLite and PostgreSQL: by
a second run, by a second node at the same moment, not by a transaction
that rolled back, and never back to an older month."""

from __future__ import annotations

import threading
from datetime import date, datetime, timezone

import pytest

from gateway.store import digest, monthly_report

BOX = "atendimento@example.gov.br"
AT = datetime(2026, 12, 1, 11, 0, tzinfo=timezone.utc)


def test_a_month_is_claimed_once_and_the_next_month_again(db):
    with db.transaction() as tx:
        assert monthly_report.last_month(tx, BOX) is None
        assert monthly_report.claim_month(tx, BOX, "2026-11", at=AT)
        assert not monthly_report.claim_month(tx, BOX, "2026-11", at=AT)
        assert monthly_report.claim_month(tx, "outra@example.gov.br", "2026-11", at=AT), "each mailbox has its own"
    with db.transaction() as tx:
        assert monthly_report.claim_month(tx, BOX, "2026-10", at=AT, force=True), "by hand: an old month again"
        assert monthly_report.last_month(tx, BOX) == "2026-11", "the record never goes back"
        assert not monthly_report.claim_month(tx, BOX, "2026-10", at=AT)
        assert monthly_report.claim_month(tx, BOX, "2026-12", at=AT)
        assert monthly_report.last_month(tx, BOX) == "2026-12"


def test_the_digest_and_the_report_of_a_mailbox_do_not_take_each_other(db):
    with db.transaction() as tx:
        assert digest.claim_day(tx, BOX, date(2026, 12, 1), at=AT)
        assert monthly_report.claim_month(tx, BOX, "2026-11", at=AT)
        assert digest.last_day(tx, BOX) == date(2026, 12, 1) and monthly_report.last_month(tx, BOX) == "2026-11"
        assert digest.claim_day(tx, BOX, date(2026, 12, 2), at=AT)
        assert monthly_report.last_month(tx, BOX) == "2026-11"


def test_a_rolled_back_claim_leaves_the_month_free(db):
    with pytest.raises(RuntimeError), db.transaction() as tx:
        assert monthly_report.claim_month(tx, BOX, "2026-11", at=AT)
        raise RuntimeError("queueing the report failed")
    with db.transaction() as tx:
        assert monthly_report.claim_month(tx, BOX, "2026-11", at=AT)


def test_two_nodes_at_the_same_moment_claim_the_month_once(db):
    second: list[bool] = []

    def other_node() -> None:
        with db.transaction() as tx:
            second.append(monthly_report.claim_month(tx, BOX, "2026-11", at=AT))

    with db.transaction() as tx:
        assert monthly_report.claim_month(tx, BOX, "2026-11", at=AT)
        node = threading.Thread(target=other_node)
        node.start()
        node.join(0.5)  # give it the chance to run into the held claim; it may or may not have started
    node.join(30)
    assert not node.is_alive() and second == [False]
