"""The ways a table is written store the same row (``store.rows``): the
compiled inserts of the live path, the acceptance writer's own SQL, the
legacy import's batches, and the ORM given a completed row, on SQLite and
PostgreSQL.  Compared as the database holds the values (cast to text), so
a JSON ``null`` is told from an SQL NULL.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import LargeBinary, Table, Text, cast, func, select

from gateway.store import inbox, tickets
from gateway.store.bulk import BulkWriter
from gateway.store.db import Database
from gateway.store.models import InboxRawRow, InboxRow, TicketRow
from gateway.store.rows import INBOX, INBOX_RAW, TICKET, Rows

NOW = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-3)))

MAIL: dict[str, Any] = {
    "received_at": NOW, "via": "smtp", "peer": "192.0.2.1", "mail_from": "ana@example.org",
    "rcpt_tos": ["atendimento@example.gov.br", "outra@example.gov.br"], "authenticated_as": None,
    "mailbox_hint": "atendimento@example.gov.br", "sha256": "ab" * 32, "message_id": "m1@example.org",
    "size": 5, "raw": b"\x00raw\xff"}


def _stored(db: Database, table: Table) -> list[tuple[Any, ...]]:
    """Every row but its id, each value as the database's text (or a mark for NULL), bytes as bytes."""
    columns = [c for c in table.columns if c is not table.autoincrement_column]
    query = select(*(c if isinstance(c.type, LargeBinary) else func.coalesce(cast(c, Text), "<NULL>")
                     for c in columns)).order_by(table.c.id)
    with db.transaction() as tx:
        return [tuple(row) for row in tx.execute(query)]


def test_an_accepted_mail_is_stored_alike_by_every_writer(db: Database) -> None:
    writer = inbox.InboxWriter(db.engine)
    try:
        writer.insert([MAIL])
    finally:
        writer.close()
    with db.transaction() as tx:
        inbox.add_accepted(tx, [MAIL])  # the ORM
        [row_id] = [INBOX.insert_returning_id.scalar(tx, {**inbox.envelope(MAIL), "status": "accepted"})]
        INBOX_RAW.insert.execute(tx, {"inbox_id": row_id, "raw": MAIL["raw"]})  # the compiled inserts
    with BulkWriter(db.engine).batch() as batch:  # the legacy import
        ids = batch.insert_ids("inbox", [{**inbox.envelope(MAIL), "status": "accepted"}])
        batch.insert("inbox_raw", inbox.raw_rows(ids, [MAIL]))
    stored = _stored(db, InboxRow.__table__)  # type: ignore[arg-type]
    assert len(stored) == 4 and len(set(stored)) == 1, stored
    with db.transaction() as tx:  # each row's bytes beside it, as they came
        assert list(tx.execute(select(InboxRawRow.inbox_id, InboxRawRow.raw).order_by(InboxRawRow.inbox_id))) == [
            (row_id, MAIL["raw"]) for (row_id,) in tx.execute(select(InboxRow.id).order_by(InboxRow.id))]
        assert [row.raw for row in tx.scalars(select(InboxRow))] == [MAIL["raw"]] * 4  # and InboxRow.raw reads them


def test_a_ticket_is_stored_alike_by_every_writer(db: Database) -> None:
    fields: dict[str, Any] = {"mailbox": "atendimento@example.gov.br", "requester": "ana@example.org",
                              "created_at": NOW, "updated_at": NOW, "status": "closed"}
    with db.transaction() as tx:
        tickets.add_ticket(tx, protocol="ATD-2026-000001-1", **fields)  # compiled
        tx.add(TicketRow(**TICKET.complete({"protocol": "ATD-2026-000002-0", **fields})))  # the ORM
    with BulkWriter(db.engine).batch() as batch:
        batch.insert_ids("ticket", [{"protocol": "ATD-2026-000003-8", **fields}])  # the legacy import
    stored = [row[1:] for row in _stored(db, TicketRow.__table__)]  # type: ignore[arg-type]  # all but the protocol
    assert len(stored) == 3 and len(set(stored)) == 1, stored


def test_a_row_builder_refuses_what_is_no_column_and_asks_for_what_has_no_default() -> None:
    with pytest.raises(TypeError, match="colour is not a column of ticket"):
        TICKET.complete({"colour": "blue"})
    with pytest.raises(TypeError, match="inbox: no value for rcpt_tos"):
        INBOX.complete({key: value for key, value in inbox.envelope(MAIL).items() if key != "rcpt_tos"})
    with pytest.raises(TypeError, match="raw is not a column of inbox"):  # the bytes are inbox_raw's
        INBOX.complete(MAIL)
    assert Rows(TicketRow).complete({})["priority"] == "normal"  # the mapped column's default
