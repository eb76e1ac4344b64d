"""Counts for ``/healthz`` and ``/metrics``: cheap grouped queries, no rows loaded.

Each figure is one indexed query (the inbox by ``ix_inbox_pending``, the
outbox by ``ix_outbox_due``), so a scrape every 15 s costs nothing a
running gateway would notice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from gateway.store.models import InboxRow, OutboxRow, TicketRow


@dataclass(frozen=True)
class Stats:
    mails_by_status: dict[str, int] = field(default_factory=dict)  # inbox: accepted, processed, ...
    tickets_by_status: dict[str, int] = field(default_factory=dict)
    outbox_by_status: dict[str, int] = field(default_factory=dict)  # queued, sending, sent, failed
    outbox_retrying: int = 0  # queued again after a failed attempt
    outbox_oldest_queued: datetime | None = None
    #: The oldest mail not yet sent that no attempt reached the relay for
    #: (a relay down or refusing the session leaves them uncharged).
    outbox_oldest_untried: datetime | None = None
    deadlines_due: int = 0  # tickets whose due_at has passed and that no sweep has handled yet
    oldest_due: datetime | None = None
    oldest_pending: datetime | None = None  # received_at of the oldest mail accepted and not yet processed
    outbox_due: int = 0  # queued mails whose next attempt is now or past


def ping(tx: Session) -> None:
    """Raise if the database does not answer."""
    tx.execute(text("SELECT 1"))


def collect(tx: Session, now: datetime) -> Stats:
    due_count, oldest_due = tx.execute(
        select(func.count(), func.min(TicketRow.due_at)).where(TicketRow.due_at <= now)).one()
    # Untried: no attempt has reached the relay, as far as is known: never
    # charged one, or in its first attempt still (the relay may be dropping
    # packets), or held by a sender whose lease ran out.
    untried = or_(OutboxRow.attempts == 0,
                  and_(OutboxRow.status == "sending", or_(OutboxRow.attempts == 1, OutboxRow.next_attempt_at < now)))
    retrying, oldest_queued, oldest_untried = tx.execute(
        select(func.count().filter(OutboxRow.attempts > 0), func.min(OutboxRow.created_at),
               func.min(OutboxRow.created_at).filter(untried))
        .where(OutboxRow.status.in_(("queued", "sending")))).one()
    oldest_pending = tx.execute(select(InboxRow.received_at).where(InboxRow.status == "accepted")
                                .order_by(InboxRow.id).limit(1)).scalar()
    outbox_due = tx.execute(select(func.count()).select_from(OutboxRow)
                            .where(OutboxRow.status == "queued", OutboxRow.next_attempt_at <= now)).scalar()
    return Stats(
        mails_by_status=_grouped(tx, InboxRow.status),
        tickets_by_status=_grouped(tx, TicketRow.status),
        outbox_by_status=_grouped(tx, OutboxRow.status),
        outbox_retrying=retrying or 0,
        outbox_oldest_queued=_aware(oldest_queued),
        outbox_oldest_untried=_aware(oldest_untried),
        deadlines_due=due_count or 0,
        oldest_due=_aware(oldest_due),
        oldest_pending=_aware(oldest_pending),
        outbox_due=outbox_due or 0,
    )


def _grouped(tx: Session, column: Any) -> dict[str, int]:
    return {key: count for key, count in tx.execute(select(column, func.count()).group_by(column))}


def _aware(value: datetime | None) -> datetime | None:
    """Aggregates bypass the column type: SQLite hands back naive UTC (or a string)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
