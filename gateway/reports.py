"""The figures of ``gateway report``: periods, working hours, medians, shares.

A team lead asks "how are we doing?": how many tickets came in and went
out, how long the first answer and the resolution took, whether the SLA
promises were kept, what the citizens scored, what is still open and for
how long.  ``gateway.store.reports`` counts what SQL can count (grouped,
one range scan per figure); this module does the arithmetic that SQL
cannot do the same way on SQLite and PostgreSQL: percentiles, and time
measured in the desk's working hours on its calendar (a ticket opened on
Friday at 17:00 and answered on Monday at 09:00 waited 2 working hours,
not 64).  Nothing here reads the clock or the database.

Percentiles interpolate between the two nearest values (PostgreSQL's
``percentile_cont``, numpy's default): the median of 1, 2, 3 and 4 hours
is 2.5 hours, their p90 3.7.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from gateway.calendar.business import BusinessCalendar

#: What the report's rows may be grouped by.
GROUPINGS: Final = ("category", "assignee", "week")
#: The row of a grouped figure whose key is empty (no category, nobody assigned).
NONE_KEY: Final = "(none)"
TOTAL_KEY: Final = "total"
#: Backlog ages at the period's end, in days: [0, 1), [1, 3), [3, 7), [7, 30), [30, ...).
BACKLOG_EDGES: Final = (1, 3, 7, 30)
BACKLOG_LABELS: Final = ("<1d", "1-3d", "3-7d", "7-30d", ">=30d")
COUNTED: Final = ("opened", "closed", "returned", "reopened")
SCORES: Final = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in UTC, from local dates in the desk's zone.

    >>> Period.month("2026-11", "America/Sao_Paulo").start.isoformat()
    '2026-11-01T03:00:00+00:00'
    """

    start: datetime
    end: datetime
    label: str
    zone: str

    @classmethod
    def month(cls, text: str, zone: str) -> Period:
        try:
            first = date.fromisoformat(f"{text.strip()}-01")
        except ValueError:
            raise ValueError(f"month {text!r} is not YYYY-MM, e.g. 2026-11") from None
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return cls(_local_midnight(first, zone), _local_midnight(following, zone), first.strftime("%Y-%m"), zone)

    @classmethod
    def days(cls, first: date, last: date, zone: str) -> Period:
        """From ``first`` to ``last``, both whole days included."""
        if last < first:
            raise ValueError(f"period ends ({last}) before it starts ({first}); --to is the last day included")
        return cls(_local_midnight(first, zone), _local_midnight(last + timedelta(days=1), zone),
                   f"{first.isoformat()}..{last.isoformat()}", zone)

    @property
    def week_anchor(self) -> datetime:
        """Monday 00:00 (local) of the week the period starts in: weeks are counted from it."""
        local = self.start.astimezone(ZoneInfo(self.zone)).date()
        return _local_midnight(local - timedelta(days=local.weekday()), self.zone)

    def week_label(self, index: int) -> str:
        """The Monday that starts week ``index`` (counted from :attr:`week_anchor`)."""
        monday = self.week_anchor.astimezone(ZoneInfo(self.zone)).date() + timedelta(weeks=index)
        return monday.isoformat()


def _local_midnight(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def week_index(moment: datetime, anchor: datetime) -> int:
    """Whole weeks from ``anchor`` to ``moment`` (the SQL side counts the same way)."""
    return math.floor((moment - anchor).total_seconds() / (7 * 86400))


# -- time to respond and to resolve -------------------------------------------


@dataclass(frozen=True)
class Spread:
    """How long something took over ``count`` tickets, in hours (None: no ticket)."""

    count: int
    median: float | None
    p90: float | None


def percentile(ordered: Sequence[float], share: float) -> float:
    """The ``share`` (0-1) percentile of sorted values, interpolated."""
    if not ordered:
        raise ValueError("a percentile of no values")
    rank = share * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(hours: Iterable[float]) -> Spread:
    ordered = sorted(hours)
    if not ordered:
        return Spread(0, None, None)
    return Spread(len(ordered), round(percentile(ordered, 0.5), 2), round(percentile(ordered, 0.9), 2))


class WorkingHours:
    """Hours between two moments, counting only the desk's working hours.

    Built once per report: the working windows of every day from ``first``
    to ``last`` with their running total, so each duration is two binary
    searches (a month of one busy mailbox is tens of thousands of them).
    Moments outside the span fall back to wall-clock hours.  Without a
    calendar (a mailbox no longer configured) every duration is wall-clock.
    """

    def __init__(self, calendar: BusinessCalendar | None, first: datetime, last: datetime) -> None:
        self.calendar = calendar
        self._opens: list[float] = []
        self._closes: list[float] = []
        self._before: list[float] = []  # working seconds before each window opens
        if calendar is None:
            return
        self._first, self._last = first.timestamp(), last.timestamp()
        zone, config = calendar.zone, calendar.config
        day = calendar.local(first).date() - timedelta(days=1)
        end = calendar.local(last).date() + timedelta(days=1)
        total = 0.0
        while day <= end:
            if calendar.is_business_day(day):
                opens = datetime.combine(day, config.workday_start, tzinfo=zone).timestamp()
                closes = datetime.combine(day, config.workday_end, tzinfo=zone).timestamp()
                self._opens.append(opens)
                self._closes.append(closes)
                self._before.append(total)
                total += closes - opens
            day += timedelta(days=1)

    @property
    def business(self) -> bool:
        return self.calendar is not None

    def hours(self, start: datetime, end: datetime) -> float:
        """Working hours from ``start`` to ``end`` (negative if ``end`` comes first)."""
        a, b = start.timestamp(), end.timestamp()
        if self.calendar is None or not (self._first <= min(a, b) and max(a, b) <= self._last):
            return (b - a) / 3600
        return (self._worked(b) - self._worked(a)) / 3600

    def _worked(self, moment: float) -> float:
        """Working seconds from the span's first window to ``moment``."""
        index = bisect_right(self._opens, moment) - 1
        if index < 0:
            return 0.0
        return self._before[index] + min(moment, self._closes[index]) - self._opens[index]


# -- the report -----------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the main table: a group (or the total) and its figures."""

    key: str
    counts: Mapping[str, int]  # COUNTED
    first_response: Spread
    resolution: Spread
    satisfaction_mean: float | None
    satisfaction_answers: int


@dataclass(frozen=True)
class SlaShare:
    """One SLA target over one category's tickets opened in the period."""

    met: int
    missed: int
    pending: int  # no response yet, target still ahead

    @property
    def percent(self) -> float | None:
        decided = self.met + self.missed
        return round(100 * self.met / decided, 1) if decided else None


@dataclass(frozen=True)
class SlaRow:
    category: str
    first_response: SlaShare
    resolution: SlaShare


@dataclass(frozen=True)
class Satisfaction:
    """Surveys of the tickets closed in the period with an accepted solution."""

    surveyed: int
    distribution: Mapping[int, int]  # score -> answers
    comments: Sequence[Comment] = ()

    @property
    def answers(self) -> int:
        return sum(self.distribution.values())

    @property
    def mean(self) -> float | None:
        return mean_score(self.distribution)

    @property
    def response_rate(self) -> float | None:
        return round(100 * self.answers / self.surveyed, 1) if self.surveyed else None


@dataclass(frozen=True)
class Comment:
    protocol: str
    score: int
    text: str  # masked by the caller before it gets here


@dataclass(frozen=True)
class Report:
    period: Period
    mailbox: str | None
    by: str | None
    business_hours: bool
    rows: Sequence[Row]  # the groups in order, then the total
    sla: Sequence[SlaRow]
    satisfaction: Satisfaction
    backlog: Mapping[str, int]  # BACKLOG_LABELS -> open tickets
    backlog_at: datetime
    generated_at: datetime


def mean_score(distribution: Mapping[int, int]) -> float | None:
    answers = sum(distribution.values())
    return round(sum(score * count for score, count in distribution.items()) / answers, 2) if answers else None


def backlog_bucket(age_days: float) -> str:
    """The BACKLOG_LABELS bucket of an open ticket ``age_days`` old."""
    return BACKLOG_LABELS[bisect_right(BACKLOG_EDGES, age_days)]


def key_name(key: object) -> str:
    return NONE_KEY if key is None or key == "" else str(key)


def rows(by: str | None, counts: Mapping[str, Mapping[str, int]],
         first_response: Mapping[str, Sequence[float]], resolution: Mapping[str, Sequence[float]],
         scores: Mapping[str, Mapping[int, int]]) -> list[Row]:
    """The main table: one row per group seen in any figure (sorted; weeks by
    date), then the total, whose spreads come from all the durations (a
    median of medians is not a median)."""
    keys = sorted(set(counts) | set(first_response) | set(resolution) | set(scores)) if by else []
    found = [_row(key, counts.get(key, {}), first_response.get(key, ()), resolution.get(key, ()),
                  scores.get(key, {})) for key in keys]
    total_counts = {name: sum(group.get(name, 0) for group in counts.values()) for name in COUNTED}
    total_scores = {score: sum(group.get(score, 0) for group in scores.values()) for score in SCORES}
    everything = [_row(TOTAL_KEY, total_counts, [h for hours in first_response.values() for h in hours],
                       [h for hours in resolution.values() for h in hours], total_scores)]
    return found + everything


def _row(key: str, counts: Mapping[str, int], first_response: Sequence[float], resolution: Sequence[float],
         scores: Mapping[int, int]) -> Row:
    return Row(key, {name: counts.get(name, 0) for name in COUNTED}, spread(first_response), spread(resolution),
               mean_score(scores), sum(scores.values()))


def as_dict(report: Report) -> dict[str, object]:
    """The report as JSON-ready data: ``gateway report --json``, and what a
    page or a mail shows (the same numbers everywhere)."""
    unit = "business_hours" if report.business_hours else "hours"
    return {
        "mailbox": report.mailbox,
        "period": {"label": report.period.label, "start": report.period.start.isoformat(),
                   "end": report.period.end.isoformat(), "timezone": report.period.zone},
        "grouped_by": report.by,
        "time_unit": unit,
        "rows": [{"key": row.key, **row.counts,
                  "first_response": _spread(row.first_response), "resolution": _spread(row.resolution),
                  "satisfaction": {"mean": row.satisfaction_mean, "answers": row.satisfaction_answers}}
                 for row in report.rows],
        "sla": [{"category": row.category, "first_response": _share(row.first_response),
                 "resolution": _share(row.resolution)} for row in report.sla],
        "satisfaction": {
            "surveyed": report.satisfaction.surveyed, "answers": report.satisfaction.answers,
            "response_rate_percent": report.satisfaction.response_rate, "mean": report.satisfaction.mean,
            "distribution": {str(score): report.satisfaction.distribution.get(score, 0) for score in SCORES},
            "comments": [{"protocol": c.protocol, "score": c.score, "comment": c.text}
                         for c in report.satisfaction.comments]},
        "backlog": {"at": report.backlog_at.isoformat(), "total": sum(report.backlog.values()),
                    "by_age": dict(report.backlog)},
        "generated_at": report.generated_at.isoformat(),
    }


def _spread(value: Spread) -> dict[str, object]:
    return {"count": value.count, "median": value.median, "p90": value.p90}


def _share(value: SlaShare) -> dict[str, object]:
    return {"met": value.met, "missed": value.missed, "pending": value.pending, "met_percent": value.percent}
