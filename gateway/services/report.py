"""``gateway report``'s use case: read the store's counts, do the arithmetic.

The store counts (``gateway.store.reports``: grouped SQL, one range scan
per figure); ``gateway.reports`` turns durations into medians in the
desk's working hours and puts the figures together.  The CLI, a monthly
mail or a page ask this one function, so they show the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from gateway import reports
from gateway.calendar.mailboxes import calendar_for
from gateway.config import MailboxConfig, Settings
from gateway.reports import Comment, Period, Report, Satisfaction, SlaRow, SlaShare, WorkingHours
from gateway.store import reports as store
from gateway.store.db import Transaction
from gateway.tickets.fields import mask_personal_data

#: Survey comments a report carries at most (the oldest closings first).
COMMENTS: int = 200


def period_zone(settings: Settings, mailbox: str | None) -> str:
    """The zone a period's dates are read in: the mailbox's, else the first
    configured mailbox's, else UTC."""
    found = _configured(settings, mailbox) if mailbox else None
    if found is not None:
        return found.timezone
    return settings.mailboxes[0].timezone if settings.mailboxes else "UTC"


def mailbox_address(settings: Settings, given: str) -> str:
    """``--mailbox`` as tickets store it: a configured mailbox's address, else the text lowercased."""
    found = _configured(settings, given)
    return found.address if found is not None else given.strip().lower()


def gather(tx: Transaction, settings: Settings, *, mailbox: str | None, period: Period, by: str | None,
           now: datetime, comments: int = COMMENTS, reveal: bool = False) -> Report:
    """Every figure of the report for ``mailbox`` (None: all) over ``period``,
    grouped ``by`` category, assignee or week (None: the total only)."""
    if by is not None and by not in reports.GROUPINGS:
        raise ValueError(f"cannot group a report by {by!r}; use one of {', '.join(reports.GROUPINGS)}")
    scope = store.Scope(mailbox, period.start, period.end, by, period.week_anchor)
    name = _namer(period, by)
    counts = {name(key): figures for key, figures in store.counts(tx, scope).items()}
    first_response, business_first = _hours(settings, store.durations(tx, scope, "first_response_at"), name)
    resolution, business_resolution = _hours(settings, store.durations(tx, scope, "resolved_at"), name)
    scores: dict[str, dict[int, int]] = {}
    surveyed = 0
    for key, distribution in store.survey_scores(tx, scope).items():
        surveyed += sum(distribution.values())
        scores[name(key)] = {score: count for score, count in distribution.items() if score is not None}
    distribution = {score: sum(group.get(score, 0) for group in scores.values()) for score in reports.SCORES}
    said = [Comment(protocol, score, text if reveal else mask_personal_data(text))
            for protocol, score, text in store.survey_comments(tx, scope, comments)]
    now = now.astimezone(timezone.utc)
    backlog_at = min(period.end, now)
    return Report(
        period=period, mailbox=mailbox, by=by,
        business_hours=business_first and business_resolution,
        rows=reports.rows(by, counts, first_response, resolution, scores),
        sla=[SlaRow(reports.key_name(category), SlaShare(*(figures[f"first_response_{n}"] for n in _SHARE)),
                    SlaShare(*(figures[f"resolution_{n}"] for n in _SHARE)))
             for category, figures in sorted(store.sla(tx, scope, now).items(), key=lambda item: item[0] or "")],
        satisfaction=Satisfaction(surveyed, distribution, said),
        backlog=store.backlog(tx, mailbox, backlog_at, reports.BACKLOG_EDGES, reports.BACKLOG_LABELS),
        backlog_at=backlog_at, generated_at=now)


_SHARE = ("met", "missed", "pending")


def _configured(settings: Settings, address: str | None) -> MailboxConfig | None:
    found = settings.mailbox_for(address) if address else None
    return found[0] if found else None


def _namer(period: Period, by: str | None) -> Any:
    if by == "week":
        return lambda key: period.week_label(int(key))
    return reports.key_name


def _hours(settings: Settings, waits: Sequence[store.Duration], name: Any) -> tuple[Mapping[str, list[float]], bool]:
    """Each wait in working hours on its mailbox's calendar (wall-clock hours
    for a mailbox no longer configured), grouped; and whether all were in
    working hours."""
    by_mailbox: dict[str, list[store.Duration]] = defaultdict(list)
    for wait in waits:
        by_mailbox[wait.mailbox].append(wait)
    grouped: dict[str, list[float]] = defaultdict(list)
    business = True
    for address, mine in by_mailbox.items():
        mailbox = _configured(settings, address)
        calendar = calendar_for(mailbox) if mailbox is not None else None
        business = business and calendar is not None
        clock = WorkingHours(calendar, min(w.start for w in mine), max(w.end for w in mine))
        for wait in mine:
            grouped[name(wait.key)].append(max(0.0, clock.hours(wait.start, wait.end)))
    return grouped, business
