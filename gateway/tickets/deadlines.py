"""What is due on a ticket, and what a sweep must do about it (README, "Deadlines").

A ticket carries a few moments (the requester's limit, the reminder before
it, the SLA targets); this module turns them into the one thing due next
(``due_at``/``due_kind`` on the row, which the sweep's indexed query reads)
and, when a sweep finds the ticket due, into what to do *now*.

Catch-up is decided here, not in the sweep: after downtime a ticket whose
reminder and limit have both passed gets only the final action (a reminder
about a deadline already gone is noise), an SLA whose warning and breach
have both passed gets only the breach, and a survey reminder after the
survey stopped accepting answers is dropped.  So a weekend of downtime
produces, per ticket, at most one mail of each kind.

Pure: the caller computes every moment on the mailbox's calendar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from gateway.tickets.states import Status

# The kinds stored in ``ticket.due_kind``.
REMIND_WAITING: Final = "remind_waiting"
NO_RESPONSE: Final = "no_response"
REMIND_SOLVED: Final = "remind_solved"
AUTO_ACCEPT: Final = "auto_accept"
SURVEY_REMINDER: Final = "survey_reminder"
SLA_WARNING: Final = "sla_warning"
SLA_BREACH: Final = "sla_breach"

FIRST_RESPONSE: Final = "first_response"
RESOLUTION: Final = "resolution"

_REMINDER: Final = {Status.WAITING: REMIND_WAITING, Status.SOLVED: REMIND_SOLVED}
_FINAL: Final = {Status.WAITING: NO_RESPONSE, Status.SOLVED: AUTO_ACCEPT}


@dataclass(frozen=True)
class DueItem:
    """One thing that happens at ``at``; ``target`` names the SLA target."""

    kind: str
    at: datetime
    target: str = ""


@dataclass(frozen=True)
class SlaTarget:
    """One SLA target of a ticket: met or not, and what was already said."""

    name: str  # first_response | resolution
    due_at: datetime
    warn_at: datetime | None  # None: no warning before the breach
    met: bool = False
    warned: bool = False
    breached: bool = False


@dataclass(frozen=True)
class Moments:
    """What the sweep needs to know about one ticket, all in UTC."""

    status: Status
    limit_at: datetime | None = None  # waiting/solved: the requester's limit
    remind_at: datetime | None = None  # waiting/solved: reminder before the limit; closed: survey reminder
    survey_open: bool = False  # closed: a survey was sent and is still unanswered
    survey_until: datetime | None = None  # closed: answers accepted until then
    sla: tuple[SlaTarget, ...] = field(default_factory=tuple)


def pending(moments: Moments) -> list[DueItem]:
    """Everything still to happen, soonest first."""
    items: list[DueItem] = []
    status = moments.status
    if status in _FINAL and moments.limit_at is not None:
        if moments.remind_at is not None and moments.remind_at < moments.limit_at:
            items.append(DueItem(_REMINDER[status], moments.remind_at))
        items.append(DueItem(_FINAL[status], moments.limit_at))
    elif status is Status.CLOSED and _survey_reminder_possible(moments):
        items.append(DueItem(SURVEY_REMINDER, moments.remind_at))  # type: ignore[arg-type]
    for target in moments.sla:
        if target.met or target.breached:
            continue
        if target.warn_at is not None and not target.warned and target.warn_at < target.due_at:
            items.append(DueItem(SLA_WARNING, target.warn_at, target.name))
        items.append(DueItem(SLA_BREACH, target.due_at, target.name))
    return sorted(items, key=lambda item: (item.at, item.kind))


def next_due(moments: Moments) -> DueItem | None:
    """The soonest item: what goes into ``due_at``/``due_kind``."""
    items = pending(moments)
    return items[0] if items else None


def due_now(moments: Moments, now: datetime) -> list[DueItem]:
    """What a sweep at ``now`` does, with catch-up applied.

    At most one lifecycle item (the final action wins over its reminder),
    and per SLA target at most one item (the breach wins over its warning).
    """
    items = [item for item in pending(moments) if item.at <= now]
    chosen: list[DueItem] = []
    finals = [item for item in items if item.kind in (NO_RESPONSE, AUTO_ACCEPT)]
    reminders = [item for item in items if item.kind in (REMIND_WAITING, REMIND_SOLVED)]
    chosen.extend(finals[:1] or reminders[:1])
    if any(item.kind == SURVEY_REMINDER for item in items) and (
            moments.survey_until is None or now < moments.survey_until):
        chosen.append(next(item for item in items if item.kind == SURVEY_REMINDER))
    for name in (FIRST_RESPONSE, RESOLUTION):
        mine = [item for item in items if item.target == name]
        breach = [item for item in mine if item.kind == SLA_BREACH]
        chosen.extend(breach[:1] or mine[:1])
    return chosen


def overdue(targets: tuple[SlaTarget, ...], now: datetime) -> list[str]:
    """Names of the SLA targets missed at ``now`` (not met, due passed)."""
    return [target.name for target in targets if not target.met and target.due_at <= now]


def _survey_reminder_possible(moments: Moments) -> bool:
    if not moments.survey_open or moments.remind_at is None:
        return False
    return moments.survey_until is None or moments.remind_at < moments.survey_until
