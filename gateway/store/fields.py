"""The contact fields read from a ticket's mails (CPF, UF, phone...), one row each.

A field is kept as the requester wrote it, with whether it passed the
mailbox's check, so an analyst sees a wrong CPF next to the request for a
right one.  A later mail replaces a field only with a value it gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.store.models import TicketFieldRow


def of_ticket(tx: Session, ticket_id: int) -> dict[str, tuple[str, bool]]:
    """``{"cpf": ("123.456.789-09", True), ...}``."""
    rows = tx.scalars(select(TicketFieldRow).where(TicketFieldRow.ticket_id == ticket_id)
                      .order_by(TicketFieldRow.name))
    return {row.name: (row.value, row.valid) for row in rows}


def put(tx: Session, ticket_id: int, values: Mapping[str, tuple[str, bool]], at: datetime) -> None:
    """Insert or replace the given fields; the others stay."""
    for name, (value, valid) in values.items():
        row = tx.get(TicketFieldRow, (ticket_id, name))
        if row is None:
            tx.add(TicketFieldRow(ticket_id=ticket_id, name=name, value=value, valid=valid, updated_at=at))
        else:
            row.value, row.valid, row.updated_at = value, valid, at
