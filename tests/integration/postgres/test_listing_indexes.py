"""``tickets list --status X`` and ``--overdue`` read an index, not the
whole ticket table (migration 0011), on SQLite and on PostgreSQL.

The statements are the ones the store runs (``tickets.listing``,
``due.overdue``), caught on their way to the driver and run again under
``EXPLAIN``.  PostgreSQL prefers a sequential scan of a table this small
whatever indexes exist, so its plans are read with ``enable_seqscan`` off:
the question is whether the index *can* serve the query (it could not
before 0011), not what the planner picks for ten rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import event

from gateway.store import due, tickets
from gateway.store.db import Database, Transaction

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


@contextmanager
def _caught(database: Database) -> Iterator[list[tuple[str, Any]]]:
    """Every statement sent to the driver meanwhile, with its parameters."""
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        sent.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", keep)
    try:
        yield sent
    finally:
        event.remove(database.engine, "before_cursor_execute", keep)


def _seed(database: Database) -> None:
    with database.transaction() as tx:
        for number in range(1, 11):
            ticket = tickets.add_ticket(tx, protocol=f"ATD-2026-{number:06d}-1", mailbox="atendimento@example.gov.br",
                                        requester=f"pessoa{number}@example.org", created_at=NOW, updated_at=NOW)
            ticket.status = "open" if number % 2 else "closed"
            ticket.first_response_due_at = NOW - timedelta(hours=number)
            ticket.resolution_due_at = NOW + timedelta(days=number)


def _plan(database: Database, query: Callable[[Transaction], object]) -> str:
    """The plan of the one SELECT ``query`` sends, as one lowercase text."""
    with _caught(database) as sent, database.transaction() as tx:
        query(tx)
    selects = [(sql, params) for sql, params in sent if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, selects
    sql, params = selects[0]
    with database.engine.connect() as connection:
        cursor = connection.connection.cursor()
        if database.is_postgres:
            cursor.execute("SET enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        rows = cursor.fetchall()
        connection.rollback()
    return "\n".join(str(row[-1]) for row in rows).lower()


def test_a_status_is_listed_newest_first_from_its_index(db: Database) -> None:
    _seed(db)
    plan = _plan(db, lambda tx: tickets.listing(tx, status="open", limit=5))
    assert "ix_ticket_status" in plan, plan
    if db.is_postgres:
        assert "sort" not in plan, plan  # read backwards in id order: stops at the limit
    else:
        assert "temp b-tree" not in plan, plan
    with db.transaction() as tx:
        found = tickets.listing(tx, status="open", limit=3)
    assert [t.protocol for t in found] == ["ATD-2026-000009-1", "ATD-2026-000007-1", "ATD-2026-000005-1"]


def test_overdue_tickets_are_found_from_the_unmet_targets_indexes(db: Database) -> None:
    _seed(db)
    plan = _plan(db, lambda tx: due.overdue(tx, NOW, limit=100))
    assert "ix_ticket_first_response_due" in plan, plan
    assert "ix_ticket_resolution_due" in plan, plan
    with db.transaction() as tx:
        found = due.overdue(tx, NOW, limit=100)
    assert [t.protocol for t in found] == [f"ATD-2026-{n:06d}-1" for n in (9, 7, 5, 3, 1)]


def test_an_answered_ticket_leaves_the_partial_index(db: Database) -> None:
    """A ticket answered in time is not overdue even past its due moment: the
    partial index holds only unmet targets, and the query agrees with it."""
    _seed(db)
    with db.transaction() as tx:
        ticket = tickets.by_protocol(tx, "ATD-2026-000009-1")
        assert ticket is not None
        ticket.first_response_at = NOW - timedelta(hours=10)
    with db.transaction() as tx:
        found = due.overdue(tx, NOW, limit=100)
    assert [t.protocol for t in found] == [f"ATD-2026-{n:06d}-1" for n in (7, 5, 3, 1)]
