"""Statements run on the driver's cursor (``store.compiled``) write and read
exactly what the ORM does, on SQLite and on PostgreSQL.

The compiled path skips SQLAlchemy's per-execution work, so each
conversion it must still do is checked here against the ORM reading the
same row back: aware datetimes (``UtcDateTime``), JSON lists, booleans,
Python-side defaults, and values bound in the statement itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, select, text

from gateway.config import StorageConfig
from gateway.store import outbox, tickets
from gateway.store.compiled import Compiled, deferred_rows, insert_of
from gateway.store.db import Database
from gateway.store.models import EventRow, MessageRow, OutboxRow, ThreadRefRow, TicketRow

NOW = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-3)))



def _ticket(tx: object) -> TicketRow:
    return tickets.add_ticket(tx, protocol="ATD-2026-000001-1", mailbox="atendimento@example.gov.br",  # type: ignore[arg-type]
                              requester="ana@example.org", created_at=NOW, updated_at=NOW)


def test_inserted_rows_read_back_through_the_orm_as_given(db: Database) -> None:
    with db.transaction() as tx:
        ticket = _ticket(tx)
        message_id = tickets.add_message(tx, ticket, direction="out", role="system", sender="a@example.gov.br",
                                         sent_at=NOW, subject="Assunto", text="Olá", message_id="<m1@example.gov.br>",
                                         automatic=True)
        outbox.add(tx, ticket_id=ticket.id, kind="ack", message_id="<m1@example.gov.br>",
                   mail_from="a@example.gov.br", rcpt_tos=["ana@example.org", "b@example.org"], raw=b"\x00raw\xff",
                   at=NOW)
        tickets.add_event(tx, ticket, at=NOW, actor="gateway", kind="created")
    with db.transaction() as tx:
        message = tx.get(MessageRow, message_id)
        assert message is not None
        assert (message.sent_at, message.automatic, message.internal, message.text) == (NOW, True, False, "Olá")
        assert message.sent_at.tzinfo is not None  # the UtcDateTime conversion ran: aware, in UTC
        row = tx.scalars(select(OutboxRow)).one()
        assert (row.rcpt_tos, row.raw, row.created_at, row.status, row.attempts) == (
            ["ana@example.org", "b@example.org"], b"\x00raw\xff", NOW, "queued", 0)
        event = tx.scalars(select(EventRow)).one()
        assert (event.kind, event.note, event.at) == ("created", "", NOW)  # note: the column's default


def test_values_bound_in_the_statement_and_defaults_are_used(db: Database) -> None:
    numbers = []
    with db.transaction() as tx:
        for _ in range(3):  # the upsert's "last + 1" carries a value bound in the statement
            numbers.append(tickets.next_sequence(tx, "ATD", 2026))
    assert numbers == [1, 2, 3]


def test_requester_thread_orders_our_mails_and_theirs_by_time(db: Database) -> None:
    with db.transaction() as tx:
        ticket = _ticket(tx)
        tickets.add_message(tx, ticket, direction="in", role="requester", sender="ana@example.org",
                            sent_at=NOW, message_id="<theirs-1@example.org>")
        outbox.add(tx, ticket_id=ticket.id, kind="ack", message_id="<ours-1@example.gov.br>",
                   mail_from="a@example.gov.br", rcpt_tos=["ana@example.org"], raw=b"x", at=NOW + timedelta(seconds=1))
        outbox.add(tx, ticket_id=ticket.id, kind="team_new", message_id="<team-1@example.gov.br>",
                   mail_from="a@example.gov.br", rcpt_tos=["equipe@example.gov.br"], raw=b"x",
                   at=NOW + timedelta(seconds=2))
        tickets.add_message(tx, ticket, direction="in", role="requester", sender="ana@example.org",
                            sent_at=NOW + timedelta(seconds=3), message_id="<theirs-2@example.org>")
        tickets.add_event(tx, ticket, at=NOW, actor="x", kind="asked", note="primeira")
        tickets.add_event(tx, ticket, at=NOW, actor="x", kind="asked", note="segunda")
    with db.transaction() as tx:
        assert tickets.thread_for(tx, ticket.id, ours_only=False) == [
            "<theirs-1@example.org>", "<ours-1@example.gov.br>", "<theirs-2@example.org>"]
        assert tickets.thread_for(tx, ticket.id, ours_only=True, kinds=("team_new",)) == ["<team-1@example.gov.br>"]
        assert tickets.thread_for(tx, ticket.id, ours_only=True) == ["<ours-1@example.gov.br>",
                                                                    "<team-1@example.gov.br>"]
        assert tickets.last_event_note(tx, ticket.id, "asked") == "segunda"
        assert tickets.last_event_note(tx, ticket.id, "solved") is None
        assert outbox.count_recent(tx, rcpt="ana@example.org", kinds=("ack",), since=NOW) == 1
        assert outbox.count_recent(tx, rcpt="ana@example.org", kinds=("ack",), since=NOW + timedelta(seconds=2)) == 0


def test_a_rolled_back_transaction_takes_the_compiled_writes_with_it(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as tx:
        ticket = _ticket(tx)
        tickets.add_event(tx, ticket, at=NOW, actor="gateway", kind="created")
        raise RuntimeError("the mail failed")
    with db.transaction() as tx:
        assert tx.scalars(select(TicketRow)).all() == []
        assert tx.scalars(select(EventRow)).all() == []


def test_a_missing_value_and_an_expanding_parameter_are_named() -> None:
    db = Database(StorageConfig(url="sqlite://"))
    db.migrate()
    with db.transaction() as tx:
        with pytest.raises(ValueError, match="no value for parameter 'kind'"):
            Compiled(select(EventRow.id).where(EventRow.kind == bindparam("kind"))).all(tx, {})
        with pytest.raises(ValueError, match="parameter 'kinds' expands"):
            Compiled(select(EventRow.id).where(EventRow.kind.in_(bindparam("kinds", expanding=True)))).all(
                tx, {"kinds": ["a"]})
        with pytest.raises(ValueError, match="naive datetime"):
            insert_of(EventRow.__table__).execute(tx, {"ticket_id": 1, "actor": "x", "kind": "k",  # type: ignore[arg-type]
                                                       "at": datetime(2026, 11, 23)})


def test_a_savepoint_rolled_back_takes_the_compiled_writes_made_inside_it(db: Database) -> None:
    """The Session emits SAVEPOINT only when a connection is asked for in the
    nested transaction; a cursor kept from the outer one would write past it.
    Written at once (not deferred): thread references."""
    with db.transaction() as tx:
        ticket = _ticket(tx)
        tickets.add_thread_ref(tx, "<before@example.org>", ticket.id, ours=False)
        with pytest.raises(RuntimeError), tx.begin_nested():
            tickets.add_thread_ref(tx, "<inside@example.org>", ticket.id, ours=False)
            raise RuntimeError("the step failed")
        tickets.add_thread_ref(tx, "<after@example.org>", ticket.id, ours=False)
    with db.transaction() as tx:
        assert sorted(tx.scalars(select(ThreadRefRow.message_id))) == ["<after@example.org>", "<before@example.org>"]


# -- deferred rows ----------------------------------------------------------

def _queue(tx: object, ticket: TicketRow, message_id: str, *, kind: str = "ack", at: datetime = NOW) -> None:
    outbox.add(tx, ticket_id=ticket.id, kind=kind, message_id=message_id, mail_from="a@example.gov.br",  # type: ignore[arg-type]
               rcpt_tos=["ana@example.org"], raw=b"x", at=at)


def test_deferred_rows_are_seen_by_every_read_of_the_same_transaction(db: Database) -> None:
    with db.transaction() as tx:
        ticket = _ticket(tx)
        tickets.add_event(tx, ticket, at=NOW, actor="x", kind="asked", note="CNES?")
        _queue(tx, ticket, "<ack@example.gov.br>")
        _queue(tx, ticket, "<team@example.gov.br>", kind="team_new", at=NOW + timedelta(seconds=1))
        # Reads that merge the rows from memory leave them deferred...
        assert tickets.last_event_note(tx, ticket.id, "asked") == "CNES?"
        assert tickets.thread_for(tx, ticket.id, ours_only=False) == ["<ack@example.gov.br>"]
        assert tickets.thread_for(tx, ticket.id, ours_only=True, kinds=("team_new",)) == ["<team@example.gov.br>"]
        assert outbox.count_recent(tx, rcpt="ana@example.org", kinds=("ack",), since=NOW) == 1
        assert len(deferred_rows(tx, outbox.INSERT)) == 2
        # ...and anything run through the Session writes them first.
        assert [e.kind for e in tickets.events(tx, ticket.id)] == ["asked"]
        assert deferred_rows(tx, outbox.INSERT) == []
        assert [r.message_id for r in outbox.for_ticket(tx, ticket.id)] == ["<ack@example.gov.br>",
                                                                           "<team@example.gov.br>"]


def test_a_written_row_after_deferred_ones_of_its_table_gets_the_later_id(db: Database) -> None:
    """The timeline is ordered by id: our answer, deferred, then the
    citizen's reply in the same transaction must stay in that order."""
    with db.transaction() as tx:
        ticket = _ticket(tx)
        tickets.add_sent(tx, ticket, direction="out", role="analyst", sender="a@example.gov.br", sent_at=NOW,
                         message_id="<ours@example.gov.br>")
        tickets.add_message(tx, ticket, direction="in", role="requester", sender="ana@example.org",
                            sent_at=NOW + timedelta(seconds=1), message_id="<reply@example.org>")
    with db.transaction() as tx:
        rows = tx.scalars(select(MessageRow).order_by(MessageRow.id)).all()
        assert [r.message_id for r in rows] == ["<ours@example.gov.br>", "<reply@example.org>"]


def test_deferred_rows_follow_their_transaction_and_savepoint(db: Database) -> None:
    with db.transaction() as tx:
        ticket = _ticket(tx)
        tickets.add_event(tx, ticket, at=NOW, actor="x", kind="before")
        with pytest.raises(RuntimeError), tx.begin_nested():
            tickets.add_event(tx, ticket, at=NOW, actor="x", kind="inside")
            _queue(tx, ticket, "<lost@example.gov.br>")
            raise RuntimeError("the step failed")
        tickets.add_event(tx, ticket, at=NOW, actor="x", kind="after")
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tickets.add_event(tx, ticket, at=NOW, actor="x", kind="rolled back")
        raise RuntimeError("the mail failed")
    with db.transaction() as tx:
        assert [e.kind for e in tickets.events(tx, ticket.id)] == ["before", "after"]
        assert outbox.for_ticket(tx, ticket.id) == []


def test_a_json_none_is_written_as_the_orm_writes_it(db: Database) -> None:
    """SQLAlchemy's JSON type stores None as JSON ``null``, not SQL NULL; the
    compiled insert must store the same, or queries on the column would
    tell old rows from new ones."""
    with db.transaction() as tx:
        _ticket(tx)  # compiled insert, tags not given
        orm = TicketRow(protocol="ATD-2026-000002-0", mailbox="atendimento@example.gov.br",
                        requester="bia@example.org", created_at=NOW, updated_at=NOW, tags=None)
        tx.add(orm)
    with db.transaction() as tx:
        stored = dict(tx.execute(text("select protocol, tags is null from ticket")).all())
        assert stored["ATD-2026-000001-1"] == stored["ATD-2026-000002-0"]
