"""What the read-only team page reads: the queue's rows, and its sessions.

The queue is one query per page: the analyst's mailboxes, the filters,
newest first, at most ``limit`` rows after the ``before`` id (keyset
paging: page 20 costs what page 1 does).  "Overdue" and "due today" are
the daily digest's (``store.digest``): a ticket someone still has to act on
(new, assigned, open) whose soonest unmet SLA target has passed, or falls
before the end of the desk's day.  They read ``ix_ticket_first_response_due``
and ``ix_ticket_resolution_due`` (partial: unmet targets only); a status
filter reads ``ix_ticket_status`` (status, id) already in the page's order.

Sessions (migration 0014) are rows keyed by the SHA-256 of the cookie's
token; :func:`end_session` deletes the row, so logout is final.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import and_, delete, exists, not_, or_, select
from sqlalchemy.orm import Session

from gateway.store.models import MessageRow, TeamSessionRow, TicketRow

#: States with an SLA someone must still meet (the digest's, less waiting: the citizen must act).
ACTING: Final = ("new", "assigned", "open")
DUE_FILTERS: Final = ("overdue", "today")


@dataclass(frozen=True)
class QueueFilter:
    """What the analyst asked for; empty strings mean "any"."""

    mailboxes: Sequence[str]  # the analyst's, or the one chosen among them; never empty
    status: str = ""
    category: str = ""
    assignee: str = ""  # an address, or "-" for nobody
    due: str = ""  # "", "overdue" or "today"
    protocol: str = ""
    requester: str = ""
    text: str = ""


def queue(tx: Session, wanted: QueueFilter, *, now: datetime, day_end: datetime | Mapping[str, datetime],
          limit: int = 50, before: int | None = None) -> list[TicketRow]:
    """The first ``limit`` tickets (newest first) matching ``wanted``, older than ``before``.
    ``day_end``: where "today" ends, or that per mailbox (mailboxes in different time zones)."""
    if not wanted.mailboxes:
        return []
    query = select(TicketRow).order_by(TicketRow.id.desc()).limit(limit)
    if len(wanted.mailboxes) == 1:
        query = query.where(TicketRow.mailbox == wanted.mailboxes[0])
    else:
        query = query.where(TicketRow.mailbox.in_(list(wanted.mailboxes)))
    if before is not None:
        query = query.where(TicketRow.id < before)
    if wanted.status:
        query = query.where(TicketRow.status == wanted.status)
    if wanted.category:
        query = query.where(TicketRow.category == wanted.category)
    if wanted.assignee == "-":
        query = query.where(TicketRow.assignee.is_(None))
    elif wanted.assignee:
        query = query.where(TicketRow.assignee == wanted.assignee)
    if wanted.due:
        query = query.where(TicketRow.status.in_(ACTING), _due(wanted.due, now, day_end))
    if wanted.protocol:
        query = query.where(TicketRow.protocol == wanted.protocol)
    if wanted.requester:
        query = query.where(TicketRow.requester == wanted.requester)
    if wanted.text:
        pattern = "%" + wanted.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        in_messages = exists().where(MessageRow.ticket_id == TicketRow.id,
                                     MessageRow.text.ilike(pattern, escape="\\"))
        query = query.where(or_(TicketRow.subject.ilike(pattern, escape="\\"), in_messages))
    return list(tx.scalars(query))


def _due(kind: str, now: datetime, day_end: datetime | Mapping[str, datetime]):  # type: ignore[no-untyped-def]
    """An unmet SLA target at or before ``now`` (overdue), or, for "today",
    none overdue and one before ``day_end`` (the ticket's mailbox's, when per mailbox)."""
    # A target that is not set (NULL) is neither overdue nor due: IS NOT NULL keeps
    # SQL's unknown out of the NOT below, which would otherwise drop the ticket.
    def unmet_by(moment: datetime):  # type: ignore[no-untyped-def]
        return or_(and_(TicketRow.first_response_due_at.is_not(None), TicketRow.first_response_due_at <= moment,
                        TicketRow.first_response_at.is_(None)),
                   and_(TicketRow.resolution_due_at.is_not(None), TicketRow.resolution_due_at <= moment,
                        TicketRow.resolved_at.is_(None)))

    def due_before(end: datetime):  # type: ignore[no-untyped-def]
        return or_(and_(TicketRow.first_response_due_at < end, TicketRow.first_response_at.is_(None)),
                   and_(TicketRow.resolution_due_at < end, TicketRow.resolved_at.is_(None)))
    if kind == "overdue":
        return unmet_by(now)
    if kind == "today":
        ends = day_end if isinstance(day_end, Mapping) else {}
        if not ends or len(set(ends.values())) == 1:  # one zone: one range, as the indexes like it
            before_end = due_before(next(iter(ends.values())) if ends else day_end)  # type: ignore[arg-type]
        else:
            before_end = or_(*(and_(TicketRow.mailbox == mailbox, due_before(end)) for mailbox, end in ends.items()))
        return and_(before_end, not_(unmet_by(now)))
    raise ValueError(f"due filter {kind!r} is not one of {', '.join(DUE_FILTERS)}")


def mailbox_of(tx: Session, protocol: str) -> str | None:
    """The mailbox of the ticket ``protocol``, None when there is none (the
    page checks who may see it before reading its thread)."""
    return tx.scalar(select(TicketRow.mailbox).where(TicketRow.protocol == protocol))


# -- sessions -------------------------------------------------------------------


def add_session(tx: Session, token_hash: str, login: str, *, credential: str, at: datetime,
                expires_at: datetime) -> None:
    """Open a session; expired ones are deleted first (so the table holds only live sessions)."""
    tx.execute(delete(TeamSessionRow).where(TeamSessionRow.expires_at <= at))
    tx.add(TeamSessionRow(token_hash=token_hash, login=login, credential=credential, created_at=at,
                          expires_at=expires_at))


def session_login(tx: Session, token_hash: str, *, at: datetime) -> tuple[str, str] | None:
    """The login of a live session with this token hash and the credential
    fingerprint it was opened under, else None."""
    found = tx.execute(select(TeamSessionRow.login, TeamSessionRow.credential)
                       .where(TeamSessionRow.token_hash == token_hash, TeamSessionRow.expires_at > at)).first()
    return None if found is None else (found[0], found[1])


def end_session(tx: Session, token_hash: str) -> bool:
    """Delete the session; whether there was one."""
    return bool(tx.execute(delete(TeamSessionRow).where(TeamSessionRow.token_hash == token_hash)).rowcount)
