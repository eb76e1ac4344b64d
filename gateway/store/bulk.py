"""Bulk writes for the legacy import: many rows per statement, one
transaction per batch.

The live path writes a mail through the ORM unit of work and commits it
alone, an fsync a mail: far too slow for a mailbox of 100,000 mails.
Here each batch of mails is a handful of Core ``executemany`` inserts
(``RETURNING`` ids where later rows need them) in one transaction, on the
same tables and with the same columns the live path fills (each row
completed by its table's row builder, ``store.rows``, as the live path's
inserts are), so a migrated ticket is indistinguishable from a live one to
every reader.  Protocol
sequences are reserved a block at a time with the same atomic upsert live
mail uses, so the numbers stay unique while the gateway runs beside the
import.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final

from sqlalchemy import and_, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from gateway.store.models import EventRow, InboxRow, MailKeyRow, OutboxRow, SequenceRow, TicketRow
from gateway.store.rows import BY_TABLE

_LOOKUP_CHUNK: Final = 500


class BulkWriter:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """One transaction: everything in it is committed together or not at all."""
        with self._engine.begin() as connection:
            yield Batch(connection)


class Batch:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._dialect = sqlite if connection.dialect.name == "sqlite" else postgresql

    def known_keys(self, keys: Iterable[str]) -> dict[str, tuple[str, int | None]]:
        """Dedupe keys (``mid:``/``sha:``) already stored: key -> (via, ticket id)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, tuple[str, int | None]] = {}
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            query = (select(MailKeyRow.key, InboxRow.via, InboxRow.ticket_id)
                     .join(InboxRow, InboxRow.id == MailKeyRow.inbox_id)
                     .where(MailKeyRow.key.in_(wanted[start:start + _LOOKUP_CHUNK])))
            found.update((key, (via, ticket_id)) for key, via, ticket_id in self._connection.execute(query))
        return found

    def reserve_sequences(self, prefix: str, year: int, count: int) -> int:
        """The first of ``count`` consecutive protocol sequences for ``prefix``
        and ``year``, reserved atomically (see ``tickets.next_sequence``)."""
        statement = self._dialect.insert(SequenceRow).values(prefix=prefix, year=year, last=count)
        statement = statement.on_conflict_do_update(
            index_elements=[SequenceRow.prefix, SequenceRow.year], set_={"last": SequenceRow.last + count}
        ).returning(SequenceRow.last)
        return int(self._connection.execute(statement).scalar_one()) - count + 1

    def insert_ids(self, table: str, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Insert ``rows``; their new ids, in the same order."""
        if not rows:
            return []
        builder = BY_TABLE[table]
        target = builder.table
        result = self._connection.execute(insert(target).returning(target.c.id, sort_by_parameter_order=True),
                                          [builder.complete(row) for row in rows])
        return [row_id for (row_id,) in result]

    def insert(self, table: str, rows: Sequence[dict[str, Any]], *, skip_existing: bool = False) -> None:
        """Insert ``rows``; with ``skip_existing`` a row whose key is already
        there (live mail got there first) is left alone."""
        if not rows:
            return
        builder = BY_TABLE[table]
        statement = self._dialect.insert(builder.table)
        if skip_existing:
            statement = statement.on_conflict_do_nothing()
        self._connection.execute(statement, [builder.complete(row) for row in rows])


def migrated_tickets_without(tx: Session, mailbox: str, kind: str, statuses: Sequence[str]) -> list[TicketRow]:
    """Migrated tickets of ``mailbox`` in ``statuses`` that have no ``kind``
    event yet (e.g. the notice of their new protocol), oldest first."""
    migrated = select(EventRow.ticket_id).where(EventRow.kind == "migrated")
    done = select(EventRow.ticket_id).where(EventRow.kind == kind)
    query = (select(TicketRow).where(and_(TicketRow.mailbox == mailbox, TicketRow.status.in_(statuses),
                                          TicketRow.id.in_(migrated), TicketRow.id.not_in(done)))
             .order_by(TicketRow.id))
    return list(tx.scalars(query))


def send_not_before(tx: Session, message_id: str, at: datetime) -> None:
    """Hold a queued mail until ``at`` (the sender takes only what is due)."""
    tx.execute(update(OutboxRow).where(OutboxRow.message_id == message_id).values(next_attempt_at=at))
