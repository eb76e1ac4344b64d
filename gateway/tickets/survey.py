"""The satisfaction survey (1-5), decided once for mail, pages and sweeps.

A survey follows an accepted (or auto-accepted) solution; answers are
taken within the mailbox's ``survey_window`` after closing, the last one
counts (and the timeline says it replaced an earlier one), and one
reminder goes out while it is unanswered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.tickets.answers import SURVEY_LEVELS, SURVEY_LEVELS_EN
from gateway.tickets.change import Change, Link, To, event, notice
from gateway.tickets.kinds import SURVEYED, EventKind, Template
from gateway.tickets.states import Status


def surveyed(ticket: Any) -> bool:
    """Whether the ticket ended in a way that invited the requester to the survey."""
    return Status(ticket.status) is Status.CLOSED and ticket.closed_reason in {reason.value for reason in SURVEYED}


def open_at(ticket: Any, now: datetime, until: datetime | None) -> bool:
    """Whether an answer given at ``now`` counts (``until``: the closing plus
    the mailbox's survey window, computed on its calendar)."""
    return surveyed(ticket) and until is not None and now <= until


def pending(ticket: Any) -> bool:
    """Invited and not answered yet: what the reminder waits for."""
    return surveyed(ticket) and ticket.survey_score is None


def levels(language: str) -> list[tuple[int, str]]:
    return sorted((SURVEY_LEVELS_EN if language == "en" else SURVEY_LEVELS).items())


def invitation(ticket: Any) -> Change:
    """The survey mail, with its signed link."""
    return notice(Template.SURVEY, To.REQUESTER, automatic=None, context={"levels": levels(ticket.language)},
                  links=frozenset({Link.SURVEY}))


def reminder(ticket: Any) -> Change:
    """The one reminder of an unanswered survey."""
    return (Change(fields={"remind_at": None})
            + event(EventKind.SURVEY_REMINDED, "gateway", "one reminder, the last")
            + notice(Template.SURVEY_REMINDER, To.REQUESTER, automatic=None,
                     context={"levels": levels(ticket.language)}, links=frozenset({Link.SURVEY})))


def answered(ticket: Any, score: int, comment: str | None, *, actor: str, at: datetime) -> Change:
    """One answer per ticket: a later one replaces it, and the event says so.
    The deadlines are recomputed: no survey reminder any more."""
    before = ticket.survey_score
    kind = EventKind.SURVEY_UPDATED if before is not None else EventKind.SURVEY_ANSWERED
    note = f"nota {score}" + (f" (antes: {before})" if before is not None else "") + (f": {comment}" if comment else "")
    return Change(fields={"survey_score": score, "survey_comment": comment, "survey_at": at}, refresh=True,
                  events=event(kind, actor, note).events)
