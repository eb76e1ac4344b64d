"""Days off from an iCalendar file: a city's holidays, a desk's closures.

``holidays`` knows the national and state holidays; a municipal one
(20 November in São Paulo), a ponto facultativo or a desk's own closure
came only as ``closed_dates``, typed by hand each year.  Councils and
intranets publish them as ``.ics`` files: ``[[mailbox]] closed_calendar``
names one, read here when the mailbox's business calendar is built (at
start-up, and by check-config) (PITFALLS 6, "holiday feeds").

Only whole days count: an all-day event closes its day, one spanning
several days each of them (``DTEND`` is exclusive), a yearly one (``RRULE:
FREQ=YEARLY``, with ``COUNT`` or ``UNTIL`` or neither) every year up to
``_LAST_YEAR``, minus its ``EXDATE``s.  A timed event (a closure from
14:00) or another repetition cannot be turned into whole days without
guessing: the file is refused, naming the event, rather than read wrong.
The file is read, never fetched: the gateway opens no connection for it,
and a new year's file takes effect at the next start, as any
configuration does.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from icalendar import Calendar

#: A yearly event with no end repeats up to this year: deadlines are never further away.
_LAST_YEAR: Final = 2100
_MAX_DAYS_PER_EVENT: Final = 366  # a "closure" of more than a year is a mistake in the file


class FeedError(ValueError):
    """The file cannot be read as whole days off; the message says which event and why."""


def closed_days(path: Path) -> tuple[date, ...]:
    """Every day the calendar file at ``path`` closes, in order, each once."""
    try:
        calendar = Calendar.from_ical(path.read_bytes())
    except OSError as error:
        raise FeedError(f"cannot be read ({error.strerror or error})") from None
    except ValueError as error:
        raise FeedError(f"is not an iCalendar file ({error})") from None
    days: set[date] = set()
    for event in calendar.walk("VEVENT"):
        try:
            days.update(_days_of(event))
        except (TypeError, ValueError, KeyError, AttributeError) as error:  # a value icalendar left unread
            if isinstance(error, FeedError):
                raise
            raise FeedError(f"the event {_name(event)!r} cannot be read as whole days ({error})") from None
    return tuple(sorted(days))


def _name(event: Any) -> str:
    return str(event.get("SUMMARY", "")) or str(event.get("UID", "")) or "an event"


def _days_of(event: Any) -> set[date]:
    name = _name(event)
    start = event.decoded("DTSTART", None)
    if start is None:
        raise FeedError(f"the event {name!r} has no DTSTART")
    if not isinstance(start, date):
        raise FeedError(f"the event {name!r} has a DTSTART that is no date ({start!r})")
    if isinstance(start, datetime):
        raise FeedError(f"the event {name!r} starts at a time ({start.isoformat()}), not on a whole day; "
                        "only all-day events (DTSTART;VALUE=DATE) can close days")
    end = event.decoded("DTEND", None) or start + timedelta(days=1)
    if not isinstance(end, date):
        raise FeedError(f"the event {name!r} has a DTEND that is no date ({end!r})")
    if isinstance(end, datetime):
        end = end.date()
    span = (end - start).days
    if not 0 < span <= _MAX_DAYS_PER_EVENT:
        raise FeedError(f"the event {name!r} lasts {span} days; expected 1 to {_MAX_DAYS_PER_EVENT}")
    firsts = _repeated(event, start, name)
    return {first + timedelta(days=offset) for first in firsts for offset in range(span)}


def _repeated(event: Any, start: date, name: str) -> list[date]:
    """The event's first days: ``start``, or each year's for ``FREQ=YEARLY``."""
    rule = event.get("RRULE")
    if rule is None:
        return [start]
    frequency = rule.get("FREQ", [""])[0]
    others = set(rule) - {"FREQ", "COUNT", "UNTIL", "INTERVAL"}
    if frequency != "YEARLY" or others:
        raise FeedError(f"the event {name!r} repeats as {rule.to_ical().decode()}; only FREQ=YEARLY (with COUNT, "
                        "UNTIL or INTERVAL) is read: list the other days as events of their own")
    interval = int(rule.get("INTERVAL", [1])[0])
    count = int(rule["COUNT"][0]) if "COUNT" in rule else None
    until = rule["UNTIL"][0] if "UNTIL" in rule else None
    if isinstance(until, datetime):
        until = until.date()
    excluded = _excluded(event)
    firsts: list[date] = []
    for year in range(start.year, _LAST_YEAR + 1, max(interval, 1)):  # bounded by _LAST_YEAR
        try:
            day = start.replace(year=year)
        except ValueError:  # 29 February in a common year: RFC 5545 skips it
            continue
        if (until is not None and day > until) or (count is not None and len(firsts) >= count):
            break
        if day not in excluded:
            firsts.append(day)
    return firsts


def _excluded(event: Any) -> set[date]:
    values = event.get("EXDATE")
    if values is None:
        return set()
    out: set[date] = set()
    for value in values if isinstance(values, list) else [values]:
        for item in value.dts:
            moment = item.dt
            out.add(moment.date() if isinstance(moment, datetime) else moment)
    return out
