"""``Tx``, the store's transaction: its pending rows and the rows it attaches
by hand follow the transaction and its savepoints, on SQLite and PostgreSQL.

A pending row is one deferred with ``Compiled.defer``: kept by the ``Tx``
and written at a flush point (``store.tx`` lists them).  Until then only
``Tx.pending`` shows it; the table does not hold it.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import bindparam, event, func, select
from sqlalchemy.orm import Session

from gateway.store import tickets, tx as tx_module
from gateway.store.compiled import Compiled, insert_of
from gateway.store.db import Database, Transaction
from gateway.store.models import EventRow, MessageRow, TicketRow
from gateway.store.rows import EVENT, MESSAGE
from gateway.store.tx import Tx

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)

# Reads on the driver's cursor that leave pending rows pending (``merged``).
_KINDS = Compiled(select(EventRow.kind).where(EventRow.ticket_id == bindparam("ticket_id")).order_by(EventRow.id))
_TICKETS = Compiled(select(func.count()).select_from(TicketRow))


def _ticket(tx: Tx, number: int = 1) -> TicketRow:
    return tickets.add_ticket(tx, protocol=f"ATD-2026-{number:06d}-0", mailbox="atendimento@example.gov.br",
                              requester=f"pessoa{number}@example.org", created_at=NOW, updated_at=NOW)


def _event(tx: Tx, ticket: TicketRow, kind: str) -> None:
    EVENT.insert.defer(tx, {"ticket_id": ticket.id, "at": NOW, "actor": "x", "kind": kind})


def _written(tx: Tx, ticket: TicketRow) -> list[str]:
    return [kind for (kind,) in _KINDS.all(tx, {"ticket_id": ticket.id}, merged=True)]


def _pending(tx: Tx) -> list[str]:
    return [row["kind"] for row in tx.pending(EVENT.insert)]


def test_every_transaction_is_a_tx(db: Database) -> None:
    assert Transaction is Tx
    with db.transaction() as tx:
        assert isinstance(tx, Tx)
    with db.reading() as tx:
        assert isinstance(tx, Tx)
    # Registered on Tx alone: no other Session in the process is touched.
    assert not event.contains(Session, "do_orm_execute", tx_module._session_statement)
    assert not event.contains(Session, "before_commit", tx_module._commit)


def test_pending_rows_are_seen_by_their_own_transaction_only_through_pending(db: Database) -> None:
    with db.transaction() as tx:
        ticket = _ticket(tx)
        _event(tx, ticket, "created")
        _event(tx, ticket, "asked")
        assert _pending(tx) == ["created", "asked"]
        assert _written(tx, ticket) == []  # a merged read leaves them pending
        assert tx.pending(MESSAGE.insert) == []  # per statement
        assert [row["ticket_id"] for row in tx.pending(EVENT.insert)] == [ticket.id, ticket.id]
    with db.transaction() as tx:
        assert _written(tx, ticket) == ["created", "asked"]


def test_a_rolled_back_transaction_drops_its_pending_rows(db: Database) -> None:
    with db.transaction() as tx:
        ticket = _ticket(tx)
    with pytest.raises(RuntimeError), db.transaction() as tx:
        _event(tx, ticket, "lost")
        raise RuntimeError("the mail failed")
    assert tx.pending(EVENT.insert) == []
    with db.transaction() as tx:
        assert _written(tx, ticket) == []


def test_a_savepoint_rolled_back_drops_the_rows_deferred_inside_it(db: Database) -> None:
    with db.transaction() as tx:
        ticket = _ticket(tx)
        _event(tx, ticket, "before")
        with pytest.raises(RuntimeError), tx.begin_nested():
            assert _pending(tx) == []  # written when the savepoint began: its rollback must not take them
            _event(tx, ticket, "inside")
            raise RuntimeError("the step failed")
        assert _pending(tx) == []
        with tx.begin_nested():
            _event(tx, ticket, "released")
        assert _pending(tx) == []  # written before the savepoint is released, as before a commit
        _event(tx, ticket, "after")
    with db.transaction() as tx:
        assert _written(tx, ticket) == ["before", "released", "after"]


def test_a_session_statement_writes_the_pending_rows_first(db: Database) -> None:
    with db.transaction() as tx:
        ticket = _ticket(tx)
        _event(tx, ticket, "created")
        assert list(tx.scalars(select(EventRow.kind))) == ["created"]
        assert _pending(tx) == []


def test_a_compiled_statement_on_their_table_writes_them_first_and_one_on_another_does_not(db: Database) -> None:
    with db.transaction() as tx:
        ticket = _ticket(tx)
        _event(tx, ticket, "created")
        assert _TICKETS.scalar(tx, {}) == 1  # another table: still pending
        assert _pending(tx) == ["created"]
        assert _KINDS.all(tx, {"ticket_id": ticket.id}) == [("created",)]  # not merged: written first
        assert _pending(tx) == []


def test_the_commit_writes_them(db: Database) -> None:
    with db.transaction() as tx:
        ticket = _ticket(tx)
        _event(tx, ticket, "created")
    assert tx.pending(EVENT.insert) == []
    with db.transaction() as tx:
        assert _written(tx, ticket) == ["created"]


def test_ids_keep_the_order_rows_were_given_in(db: Database) -> None:
    """Pending rows are written grouped by statement; a second statement
    deferring into the same table, or one writing it at once, gets its
    rows' ids after the ones already pending."""
    other_insert = insert_of(EventRow.__table__)  # another statement into the same table
    with db.transaction() as tx:
        ticket = _ticket(tx)
        _event(tx, ticket, "first")
        other_insert.defer(tx, {"ticket_id": ticket.id, "at": NOW, "actor": "x", "kind": "second"})
        _event(tx, ticket, "third")
        tickets.add_sent(tx, ticket, direction="out", role="analyst", sender="a@example.gov.br", sent_at=NOW,
                         message_id="<ours@example.gov.br>")
        tickets.add_message(tx, ticket, direction="in", role="requester", sender="ana@example.org", sent_at=NOW,
                            message_id="<theirs@example.org>")
    with db.transaction() as tx:
        assert list(tx.scalars(select(EventRow.kind).order_by(EventRow.id))) == ["first", "second", "third"]
        assert list(tx.scalars(select(MessageRow.message_id).order_by(MessageRow.id))) == [
            "<ours@example.gov.br>", "<theirs@example.org>"]


def test_a_row_attached_by_hand_leaves_the_session_with_its_savepoint(db: Database) -> None:
    with db.transaction() as tx:
        kept = _ticket(tx, 1)
        with pytest.raises(RuntimeError), tx.begin_nested():
            gone = _ticket(tx, 2)
            raise RuntimeError("the step failed")
        assert kept in tx and gone not in tx
        again = _ticket(tx, 3)
        assert again in tx and tx.get(TicketRow, again.id) is again
    with db.transaction() as tx:
        assert sorted(tx.scalars(select(TicketRow.protocol))) == ["ATD-2026-000001-0", "ATD-2026-000003-0"]


def test_a_row_attached_by_hand_reads_as_written(db: Database) -> None:
    with db.transaction() as tx:
        ticket = tickets.add_ticket(tx, protocol="ATD-2026-000001-0", mailbox="atendimento@example.gov.br",
                                    requester="ana@example.org", created_at=NOW, updated_at=NOW,
                                    before_insert=lambda row: setattr(row, "priority", "high"))
        assert (ticket.status, ticket.priority, ticket.tags, ticket.solution_round) == ("new", "high", None, 0)
        with pytest.raises(TypeError, match="colour is not a column of ticket"):
            tickets.add_ticket(tx, protocol="ATD-2026-000002-0", colour="blue")
    with db.transaction() as tx:
        stored = tx.get(TicketRow, ticket.id)
        assert stored is not None
        assert (stored.status, stored.priority, stored.created_at) == ("new", "high", NOW)
