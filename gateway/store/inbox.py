"""Raw mail in, outcomes recorded, duplicates recognised, quarantine kept.

The inbox row is written and committed before the peer hears ``250``;
everything after that (processing, quarantine) only updates it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gateway.store.models import InboxRow, MailKeyRow, QuarantineRow


def add_accepted(tx: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert accepted mails; returns their ids in the same order."""
    objects = [InboxRow(status="accepted", **row) for row in rows]
    tx.add_all(objects)
    tx.flush()
    return [obj.id for obj in objects]


def pending_ids(tx: Session, limit: int, after: int = 0) -> list[int]:
    query = (select(InboxRow.id).where(InboxRow.status == "accepted", InboxRow.id > after)
             .order_by(InboxRow.id).limit(limit))
    return list(tx.scalars(query))


def claim(tx: Session, inbox_id: int, *, skip_locked: bool) -> InboxRow | None:
    """The row if it still waits for processing, locked for this transaction.

    On PostgreSQL another node holding the row makes this return None
    (``SKIP LOCKED``); on SQLite the write lock taken at BEGIN already
    serialises processors, so re-reading the status is enough.
    """
    query = select(InboxRow).where(InboxRow.id == inbox_id, InboxRow.status == "accepted")
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return tx.scalars(query).first()


def get(tx: Session, inbox_id: int) -> InboxRow | None:
    return tx.get(InboxRow, inbox_id)


def finish(tx: Session, row: InboxRow, *, status: str, outcome: str, reason: str | None,
           ticket_id: int | None, at: datetime) -> None:
    row.status, row.outcome, row.reason = status, outcome, reason
    row.ticket_id, row.processed_at = ticket_id, at


def quarantine(tx: Session, inbox_id: int, *, step: str, reason: str, at: datetime) -> None:
    tx.execute(update(InboxRow).where(InboxRow.id == inbox_id)
               .values(status="quarantined", outcome="quarantined", reason=reason, processed_at=at))
    tx.add(QuarantineRow(inbox_id=inbox_id, step=step, reason=reason, created_at=at))


def quarantined(tx: Session, *, include_released: bool = False) -> list[tuple[QuarantineRow, InboxRow]]:
    query = select(QuarantineRow, InboxRow).join(InboxRow, InboxRow.id == QuarantineRow.inbox_id)
    if not include_released:
        query = query.where(QuarantineRow.released_at.is_(None))
    return [(q, i) for q, i in tx.execute(query.order_by(QuarantineRow.id))]


def release(tx: Session, quarantine_id: int, at: datetime) -> InboxRow | None:
    """Send a quarantined mail through processing again (after a fix)."""
    entry = tx.get(QuarantineRow, quarantine_id)
    if entry is None or entry.released_at is not None:
        return None
    entry.released_at = at
    row = tx.get(InboxRow, entry.inbox_id)
    assert row is not None
    row.status, row.outcome, row.reason, row.processed_at = "accepted", None, None, None
    return row


def key_owner(tx: Session, key: str) -> int | None:
    """The inbox id that already used this dedupe key, if any."""
    with tx.no_autoflush:  # keys of other mails are committed; nothing pending matters
        return tx.scalar(select(MailKeyRow.inbox_id).where(MailKeyRow.key == key))


def add_key(tx: Session, key: str, inbox_id: int) -> None:
    tx.add(MailKeyRow(key=key, inbox_id=inbox_id))


def counts(tx: Session) -> dict[str, int]:
    return {status: n for status, n in tx.execute(select(InboxRow.status, func.count()).group_by(InboxRow.status))}
