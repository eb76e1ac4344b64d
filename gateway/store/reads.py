"""The reads ``services.views`` makes, on a transaction of the ORM.

Their other home is ``store.direct`` (the short commands, without
SQLAlchemy); both answer the same questions with rows of the same shape,
and a test holds them to the same views.
"""

from __future__ import annotations

from gateway.store import fields, outbox, tickets
from gateway.store.db import Transaction
from gateway.store.models import OutboxRow, TicketRow


class SessionReads:
    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    def listing(self, *, mailbox: str | None = None, status: str | None = None, limit: int = 100) -> list[TicketRow]:
        return tickets.listing(self.tx, mailbox=mailbox, status=status, limit=limit)

    def by_protocol(self, protocol: str) -> TicketRow | None:
        return tickets.by_protocol(self.tx, protocol)

    def by_id(self, ticket_id: int) -> TicketRow | None:
        return tickets.by_id(self.tx, ticket_id)

    def full(self, protocol: str) -> TicketRow | None:
        return tickets.full(self.tx, protocol)

    def participants(self, ticket_id: int) -> set[str]:
        return tickets.participants(self.tx, ticket_id)

    def fields_of(self, ticket_id: int) -> dict[str, tuple[str, bool]]:
        return fields.of_ticket(self.tx, ticket_id)

    def outbox_of(self, ticket_id: int) -> list[OutboxRow]:
        return outbox.for_ticket(self.tx, ticket_id)
