"""Keep a ticket's deadline columns true after every change.

``refresh`` is called wherever a ticket changes (``Actions.apply``, a new
ticket, a new category, a sweep): it records when the SLA targets were met,
recomputes them on the mailbox's calendar, and stores the soonest thing due
in ``due_at``/``due_kind`` for the sweep's indexed query.  On a transition
(``limit`` given) it also sets the requester's limit and the first reminder
before it (``next_reminder`` gives the sweep each later one of a ladder),
or, for a ticket closed with a survey, the survey reminder.

``moments`` is the other direction: the row read back as the pure
``tickets.deadlines.Moments`` that decide what a sweep does.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timezone
from typing import Final

from gateway.calendar.mailboxes import calendar_for
from gateway.config import MailboxConfig, Share, SlaConfig
from gateway.durations import Duration, Unit
from gateway.store.models import TicketRow
from gateway.tickets import survey
from gateway.tickets.deadlines import FIRST_RESPONSE, RESOLUTION, DueItem, Moments, SlaTarget, next_due
from gateway.tickets.states import UNTOUCHED, Status

_RESOLVED: Final = frozenset({Status.SOLVED, Status.CLOSED, Status.REJECTED})
_KEEP: Final = object()


def refresh(ticket: TicketRow, mailbox: MailboxConfig | None, at: datetime,
            *, limit: datetime | None | object = _KEEP) -> DueItem | None:
    """Recompute the ticket's deadlines at ``at``; ``limit`` marks a transition."""
    status = Status(ticket.status)
    if status not in UNTOUCHED and ticket.first_response_at is None:  # assigning is no response
        ticket.first_response_at = at
    if status in _RESOLVED and ticket.resolved_at is None:
        ticket.resolved_at = at
    if limit is not _KEEP:
        ticket.limit_at = limit if isinstance(limit, datetime) else None
        ticket.remind_at = _reminder(ticket, mailbox, status, at) if mailbox else None
    targets = sla_config(ticket, mailbox)
    before = {FIRST_RESPONSE: ticket.first_response_due_at, RESOLUTION: ticket.resolution_due_at}
    ticket.first_response_due_at = _target(mailbox, ticket.created_at, targets, "first_response")
    ticket.resolution_due_at = _target(mailbox, ticket.created_at, targets, "resolution")
    _forget_moved_targets(ticket, before)
    item = next_due(moments(ticket, mailbox))
    ticket.due_at, ticket.due_kind = (item.at, item.kind) if item else (None, None)
    return item


def _forget_moved_targets(ticket: TicketRow, before: dict[str, datetime | None]) -> None:
    """A target that moved (a new category, a rule on a follow-up) is a new
    promise: its warning and breach are owed again, even if the old target's
    were sent (a ticket moved to a shorter SLA it already missed gets the
    breach of the new one)."""
    after = {FIRST_RESPONSE: ticket.first_response_due_at, RESOLUTION: ticket.resolution_due_at}
    moved = {name for name in after if before[name] is not None and _same(before[name]) != _same(after[name])}
    if moved and ticket.sla_done:
        kept = [flag for flag in ticket.sla_done.split() if flag.partition(".")[0] not in moved]
        ticket.sla_done = " ".join(kept)


def _same(moment: datetime | None) -> datetime | None:
    """Comparable whether the row came back naive (SQLite) or aware."""
    return moment.replace(tzinfo=None) if moment is not None and moment.tzinfo is None else (
        moment.astimezone(timezone.utc).replace(tzinfo=None) if moment is not None else None)


def moments(ticket: TicketRow, mailbox: MailboxConfig | None) -> Moments:
    status = Status(ticket.status)
    survey_open = survey.pending(ticket)
    survey_until = None
    if survey_open and mailbox is not None and ticket.closed_at is not None:
        survey_until = calendar_for(mailbox).add(ticket.closed_at, mailbox.survey_window)
    return Moments(status=status, limit_at=ticket.limit_at, remind_at=ticket.remind_at, survey_open=survey_open,
                   survey_until=survey_until, sla=sla_targets(ticket, mailbox))


def sla_targets(ticket: TicketRow, mailbox: MailboxConfig | None) -> tuple[SlaTarget, ...]:
    config = sla_config(ticket, mailbox)
    done = set((ticket.sla_done or "").split())
    found = []
    for name, due_at, met_at in ((FIRST_RESPONSE, ticket.first_response_due_at, ticket.first_response_at),
                                 (RESOLUTION, ticket.resolution_due_at, ticket.resolved_at)):
        if due_at is None:
            continue
        key = "first_response" if name == FIRST_RESPONSE else "resolution"
        target = getattr(config, key) if config is not None else None
        warn_at = _warning(mailbox, config, target, ticket.created_at, due_at) if mailbox and target else None
        found.append(SlaTarget(name, due_at, warn_at, met=met_at is not None,
                               warned=f"{name}.warning" in done, breached=f"{name}.breach" in done))
    return tuple(found)


def sla_config(ticket: TicketRow, mailbox: MailboxConfig | None) -> SlaConfig | None:
    """The mailbox's targets for the ticket's category, with what a rule set
    for this ticket (``sla = {resolution = "4h"}``, kept on the row as text) in their place."""
    config = mailbox.sla_for(ticket.category) if mailbox else None
    if not (ticket.sla_first_response or ticket.sla_resolution):
        return config
    base = config or SlaConfig()
    return replace(base, first_response=_stored(ticket.sla_first_response) or base.first_response,
                   resolution=_stored(ticket.sla_resolution) or base.resolution)


def _stored(text: str | None) -> Duration | None:
    """A rule's target as the ticket row keeps it: ``str()`` of a Duration the rule file gave."""
    return Duration.parse(text) if text else None


def _reminder(ticket: TicketRow, mailbox: MailboxConfig, status: Status, at: datetime) -> datetime | None:
    if status in (Status.WAITING, Status.SOLVED) and ticket.limit_at is not None:
        return next_reminder(ticket, mailbox, after=at)
    if survey.surveyed(ticket) and mailbox.survey_reminder is not None:
        return calendar_for(mailbox).add(at, mailbox.survey_reminder)
    return None


def reminder_ladder(ticket: TicketRow, mailbox: MailboxConfig) -> tuple[Duration, ...]:
    """The reminders the mailbox sends before the ticket's limit
    (``wait_reminder`` or ``solved_reminder``, by its status); () for none."""
    status = Status(ticket.status)
    if status is Status.WAITING:
        return mailbox.wait_reminders
    return mailbox.solved_reminders if status is Status.SOLVED else ()


def next_reminder(ticket: TicketRow, mailbox: MailboxConfig, *, after: datetime) -> datetime | None:
    """The first reminder of the ladder strictly after ``after`` and before
    the limit; None when none is left.

    Called with the question's (or solution's) moment it gives the first
    reminder; called by the sweep with its ``now`` once a reminder went out,
    the next one.  So the row's one ``remind_at`` walks the ladder with no
    column to count the steps, and a sweep that comes late sends one
    reminder, not every one it missed.
    """
    if ticket.limit_at is None:
        return None
    calendar = calendar_for(mailbox)
    moments = sorted(calendar.subtract(ticket.limit_at, lead) for lead in reminder_ladder(ticket, mailbox))
    # A reminder at (or before) the question itself would be noise: none.
    return next((moment for moment in moments if after < moment < ticket.limit_at), None)


def _target(mailbox: MailboxConfig | None, created_at: datetime, config: SlaConfig | None,
            key: str) -> datetime | None:
    target = getattr(config, key) if config is not None else None
    if mailbox is None or target is None:
        return None
    return calendar_for(mailbox).add(created_at, target)


def _warning(mailbox: MailboxConfig, config: SlaConfig, target: Duration, start: datetime,
             due_at: datetime) -> datetime | None:
    """``25%``: when a quarter of the target is left; ``30min``: that long before it.

    A share of a business-time target (``4bh``, ``2bd``) is a share of its
    working hours, rounded to whole hours (at least one), taken back from
    the deadline in working time: 25% of ``4bh`` ending Monday 12:00 warns
    at 11:00, not on Sunday.
    """
    lead = config.warning
    if lead is None:
        return None
    calendar = calendar_for(mailbox)
    if not isinstance(lead, Share):
        return calendar.subtract(due_at, lead)
    if not target.is_business:
        return due_at - (due_at - start) * lead.percent / 100
    hours = target.amount if target.unit is Unit.BUSINESS_HOURS else target.amount * _workday_hours(mailbox)
    return calendar.subtract(due_at, Duration(max(1, round(hours * lead.percent / 100)), Unit.BUSINESS_HOURS))


def _workday_hours(mailbox: MailboxConfig) -> float:
    start, end = (time.fromisoformat(t) for t in (mailbox.workday_start, mailbox.workday_end))
    return (end.hour * 60 + end.minute - start.hour * 60 - start.minute) / 60


def late_targets(ticket: TicketRow, now: datetime) -> list[str]:
    """SLA targets the ticket has missed at ``now`` (for ``tickets list --overdue``)."""
    late = []
    if ticket.first_response_due_at and ticket.first_response_at is None and ticket.first_response_due_at <= now:
        late.append(FIRST_RESPONSE)
    if ticket.resolution_due_at and ticket.resolved_at is None and ticket.resolution_due_at <= now:
        late.append(RESOLUTION)
    return late
