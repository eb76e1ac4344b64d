"""The ticket's life, one pure function per move (DESIGN "Ticket life").

Each function takes the current status and what the move needs (a reason,
a deadline the caller computed on the mailbox's calendar) and returns a
``Change``: the new status, the event to record, and the deadline that
follows.  Nothing here reads the clock or the database; services apply
the change, so a ticket moves the same way whether the move came by mail,
by a page, or from a sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.tickets.states import Status, require_transition


@dataclass(frozen=True)
class Due:
    """What happens at ``at`` unless something moves the ticket first."""

    kind: str  # no_response (waiting), auto_accept (solved)
    at: datetime


@dataclass(frozen=True)
class Change:
    status: Status
    event: str
    note: str = ""
    due: Due | None = None  # the deadline after the change; None clears it
    closed_reason: str | None = None


def take_up(current: Status) -> Change | None:
    """An analyst's first action moves a new ticket to open."""
    return Change(Status.OPEN, "opened", "first analyst action") if current is Status.NEW else None


def ask(current: Status, *, question: str, deadline: datetime) -> Change:
    """``#aguardando``: the requester must answer by ``deadline``."""
    require_transition(current, Status.WAITING)
    return Change(Status.WAITING, "asked", question, Due("no_response", deadline))


def answered(current: Status) -> Change | None:
    """Any genuine reply from the requester to a question reopens the work."""
    if current is Status.WAITING:
        return Change(Status.OPEN, "answered", "the requester answered")
    return None


def solve(current: Status, *, solution: str, deadline: datetime) -> Change:
    """``#solucao``: accepted for the requester if unanswered by ``deadline``."""
    require_transition(current, Status.SOLVED)
    return Change(Status.SOLVED, "solved", solution, Due("auto_accept", deadline))


def accept(current: Status, *, automatically: bool = False) -> Change:
    require_transition(current, Status.CLOSED)
    if current is not Status.SOLVED:
        raise ValueError(f"only a proposed solution can be accepted, the ticket is {current.value}")
    reason = "auto_accepted" if automatically else "accepted"
    return Change(Status.CLOSED, reason, "", None, closed_reason=reason)


def refuse(current: Status, *, reason: str) -> Change:
    """A refusal needs a reason; without one the ticket stays solved (the
    service asks for it)."""
    if current is not Status.SOLVED:
        raise ValueError(f"only a proposed solution can be refused, the ticket is {current.value}")
    if not reason.strip():
        raise ValueError("a refusal needs a reason")
    return Change(Status.OPEN, "refused", reason.strip())


def close(current: Status, *, reason: str, note: str = "") -> Change:
    require_transition(current, Status.CLOSED)
    return Change(Status.CLOSED, "closed", note, None, closed_reason=reason)


def reject(current: Status, *, reason: str) -> Change:
    """``#devolver``: out of scope; final, the requester is told where to go."""
    require_transition(current, Status.REJECTED)
    return Change(Status.REJECTED, "rejected", reason, None, closed_reason="rejected")


def reopen(current: Status) -> Change:
    """A requester's reply to a closed ticket within the mailbox's window."""
    require_transition(current, Status.OPEN)
    return Change(Status.OPEN, "reopened", "the requester wrote again within the reopening window")
