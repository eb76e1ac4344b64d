"""Deadline queries: what is due, one ticket locked for acting, what is overdue,
how many reminders the current wait has had.

``due_ids`` is one range scan of ``ix_ticket_due``; ``lock`` re-reads the
ticket under a row lock (PostgreSQL ``FOR UPDATE SKIP LOCKED``: another
node already acting on it makes this one skip it) and re-checks that it is
still due, so a sweep that lost the race, or runs a second time, does
nothing.  On SQLite the transaction's write lock gives the same guarantee.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from gateway.store.models import EventRow, TicketRow


def due_ids(tx: Session, now: datetime, *, limit: int) -> list[int]:
    """Tickets due at ``now``, soonest first (ties by id, oldest first)."""
    query = (select(TicketRow.id).where(TicketRow.due_at <= now)
             .order_by(TicketRow.due_at, TicketRow.id).limit(limit))
    return list(tx.scalars(query))


def count_due(tx: Session, now: datetime) -> int:
    return int(tx.scalar(select(func.count()).select_from(TicketRow).where(TicketRow.due_at <= now)) or 0)


def lock_many(tx: Session, ticket_ids: list[int], now: datetime, *, skip_locked: bool) -> list[TicketRow]:
    """The tickets still due at ``now``, locked for this transaction, in
    ``ticket_ids``' order; those no longer due, or (PostgreSQL) held by
    another node's sweep, are left out."""
    query = _LOCK_MANY_SKIP_LOCKED if skip_locked else _LOCK_MANY
    found = {ticket.id: ticket for ticket in tx.scalars(query, {"ticket_ids": ticket_ids, "now": now})}
    return [found[ticket_id] for ticket_id in ticket_ids if ticket_id in found]


# Built once: the sweep asks it for every group of due tickets.
_LOCK_MANY = (select(TicketRow)
              .where(TicketRow.id.in_(bindparam("ticket_ids", expanding=True)),
                     TicketRow.due_at <= bindparam("now", type_=TicketRow.due_at.type))
              .execution_options(populate_existing=True))
_LOCK_MANY_SKIP_LOCKED = _LOCK_MANY.with_for_update(skip_locked=True)


def events_since_last_move(tx: Session, ticket_id: int, kind: str) -> int:
    """How many ``kind`` events the ticket has had since its status last
    changed: the reminders of the current wait (a new question or a new
    solution is a move, and starts the count again).  A reminder ladder
    numbers its mails by it, with no column of its own."""
    moved = (select(func.coalesce(func.max(EventRow.id), 0))
             .where(EventRow.ticket_id == ticket_id, EventRow.to_status.is_not(None)).scalar_subquery())
    query = (select(func.count()).select_from(EventRow)
             .where(EventRow.ticket_id == ticket_id, EventRow.kind == kind, EventRow.id > moved))
    return int(tx.scalar(query) or 0)


def overdue(tx: Session, now: datetime, *, mailbox: str | None = None, limit: int = 100) -> list[TicketRow]:
    """Open tickets past an SLA target they have not met, most overdue first."""
    late_first = and_(TicketRow.first_response_due_at <= now, TicketRow.first_response_at.is_(None))
    late_resolution = and_(TicketRow.resolution_due_at <= now, TicketRow.resolved_at.is_(None))
    query = (select(TicketRow).where(or_(late_first, late_resolution),
                                     TicketRow.status.not_in(("closed", "rejected")))
             .order_by(func.coalesce(TicketRow.first_response_due_at, TicketRow.resolution_due_at), TicketRow.id).limit(limit))
    if mailbox:
        query = query.where(TicketRow.mailbox == mailbox)
    return list(tx.scalars(query))
