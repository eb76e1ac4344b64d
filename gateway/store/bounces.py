"""Addresses a delivery report said are dead (``bouncing_address``).

Marked by ``services.bounces`` after a hard bounce; read by the writer
before it sends a reminder or an automatic closing notice to a requester
(``tickets.bounces.AUTOMATIC_TO_REQUESTER``).  One row per address: a later
bounce updates it and counts.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from typing import NamedTuple

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from gateway.store.compiled import Compiled
from gateway.store.models import BouncingAddressRow
from gateway.store.tx import Tx

_MARK = Compiled(select(BouncingAddressRow.status, BouncingAddressRow.reason, BouncingAddressRow.failed_at)
                 .where(BouncingAddressRow.address == bindparam("address")))


class Mark(NamedTuple):
    """What a timeline line says of a dead address."""

    status: str
    reason: str
    failed_at: datetime


def mark(tx: Session, address: str, *, at: datetime, status: str, reason: str, diagnostic: str,
         outbox_id: int | None) -> BouncingAddressRow:
    """Mark ``address`` dead (or count one more bounce of it)."""
    row = tx.get(BouncingAddressRow, address)
    if row is None:
        row = BouncingAddressRow(address=address, failed_at=at, status=status[:16], reason=reason[:32],
                                 diagnostic=diagnostic[:2000], outbox_id=outbox_id, bounces=1)
        tx.add(row)
        return row
    row.failed_at, row.status, row.reason = at, status[:16], reason[:32]
    row.diagnostic, row.outbox_id, row.bounces = diagnostic[:2000], outbox_id, row.bounces + 1
    return row


def mark_of(tx: Tx, address: str) -> Mark | None:
    """``address``'s mark, read without flushing the transaction: a sweep
    asks it for each reminder and automatic closing, and ``get`` (the
    Session's) wrote the group's pending rows and dirty tickets each time,
    half of a sweep's cost (bench/nodes.py, issue 19).  A mark added in this
    transaction and not yet flushed is found among the Session's new or
    changed rows; ``clear`` deletes at once, so the table answers for it."""
    for row in (*tx.new, *tx.dirty):
        if isinstance(row, BouncingAddressRow) and row.address == address:
            return Mark(row.status, row.reason, row.failed_at)
    found = _MARK.first(tx, {"address": address})
    return None if found is None else Mark(*found)


def bouncing(tx: Session, addresses: Collection[str]) -> set[str]:
    """Which of ``addresses`` are marked dead."""
    if not addresses:
        return set()
    return set(tx.scalars(select(BouncingAddressRow.address).where(BouncingAddressRow.address.in_(list(addresses)))))


def clear(tx: Session, address: str) -> bool:
    """The address works again (its owner wrote, proven): unmark it.  One
    DELETE, not a read and an ORM delete: two nodes clearing the same
    address at once both succeed, the second finding nothing (an ORM delete
    of a row gone meanwhile would fail the whole group of mails)."""
    deleted = tx.execute(delete(BouncingAddressRow).where(BouncingAddressRow.address == address))
    return bool(deleted.rowcount)  # type: ignore[attr-defined]
