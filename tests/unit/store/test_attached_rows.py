"""Rows written by a plain INSERT and attached to the session by hand
(``tickets.add_ticket``) must go when their savepoint rolls back.

Processing groups and sweeps run each mail or ticket in a savepoint of one
shared transaction.  SQLite gives a rolled-back ticket's id to the next
ticket; an object still in the identity map under that id made the next
mail of the group fail ("another instance with key ... is already present")
and be quarantined for nothing.  Real SQLite, real migrations.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.config import StorageConfig
from gateway.store import tickets
from gateway.store.db import Database
from gateway.store.models import TicketRow

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(StorageConfig(url=f"sqlite:///{tmp_path}/store.db"))
    database.migrate()
    yield database
    database.dispose()


def _fields(number: int) -> dict[str, object]:
    return {"protocol": f"ATD-2026-{number:06d}-0", "mailbox": "atendimento@example.gov.br",
            "requester": f"pessoa{number}@example.org", "created_at": NOW, "updated_at": NOW}


def test_a_ticket_rolled_back_with_its_savepoint_leaves_the_session(db: Database) -> None:
    with db.transaction() as tx:
        kept = tickets.add_ticket(tx, **_fields(1))
        with pytest.raises(RuntimeError), tx.begin_nested():
            # still referenced afterwards, as a log record's traceback does
            failed = tickets.add_ticket(tx, **_fields(2))
            failed.status = "open"
            raise RuntimeError("a bug after the ticket was written")
        assert failed not in tx and kept in tx
        with tx.begin_nested():
            after = tickets.add_ticket(tx, **_fields(3))  # SQLite gives it the rolled-back id
        assert after in tx
    with db.transaction() as tx:
        assert sorted(tx.scalars(select(TicketRow.protocol))) == [_fields(1)["protocol"], _fields(3)["protocol"]]


def test_a_ticket_of_a_released_savepoint_goes_when_an_outer_one_rolls_back(db: Database) -> None:
    with db.transaction() as tx:
        with pytest.raises(RuntimeError), tx.begin_nested():
            with tx.begin_nested():
                inner = tickets.add_ticket(tx, **_fields(1))
            raise RuntimeError("the outer savepoint fails")
        assert inner not in tx
        again = tickets.add_ticket(tx, **_fields(2))
        again.priority = "high"
    with db.transaction() as tx:
        assert tx.scalar(select(func.count()).select_from(TicketRow)) == 1
        assert tx.scalars(select(TicketRow.priority)).one() == "high"
