"""What the daily digest lists, and the day it last went out per mailbox.

The digest is read from the ticket rows as they stand: the open tickets of
one mailbox, sorted into four lists (overdue, due today, new, waiting for
the citizen); the team's digest holds them all, an assignee's only theirs.
``digest_sent`` (migration 0012) records per mailbox the last local day
whose digest was queued; :func:`claim_day` sets it in the transaction that
queues the mails, so a restart or a second node finds it taken and sends
nothing (one upsert: PostgreSQL re-checks its ``WHERE`` once the first
transaction commits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.store.models import DigestSentRow, TicketRow

#: The states a digest looks at: the ones someone still has to act on, and
#: waiting (the citizen has to).  Solved tickets close by themselves.
LISTED: Final = ("new", "assigned", "open", "waiting")
#: At most this many tickets per mailbox are read; a desk with more open
#: tickets gets the first ones by deadline and the count of the rest.
MAX_TICKETS: Final = 2000


@dataclass
class Buckets:
    """One reader's tickets, each in the one list that matters most:
    overdue, then due today, then new (nobody acted on it yet); waiting
    tickets (the citizen must answer) are only in ``waiting``."""

    overdue: list[TicketRow] = field(default_factory=list)
    due_today: list[TicketRow] = field(default_factory=list)
    new: list[TicketRow] = field(default_factory=list)
    waiting: list[TicketRow] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.overdue) + len(self.due_today) + len(self.new) + len(self.waiting)

    def of(self, assignee: str) -> Buckets:
        """Only the tickets assigned to ``assignee``."""
        def mine(rows: list[TicketRow]) -> list[TicketRow]:
            return [row for row in rows if (row.assignee or "").lower() == assignee]
        return Buckets(mine(self.overdue), mine(self.due_today), mine(self.new), mine(self.waiting))

    def assignees(self) -> list[str]:
        """Everyone with a listed ticket, sorted."""
        rows = self.overdue + self.due_today + self.new + self.waiting
        return sorted({row.assignee.lower() for row in rows if row.assignee})


def next_target(ticket: TicketRow) -> datetime | None:
    """The ticket's soonest SLA target not yet met (first response, resolution)."""
    targets = [due for due, met in ((ticket.first_response_due_at, ticket.first_response_at),
                                    (ticket.resolution_due_at, ticket.resolved_at)) if due is not None and met is None]
    return min(targets) if targets else None


def buckets(tx: Session, mailbox: str, *, now: datetime, day_end: datetime) -> Buckets:
    """``mailbox``'s tickets sorted into the digest's lists as of ``now``;
    ``day_end``: the end of the mailbox's local day (UTC), when "due today" ends."""
    rows = tx.scalars(select(TicketRow).where(TicketRow.mailbox == mailbox, TicketRow.status.in_(LISTED))
                      .order_by(TicketRow.id).limit(MAX_TICKETS))
    found = Buckets()
    for row in rows:
        target = next_target(row)
        if row.status == "waiting":
            found.waiting.append(row)
        elif target is not None and target <= now:
            found.overdue.append(row)
        elif target is not None and target < day_end:
            found.due_today.append(row)
        elif row.status in ("new", "assigned"):
            found.new.append(row)
    for listed in (found.overdue, found.due_today):
        listed.sort(key=lambda row: (next_target(row), row.id))
    return found


def claim_day(tx: Session, mailbox: str, day: date, *, at: datetime, force: bool = False) -> bool:
    """Record that ``day``'s digest of ``mailbox`` is being queued; False
    when it already was (an earlier run, another node).  ``force``: record
    it even so (a digest sent by hand)."""
    dialect = postgresql if tx.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(DigestSentRow).values(mailbox=mailbox, day=day.isoformat(), sent_at=at)
    newer = None if force else DigestSentRow.day < statement.excluded.day
    statement = statement.on_conflict_do_update(
        index_elements=["mailbox"], set_={"day": statement.excluded.day, "sent_at": statement.excluded.sent_at},
        where=newer).returning(DigestSentRow.mailbox)
    return tx.execute(statement).first() is not None


def last_day(tx: Session, mailbox: str) -> date | None:
    """The last local day whose digest of ``mailbox`` was queued, if any."""
    day = tx.scalar(select(DigestSentRow.day).where(DigestSentRow.mailbox == mailbox))
    return date.fromisoformat(day) if day else None
