"""Counts per key and window of time, for caps that must hold everywhere.

A cap kept in memory resets with every restart and counts once per
process; the team must get at most N forgery warnings an hour whichever
node processed the mails.  One upsert reads and bumps the count, in the
caller's transaction: if the mail's transaction rolls back, so does its
count.  Older windows of the same key are dropped as a new one starts, so
the table holds about one row per active key.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.store.models import CounterRow


def bump(tx: Session, key: str, *, at: datetime, window: timedelta = timedelta(hours=1)) -> int:
    """Count one more for ``key`` in the window holding ``at``; returns the
    count including this one (1 for the first)."""
    seconds = int(window.total_seconds())
    start = datetime.fromtimestamp(int(at.timestamp()) // seconds * seconds, tz=at.tzinfo)
    dialect = postgresql if tx.get_bind().dialect.name == "postgresql" else sqlite
    statement = (dialect.insert(CounterRow).values(key=key[:400], window_start=start, count=1)
                 .on_conflict_do_update(index_elements=["key", "window_start"], set_={"count": CounterRow.count + 1})
                 .returning(CounterRow.count))
    count = int(tx.execute(statement).scalar_one())
    if count == 1:
        tx.execute(delete(CounterRow).where(CounterRow.key == key[:400], CounterRow.window_start < start))
    return count
