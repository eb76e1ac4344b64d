"""The last month whose report went out, per mailbox: in ``digest_sent``.

The monthly report (services.monthly_report) needs what the daily digest
needs: one row per mailbox holding the last period sent, claimed in the
transaction that queues the mail, so a restart or a second node with the
``schedule`` role finds it taken.  ``digest_sent`` (migration 0012) has
that shape (a key of up to 320 characters, a 10-character period that
sorts as it runs, the moment): its rows for the report are keyed
``monthly-report:<address>`` (no service address starts so, and one
has at most 254 characters) and hold ``YYYY-MM``.  No migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.store.models import DigestSentRow

KEY_PREFIX: Final = "monthly-report:"


def key(mailbox: str) -> str:
    return f"{KEY_PREFIX}{mailbox}"


def claim_month(tx: Session, mailbox: str, month: str, *, at: datetime, force: bool = False) -> bool:
    """Record that ``month``'s (``YYYY-MM``) report of ``mailbox`` is being
    queued; False when it, or a later one, already was (an earlier run,
    another node).  ``force`` (a report sent by hand): True whatever was
    sent; the record only ever moves forward, so resending an old month
    does not make the scheduler send a newer one again.  One upsert:
    PostgreSQL re-checks its ``WHERE`` once a concurrent claim commits."""
    dialect = postgresql if tx.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(DigestSentRow).values(mailbox=key(mailbox), day=month, sent_at=at)
    statement = statement.on_conflict_do_update(
        index_elements=["mailbox"], set_={"day": statement.excluded.day, "sent_at": statement.excluded.sent_at},
        where=DigestSentRow.day < statement.excluded.day).returning(DigestSentRow.mailbox)
    claimed = tx.execute(statement).first() is not None
    return claimed or force


def last_month(tx: Session, mailbox: str) -> str | None:
    """The last month (``YYYY-MM``) whose report of ``mailbox`` was queued, if any."""
    found: str | None = tx.scalar(select(DigestSentRow.day).where(DigestSentRow.mailbox == key(mailbox)))
    return found
