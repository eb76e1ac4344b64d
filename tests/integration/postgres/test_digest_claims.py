"""A day's digest is claimed once per mailbox (``store.digest.claim_day``),
on SQLite and PostgreSQL: by a second run, by a second node at the same
moment, and not by a transaction that rolled back."""

from __future__ import annotations

import threading
from datetime import date, datetime, timezone

import pytest

from gateway.store import digest

BOX = "atendimento@example.gov.br"
MONDAY, TUESDAY = date(2026, 11, 23), date(2026, 11, 24)
AT = datetime(2026, 11, 23, 11, 0, tzinfo=timezone.utc)


def test_a_day_is_claimed_once_and_the_next_day_again(db):
    with db.transaction() as tx:
        assert digest.last_day(tx, BOX) is None
        assert digest.claim_day(tx, BOX, MONDAY, at=AT)
        assert not digest.claim_day(tx, BOX, MONDAY, at=AT)
        assert digest.claim_day(tx, "outra@example.gov.br", MONDAY, at=AT), "each mailbox has its own day"
    with db.transaction() as tx:
        assert not digest.claim_day(tx, BOX, MONDAY, at=AT)
        assert digest.claim_day(tx, BOX, MONDAY, at=AT, force=True), "by hand: sent again"
        assert digest.claim_day(tx, BOX, TUESDAY, at=AT)
        assert not digest.claim_day(tx, BOX, MONDAY, at=AT), "never back to an older day"
        assert digest.last_day(tx, BOX) == TUESDAY


def test_a_rolled_back_claim_leaves_the_day_free(db):
    with pytest.raises(RuntimeError), db.transaction() as tx:
        assert digest.claim_day(tx, BOX, MONDAY, at=AT)
        raise RuntimeError("queueing the digest failed")
    with db.transaction() as tx:
        assert digest.claim_day(tx, BOX, MONDAY, at=AT)


def test_two_nodes_at_the_same_moment_claim_the_day_once(db):
    second: list[bool] = []

    def other_node() -> None:
        with db.transaction() as tx:
            second.append(digest.claim_day(tx, BOX, MONDAY, at=AT))

    with db.transaction() as tx:
        assert digest.claim_day(tx, BOX, MONDAY, at=AT)
        node = threading.Thread(target=other_node)
        node.start()
        node.join(0.5)
        assert second == [], "the other node waits while the first holds the day"
    node.join(30)
    assert not node.is_alive() and second == [False]
