"""``gateway report`` reads its moments from partial indexes, and a new
ticket writes none of them (migration 0019), on SQLite and on PostgreSQL;
one mailbox's newest tickets are still a backward scan on SQLite.

A ticket is opened without a first response, a resolution or a reopening;
indexing those empty moments cost every new ticket three index entries
that no report reads: the report asks for a range of the moment.  The
plans are read as ``test_listing_indexes`` reads them (the statement the
store sends, run again under ``EXPLAIN``; PostgreSQL with sequential scans
off, since it would scan a table this small whatever indexes exist).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from gateway.store import reports, team, tickets
from gateway.store.db import Database
from tests.integration.postgres.test_index_predicates import definitions
from tests.integration.postgres.test_listing_indexes import _plan

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
MAILBOX = "atendimento@example.gov.br"
PERIOD = reports.Scope(mailbox=MAILBOX, start=NOW - timedelta(days=7), end=NOW + timedelta(days=1))
PARTIAL = {"ix_ticket_report_first_response": "first_response_at", "ix_ticket_report_resolved": "resolved_at",
           "ix_ticket_report_reopened": "reopened_at"}
# _seed's tickets, as `gateway report` counts them over PERIOD
COUNTED = {"total": {"opened": 6, "closed": 0, "returned": 0, "reopened": 3}}


def _seed(database: Database) -> None:
    """Six tickets of one mailbox: the odd ones answered, resolved and reopened, the even ones new."""
    with database.transaction() as tx:
        for number in range(1, 7):
            ticket = tickets.add_ticket(tx, protocol=f"ATD-2026-{number:06d}-1", mailbox=MAILBOX,
                                        requester=f"pessoa{number}@example.org",
                                        created_at=NOW - timedelta(days=2), updated_at=NOW)
            if number % 2:
                ticket.first_response_at = NOW - timedelta(days=1, hours=number)
                ticket.resolved_at = NOW - timedelta(hours=number)
                ticket.reopened_at = NOW - timedelta(minutes=number)


def _definitions(database: Database) -> dict[str, str]:
    """Each index's definition as the database keeps it, lowercase."""
    return {name: definition.lower() for name, definition in definitions(database).items()}


def test_the_moments_a_new_ticket_lacks_are_indexed_only_where_present(db: Database) -> None:
    found = _definitions(db)
    for name, column in PARTIAL.items():
        assert name in found, sorted(found)
        assert f"{column} is not null" in found[name], found[name]
    # the backlog reads "still open" as closed_at IS NULL: its index keeps the empty ones
    assert "where" not in found["ix_ticket_report_closed"], found["ix_ticket_report_closed"]
    # one mailbox's newest tickets: (mailbox, rowid) on SQLite, read backwards
    assert "(mailbox)" in found["ix_ticket_mailbox"], found["ix_ticket_mailbox"]


@pytest.mark.parametrize("moment", ["first_response_at", "resolved_at"])
def test_a_report_reads_a_moment_from_its_partial_index(db: Database, moment: str) -> None:
    _seed(db)
    plan = _plan(db, lambda tx: reports.durations(tx, PERIOD, moment))
    index = next(name for name, column in PARTIAL.items() if column == moment)
    assert index in plan, plan
    with db.transaction() as tx:
        found = reports.durations(tx, PERIOD, moment)
    assert len(found) == 3  # the new tickets, without the moment, are not counted


def test_the_reopened_count_reads_its_partial_index(db: Database) -> None:
    _seed(db)
    with db.transaction() as tx:
        query = reports._grouped(tx, PERIOD, reports.TicketRow.reopened_at, reports.func.count())

    def run(tx: object) -> object:
        return tx.execute(query).all()  # type: ignore[attr-defined]

    plan = _plan(db, run)
    assert "ix_ticket_report_reopened" in plan, plan
    with db.transaction() as tx:
        counted = reports.counts(tx, PERIOD)
    assert counted == COUNTED


@pytest.mark.parametrize("read", ["queue", "next page", "listing"])
def test_a_mailboxs_newest_tickets_are_a_scan_that_stops_at_the_limit_on_sqlite(db: Database, read: str) -> None:
    """The team page's queue unfiltered, its next page, and ``tickets list
    --mailbox``: on SQLite ``ix_ticket_mailbox`` is ``(mailbox, rowid)``,
    read backwards.  None of the composite indexes beginning with
    ``mailbox`` has ``id`` next: without it (0019's first version dropped it)
    SQLite read and sorted every ticket of the mailbox, which a review's
    plans showed.  PostgreSQL's planner walks the primary key backwards
    here, with real statistics; only the rows are checked there."""
    _seed(db)
    wanted = team.QueueFilter(mailboxes=(MAILBOX,))
    reads = {
        "queue": lambda tx: team.queue(tx, wanted, now=NOW, day_end=NOW, limit=2),
        "next page": lambda tx: team.queue(tx, wanted, now=NOW, day_end=NOW, limit=2, before=5),
        "listing": lambda tx: tickets.listing(tx, mailbox=MAILBOX, limit=2),
    }
    if not db.is_postgres:
        plan = _plan(db, reads[read])
        assert "ix_ticket_mailbox" in plan and "temp b-tree" not in plan, plan
    with db.transaction() as tx:
        found = [t.protocol for t in reads[read](tx)]
    assert found == (["ATD-2026-000004-1", "ATD-2026-000003-1"] if read == "next page"
                     else ["ATD-2026-000006-1", "ATD-2026-000005-1"])


def test_going_down_to_0018_indexes_every_ticket_again_and_up_makes_them_partial(db: Database) -> None:
    from tests.integration.postgres.test_raw_migrations import _to

    _seed(db)
    _to(db, "0018", down=True)
    found = _definitions(db)
    for name in PARTIAL:
        assert "where" not in found[name], found[name]
    _to(db, "head")
    found = _definitions(db)
    for name, column in PARTIAL.items():
        assert f"{column} is not null" in found[name], found[name]
    with db.transaction() as tx:
        assert reports.counts(tx, PERIOD) == COUNTED
