"""One business calendar per mailbox, built once from its settings."""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache

from gateway.calendar.business import BusinessCalendar, CalendarConfig
from gateway.config import MailboxConfig
from gateway.durations import Duration


@lru_cache(maxsize=256)
def calendar_for(mailbox: MailboxConfig) -> BusinessCalendar:
    return BusinessCalendar(CalendarConfig(
        timezone=mailbox.timezone,
        workday_start=time.fromisoformat(mailbox.workday_start),
        workday_end=time.fromisoformat(mailbox.workday_end),
        subdivision=mailbox.uf.upper() or None,
        extra_closed=frozenset(date.fromisoformat(d) for d in mailbox.closed_dates),
    ))


def deadline(mailbox: MailboxConfig, start: datetime, limit: Duration) -> datetime:
    """``start`` plus a limit such as ``mailbox.wait_limit`` (``5d``, ``3bd``), on the mailbox's calendar."""
    return calendar_for(mailbox).add(start, limit)


