"""The outbox table: queued in the caller's transaction, claimed by the sender."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from gateway.store.compiled import Compiled
from gateway.store.models import OutboxRow
from gateway.store.rows import OUTBOX
from gateway.store.tx import Tx

# Built once and run on the driver's cursor (store.compiled says why).
INSERT = OUTBOX.insert
_COUNT_RECENT = Compiled(select(func.count()).select_from(OutboxRow).where(
    OutboxRow.first_rcpt == bindparam("rcpt"), OutboxRow.kind == bindparam("kind"),
    OutboxRow.created_at >= bindparam("since", type_=OutboxRow.created_at.type)))


def add(tx: Tx, *, ticket_id: int | None, kind: str, message_id: str, mail_from: str,
        rcpt_tos: list[str], raw: bytes, at: datetime) -> None:
    """Queue a rendered mail: deferred (store.tx) until the commit;
    the sender reads it back in its own transaction, never this one."""
    INSERT.defer(tx, {
        "ticket_id": ticket_id, "kind": kind, "message_id": message_id, "mail_from": mail_from, "rcpt_tos": rcpt_tos,
        "first_rcpt": rcpt_tos[0], "raw": raw, "status": "queued", "attempts": 0, "created_at": at,
        "next_attempt_at": at})


def claim_due(tx: Session, now: datetime, limit: int, *, skip_locked: bool) -> list[OutboxRow]:
    """Rows due now: queued ones, and 'sending' ones whose lease ran out
    (their sender died mid-delivery)."""
    query = (select(OutboxRow).where(OutboxRow.status.in_(("queued", "sending")), OutboxRow.next_attempt_at <= now)
             .order_by(OutboxRow.next_attempt_at, OutboxRow.id).limit(limit))
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return list(tx.scalars(query))


def release_leases(tx: Session, now: datetime) -> int:
    """Give every 'sending' row back to the queue.  Only safe when no other
    sender can be running (one node on SQLite, at start)."""
    result = tx.execute(update(OutboxRow).where(OutboxRow.status == "sending")
                        .values(status="queued", next_attempt_at=now))
    return int(result.rowcount or 0)


def next_due(tx: Session) -> datetime | None:
    return tx.scalar(select(func.min(OutboxRow.next_attempt_at)).where(OutboxRow.status == "queued"))


def count_recent(tx: Tx, *, rcpt: str, kind: str, since: datetime) -> int:
    written = int(_COUNT_RECENT.scalar(tx, {"rcpt": rcpt, "kind": kind, "since": since}, merged=True) or 0)
    return written + sum(1 for row in tx.pending(INSERT)  # queued in this transaction, not yet written
                         if row["rcpt_tos"][0] == rcpt and row["kind"] == kind and row["created_at"] >= since)


def for_ticket(tx: Session, ticket_id: int) -> list[OutboxRow]:
    return list(tx.scalars(select(OutboxRow).where(OutboxRow.ticket_id == ticket_id).order_by(OutboxRow.id)))


def get(tx: Session, outbox_id: int) -> OutboxRow | None:
    return tx.get(OutboxRow, outbox_id)


def counts(tx: Session) -> dict[str, int]:
    return {s: n for s, n in tx.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status))}
