"""Days off from an iCalendar file: a city's holidays, a desk's closures.

``holidays`` knows the national and state holidays; a municipal one
(20 November in São Paulo), a ponto facultativo or a desk's own closure
came only as ``closed_dates``, typed by hand each year.  Councils and
intranets publish them as ``.ics`` files: ``[[mailbox]] closed_calendar``
names one, read here when the mailbox's business calendar is built (at
start-up, and by check-config) (PITFALLS 6, "holiday feeds").

Only whole days count: an all-day event closes its day, one spanning
several days each of them (``DTEND`` exclusive, or ``DURATION`` in days),
a yearly one (``RRULE:FREQ=YEARLY``, as Outlook writes it too with its
``BYMONTH``/``BYMONTHDAY``, with ``COUNT``, ``UNTIL`` or ``INTERVAL``)
every year up to ``_LAST_YEAR``, plus its ``RDATE``s, minus its
``EXDATE``s and the occurrences moved on their own (``RECURRENCE-ID``);
a cancelled event closes nothing.  A timed event (a closure from 14:00),
another repetition or a value icalendar could not parse cannot be turned
into whole days without guessing: the file is refused, naming the event,
rather than read wrong.
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
    events = list(calendar.walk("VEVENT"))
    # An occurrence moved or cancelled on its own (RECURRENCE-ID) leaves its
    # series; the moving event, if it is not cancelled, closes its own days.
    moved: dict[str, set[date]] = {}
    for event in events:
        if event.get("RECURRENCE-ID") is not None:
            moved.setdefault(str(event.get("UID", "")), set()).add(_day(event.decoded("RECURRENCE-ID")))
    days: set[date] = set()
    for event in events:
        try:
            if str(event.get("STATUS", "")).upper() == "CANCELLED":
                continue
            unread = getattr(event, "errors", None)
            if unread:  # icalendar keeps going past a value it cannot parse, and lists it here
                raise FeedError(f"the event {_name(event)!r} has values that cannot be read: {unread}")
            skipped = set() if event.get("RECURRENCE-ID") is not None else moved.get(str(event.get("UID", "")), set())
            days.update(_days_of(event, skipped))
        except FeedError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as error:  # a value left unread
            raise FeedError(f"the event {_name(event)!r} cannot be read as whole days ({error})") from None
    return tuple(sorted(days))


def _name(event: Any) -> str:
    return str(event.get("SUMMARY", "")) or str(event.get("UID", "")) or "an event"


def _day(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def _days_of(event: Any, skipped: set[date]) -> set[date]:
    name = _name(event)
    start = event.decoded("DTSTART", None)
    if start is None:
        raise FeedError(f"the event {name!r} has no DTSTART")
    if not isinstance(start, date):
        raise FeedError(f"the event {name!r} has a DTSTART that is no date ({start!r})")
    if isinstance(start, datetime):
        raise FeedError(f"the event {name!r} starts at a time ({start.isoformat()}), not on a whole day; "
                        "only all-day events (DTSTART;VALUE=DATE) can close days")
    end = event.decoded("DTEND", None)
    if end is None and event.get("DURATION") is not None:
        length = event.decoded("DURATION")
        if not isinstance(length, timedelta) or length.seconds or length.microseconds:
            raise FeedError(f"the event {name!r} lasts {length}, not whole days")
        end = start + length
    end = end or start + timedelta(days=1)
    if not isinstance(end, date):
        raise FeedError(f"the event {name!r} has a DTEND that is no date ({end!r})")
    end = _day(end)
    span = (end - start).days
    if not 0 < span <= _MAX_DAYS_PER_EVENT:
        raise FeedError(f"the event {name!r} lasts {span} days; expected 1 to {_MAX_DAYS_PER_EVENT}")
    firsts = [first for first in [*_repeated(event, start, name), *_extra(event)] if first not in skipped]
    return {first + timedelta(days=offset) for first in firsts for offset in range(span)}


def _repeated(event: Any, start: date, name: str) -> list[date]:
    """The event's first days: ``start``, or each year's for ``FREQ=YEARLY``
    (COUNT counts the occurrences before EXDATE takes any out, RFC 5545 3.8.5.1)."""
    rule = event.get("RRULE")
    if rule is None:
        return [] if start in _excluded(event) else [start]
    frequency = rule.get("FREQ", [""])[0]
    written = rule.to_ical().decode()
    others = set(rule) - {"FREQ", "COUNT", "UNTIL", "INTERVAL", "WKST", "BYMONTH", "BYMONTHDAY"}
    # Outlook writes a yearly holiday as FREQ=YEARLY;BYMONTH=11;BYMONTHDAY=20: the same day as DTSTART.
    same_day = rule.get("BYMONTH", [start.month]) == [start.month] and rule.get("BYMONTHDAY", [start.day]) == [start.day]
    if frequency != "YEARLY" or others or not same_day:
        raise FeedError(f"the event {name!r} repeats as {written}; only FREQ=YEARLY on its DTSTART's day (with "
                        "COUNT, UNTIL or INTERVAL) is read: list the other days as events of their own")
    interval = int(rule.get("INTERVAL", [1])[0])
    if interval < 1:
        raise FeedError(f"the event {name!r} repeats as {written}; INTERVAL must be 1 or more")
    count = int(rule["COUNT"][0]) if "COUNT" in rule else None
    until = _day(rule["UNTIL"][0]) if "UNTIL" in rule else None
    occurrences: list[date] = []
    for year in range(start.year, _LAST_YEAR + 1, interval):  # bounded by _LAST_YEAR
        try:
            day = start.replace(year=year)
        except ValueError:  # 29 February in a common year: RFC 5545 skips it
            continue
        if (until is not None and day > until) or (count is not None and len(occurrences) >= count):
            break
        occurrences.append(day)
    excluded = _excluded(event)
    return [day for day in occurrences if day not in excluded]


def _extra(event: Any) -> list[date]:
    """RDATE's days (whole days only)."""
    return _dates(event, "RDATE", "RDATE")


def _excluded(event: Any) -> set[date]:
    return set(_dates(event, "EXDATE", None))


def _dates(event: Any, key: str, whole_only: str | None) -> list[date]:
    values = event.get(key)
    if values is None:
        return []
    out: list[date] = []
    for value in values if isinstance(values, list) else [values]:
        for item in value.dts:
            moment = item.dt
            if isinstance(moment, datetime) and whole_only:
                raise FeedError(f"the event {_name(event)!r} has an {whole_only} at a time ({moment.isoformat()}), "
                                "not a whole day")
            if not isinstance(moment, date):
                raise FeedError(f"the event {_name(event)!r} has an {key} that is no date ({moment!r})")
            out.append(_day(moment))
    return out
