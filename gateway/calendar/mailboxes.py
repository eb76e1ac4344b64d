"""One business calendar per mailbox, built once from its settings."""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path

from gateway.calendar.business import BusinessCalendar, CalendarConfig
from gateway.config import MailboxConfig
from gateway.durations import Duration
from gateway.errors import ConfigError


@lru_cache(maxsize=256)
def calendar_for(mailbox: MailboxConfig) -> BusinessCalendar:
    """The mailbox's calendar; a ``closed_calendar`` that cannot be read as
    whole days off is a ConfigError naming the file, the mailbox and the event
    (the gateway builds every calendar at start-up, and check-config too)."""
    return BusinessCalendar(CalendarConfig(
        timezone=mailbox.timezone,
        workday_start=time.fromisoformat(mailbox.workday_start),
        workday_end=time.fromisoformat(mailbox.workday_end),
        subdivision=mailbox.uf.upper() or None,
        extra_closed=frozenset(date.fromisoformat(d) for d in mailbox.closed_dates) | _fed(mailbox),
    ))


def _fed(mailbox: MailboxConfig) -> frozenset[date]:
    if not mailbox.closed_calendar:
        return frozenset()
    from gateway.calendar.feeds import FeedError, closed_days  # icalendar: only for a mailbox with a feed

    try:
        return frozenset(closed_days(Path(mailbox.closed_calendar)))
    except FeedError as error:
        raise ConfigError(mailbox.closed_calendar, f"closed_calendar of mailbox {mailbox.address}",
                          f"{error}; fix the file or set closed_calendar = \"\"") from None


def deadline(mailbox: MailboxConfig, start: datetime, limit: Duration) -> datetime:
    """``start`` plus a limit such as ``mailbox.wait_limit`` (``5d``, ``3bd``), on the mailbox's calendar."""
    return calendar_for(mailbox).add(start, limit)


