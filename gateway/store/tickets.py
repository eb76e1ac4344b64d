"""Ticket queries: create, find by protocol or Message-ID, timeline rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from gateway.store.models import (
    AttachmentRow,
    EventRow,
    MessageRow,
    OutboxRow,
    ParticipantRow,
    SequenceRow,
    ThreadRefRow,
    TicketRow,
)


def next_sequence(tx: Session, prefix: str, year: int) -> int:
    """The next sequence number for ``prefix`` in ``year``, unique under concurrency.

    One atomic upsert: on PostgreSQL the row lock serialises concurrent
    callers until commit; on SQLite the transaction already holds the write
    lock.  A rollback gives the number back, so the sequence has no gaps
    from failed mails.
    """
    dialect = sqlite if tx.get_bind().dialect.name == "sqlite" else postgresql
    statement = dialect.insert(SequenceRow).values(prefix=prefix, year=year, last=1)
    statement = statement.on_conflict_do_update(
        index_elements=[SequenceRow.prefix, SequenceRow.year], set_={"last": SequenceRow.last + 1}
    ).returning(SequenceRow.last)
    return int(tx.execute(statement).scalar_one())


def add_ticket(tx: Session, **fields: object) -> TicketRow:
    ticket = TicketRow(**fields)
    tx.add(ticket)
    tx.flush()
    return ticket


def by_protocol(tx: Session, protocol: str) -> TicketRow | None:
    return tx.scalar(select(TicketRow).where(TicketRow.protocol == protocol))


def by_id(tx: Session, ticket_id: int) -> TicketRow | None:
    return tx.get(TicketRow, ticket_id)


def by_message_ids(tx: Session, message_ids: Iterable[str]) -> TicketRow | None:
    """The ticket of the newest known Message-ID among ``message_ids``."""
    ids = [m for m in message_ids if m]
    if not ids:
        return None
    query = (select(TicketRow).join(ThreadRefRow, ThreadRefRow.ticket_id == TicketRow.id)
             .where(ThreadRefRow.message_id.in_(ids)))
    found = {ref: ticket for ticket, ref in tx.execute(query.add_columns(ThreadRefRow.message_id))}
    for message_id in reversed(ids):  # References run oldest to newest
        if message_id in found:
            return found[message_id]
    return None


def known_message_ids(tx: Session, message_ids: Iterable[str]) -> set[str]:
    ids = [m for m in message_ids if m]
    if not ids:
        return set()
    return set(tx.scalars(select(ThreadRefRow.message_id).where(ThreadRefRow.message_id.in_(ids))))


def add_thread_ref(tx: Session, message_id: str | None, ticket_id: int, *, ours: bool) -> None:
    """Remember a Message-ID for threading; ours are fresh, so not looked up."""
    if message_id and (ours or tx.get(ThreadRefRow, message_id) is None):
        tx.add(ThreadRefRow(message_id=message_id, ticket_id=ticket_id, ours=ours))


def participants(tx: Session, ticket_id: int) -> set[str]:
    return set(tx.scalars(select(ParticipantRow.address).where(ParticipantRow.ticket_id == ticket_id)))


def add_participants(tx: Session, ticket_id: int, addresses: Iterable[str], *, new: bool = False) -> None:
    known = set() if new else participants(tx, ticket_id)
    for address in sorted(set(addresses) - known):
        tx.add(ParticipantRow(ticket_id=ticket_id, address=address))


def add_message(tx: Session, ticket: TicketRow, *, attachments: Iterable[dict[str, object]] = (),
                **fields: object) -> MessageRow:
    message = MessageRow(ticket_id=ticket.id, **fields)
    message.attachments.extend(AttachmentRow(**attachment) for attachment in attachments)
    tx.add(message)  # inserted at the next flush, with its attachments
    return message


def add_event(tx: Session, ticket: TicketRow, *, at: datetime, actor: str, kind: str, note: str = "",
              from_status: str | None = None, to_status: str | None = None) -> EventRow:
    event = EventRow(ticket_id=ticket.id, at=at, actor=actor, kind=kind, note=note,
                     from_status=from_status, to_status=to_status)
    tx.add(event)
    return event


def listing(tx: Session, *, mailbox: str | None = None, status: str | None = None,
            limit: int = 100) -> list[TicketRow]:
    query = select(TicketRow).order_by(TicketRow.id.desc()).limit(limit)
    if mailbox:
        query = query.where(TicketRow.mailbox == mailbox)
    if status:
        query = query.where(TicketRow.status == status)
    return list(tx.scalars(query))


def full(tx: Session, protocol: str) -> TicketRow | None:
    """A ticket with its messages, attachments and events loaded."""
    query = (select(TicketRow).where(TicketRow.protocol == protocol)
             .options(selectinload(TicketRow.messages).selectinload(MessageRow.attachments),
                      selectinload(TicketRow.events)))
    return tx.scalar(query)


def thread_for(tx: Session, ticket_id: int, *, ours_only: bool, kinds: tuple[str, ...] = ()) -> list[str]:
    """Message-IDs of a ticket, oldest first: the References of our next mail.

    With ``ours_only`` and ``kinds``, only outbox mails of those kinds (the
    team's thread); otherwise the requester's side: their mails and ours to
    them.
    """
    if ours_only:
        query = select(OutboxRow.message_id).where(OutboxRow.ticket_id == ticket_id)
        if kinds:
            query = query.where(OutboxRow.kind.in_(kinds))
        return list(tx.scalars(query.order_by(OutboxRow.id)))
    ours = select(OutboxRow.message_id, OutboxRow.created_at).where(  # team_* mails are the team's thread
        OutboxRow.ticket_id == ticket_id, OutboxRow.kind.not_like("team\\_%", escape="\\"))
    theirs = select(MessageRow.message_id, MessageRow.sent_at).where(
        MessageRow.ticket_id == ticket_id, MessageRow.role.in_(("requester", "participant")),
        MessageRow.message_id.is_not(None))
    rows = sorted([*tx.execute(ours), *tx.execute(theirs)], key=lambda r: r[1])
    return [r[0] for r in rows][-20:]


def events(tx: Session, ticket_id: int) -> list[EventRow]:
    return list(tx.scalars(select(EventRow).where(EventRow.ticket_id == ticket_id).order_by(EventRow.id)))
