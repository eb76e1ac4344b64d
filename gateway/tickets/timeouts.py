"""What the clock does to a due ticket: remind, close, ask again for the
survey, warn the team of an SLA.

``deadlines.due_now`` decides *which* items are due (with its catch-up
rules); this module decides what each does, as a Change, so a ticket
closes the same way whether an analyst or the clock closed it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from gateway.tickets import moves, survey
from gateway.tickets.change import Change, Deadline, Link, To, event, fields, notice
from gateway.tickets.deadlines import (
    AUTO_ACCEPT,
    FIRST_RESPONSE,
    NO_RESPONSE,
    REMIND_SOLVED,
    REMIND_WAITING,
    SLA_WARNING,
    SURVEY_REMINDER,
    DueItem,
)
from gateway.tickets.kinds import ClosedReason, EventKind, Template
from gateway.tickets.states import Status

ACTOR: Final = "gateway"
_TARGET_WORDS: Final = {"pt_BR": {FIRST_RESPONSE: "primeira resposta", "resolution": "solução"},
                        "en": {FIRST_RESPONSE: "first response", "resolution": "resolution"}}


@dataclass(frozen=True)
class Rung:
    """Where a reminder stands on a ladder of them (``wait_reminder =
    ["7bd", "3bd"]``): ``number`` 1 for the first of this wait, and the
    next reminder's moment, None when this one is the last before the limit."""

    number: int
    next_at: datetime | None = None


def requester_item(ticket: Any, item: DueItem, *, last_note: str, wait_limit: Any, solved_limit: Any,
                   rung: Rung | None = None) -> Change:
    """A reminder, a closing for no answer, an auto-acceptance or the survey
    reminder.  ``last_note``: the question or solution a reminder repeats;
    the limits are the mailbox's, named in the mails.  ``rung``: for a
    mailbox with a ladder of reminders, which one this is (the mail says
    so) and when the next is due; None for the one reminder of the plain
    form, whose mail reads as it always did."""
    status = Status(ticket.status)
    limit_at = ticket.limit_at or item.at
    deadline = Deadline(limit_at, wait_limit if status is Status.WAITING else solved_limit)
    if item.kind in (REMIND_WAITING, REMIND_SOLVED):
        template = Template.REMINDER_WAITING if item.kind == REMIND_WAITING else Template.REMINDER_SOLVED
        note = f"{template.value}: limit {limit_at.isoformat()}"
        if rung is not None:
            note += f"; reminder {rung.number}" + (", the last" if rung.next_at is None else
                                                   f", next {rung.next_at.isoformat()}")
        step = {"number": rung.number, "last": rung.next_at is None} if rung is not None else None
        return (fields(remind_at=rung.next_at if rung is not None else None)
                + event(EventKind.REMINDED, ACTOR, note)
                + notice(template, To.REQUESTER, automatic=None, context={"text": last_note, "reminder": step},
                         deadline=deadline,
                         links=frozenset({Link.SOLUTION}) if item.kind == REMIND_SOLVED else frozenset()))
    if item.kind == NO_RESPONSE:
        return (moves.close(status, ACTOR, reason=ClosedReason.NO_RESPONSE, note=f"no answer by {item.at.isoformat()}")
                + notice(Template.CLOSED_NO_RESPONSE, To.REQUESTER, automatic=None, deadline=deadline))
    if item.kind == AUTO_ACCEPT:
        return (moves.accept(status, ACTOR, automatically=True)
                + notice(Template.CLOSED_AUTO_ACCEPTED, To.REQUESTER, automatic=None, deadline=deadline)
                + survey.invitation(ticket))
    if item.kind == SURVEY_REMINDER:
        return survey.reminder(ticket)
    raise ValueError(f"{item.kind!r} is not a requester's deadline")


def sla_items(ticket: Any, kind: str, items: Sequence[DueItem], *, due_of: Callable[[str], datetime | None]) -> Change:
    """An SLA warning or breach: one event per target, and one team mail naming them all."""
    language = ticket.language if ticket.language in _TARGET_WORDS else "pt_BR"
    what = "warning" if kind == SLA_WARNING else "breach"
    done = (ticket.sla_done or "").split()
    change, lines = Change(), []
    for item in items:
        due_at = due_of(item.target) or item.at
        token = f"{item.target}.{what}"  # the team was told (warning) or the breach recorded
        if token not in done:
            done.append(token)
        change += event(EventKind.SLA_WARNING if what == "warning" else EventKind.SLA_BREACH, ACTOR,
                        f"{item.target} due {due_at.isoformat()} ({ticket.category or 'sem categoria'})")
        lines.append({"target": _TARGET_WORDS[language][item.target], "deadline": Deadline(due_at)})
    template = Template.TEAM_SLA_WARNING if what == "warning" else Template.TEAM_SLA_BREACH
    return (fields(sla_done=" ".join(done)) + change
            + notice(template, To.TEAM, automatic="auto-generated",
                     context={"targets": lines, "category": ticket.category or "", "text": ""}))
