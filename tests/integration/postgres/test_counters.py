"""Caps kept in the database (``store.counters``) count alike on SQLite and
PostgreSQL, per key and window, roll back with their transaction, and keep
one row per key."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from gateway.store import counters
from gateway.store.models import CounterRow

AT = datetime(2026, 11, 23, 13, 20, tzinfo=timezone.utc)


def test_counts_per_key_and_hour(db):
    with db.transaction() as tx:
        assert [counters.bump(tx, "forged:maria@example.gov.br", at=AT) for _ in range(3)] == [1, 2, 3]
        assert counters.bump(tx, "forged:pedro@example.gov.br", at=AT) == 1
    with db.transaction() as tx:
        assert counters.bump(tx, "forged:maria@example.gov.br", at=AT + timedelta(minutes=39)) == 4
        assert counters.bump(tx, "forged:maria@example.gov.br", at=AT + timedelta(minutes=41)) == 1, "a new hour"
    with db.transaction() as tx:
        rows = tx.scalar(select(func.count()).select_from(CounterRow).where(
            CounterRow.key == "forged:maria@example.gov.br"))
    assert rows == 1, "the old window went when the new one started"


def test_a_rolled_back_mail_does_not_count(db):
    with pytest.raises(RuntimeError), db.transaction() as tx:
        counters.bump(tx, "postmaster", at=AT)
        raise RuntimeError("the mail's transaction failed")
    with db.transaction() as tx:
        assert counters.bump(tx, "postmaster", at=AT) == 1
