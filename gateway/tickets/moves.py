"""The ticket's life, one pure function per move (README, "One ticket's life").

Each function takes the current status, who moves the ticket and what the
move needs (a text, a limit the caller computed on the mailbox's calendar)
and returns a :class:`~gateway.tickets.change.Change`: the new status, its
event, and the requester's limit after it.  A move the life does not allow
raises :class:`~gateway.errors.TransitionError` (or ``ValueError``
for a refusal without a reason), before anything is written.  Nothing here
reads the clock or the database, so a ticket moves the same way whether
the move came by mail, by a page, or from a sweep.
"""

from __future__ import annotations

from datetime import datetime

from gateway.tickets.change import NOTHING, Change, event, fields, move
from gateway.tickets.kinds import ClosedReason, EventKind
from gateway.tickets.states import UNTOUCHED, Status, require_transition


def take_up(current: Status, actor: str) -> Change:
    """An analyst's first action moves a new or assigned ticket to open (else nothing)."""
    if current not in UNTOUCHED:
        return NOTHING
    return move(current, Status.OPEN, EventKind.OPENED, actor, "first analyst action")


def assign(current: Status, actor: str, *, assignee: str, note: str = "") -> Change:
    """``#atribuir`` or a rule's ``assign``: the ticket has an owner.

    A new ticket becomes *assigned* and waits so for its assignee's first
    action (:func:`take_up`); one already worked on keeps its state, with
    the new owner on its timeline.  ``note``: the event's words (default:
    the assignee)."""
    owner = fields(assignee=assignee)
    if current is Status.NEW:
        return owner + move(current, Status.ASSIGNED, EventKind.ASSIGNED, actor, note or assignee)
    return owner + event(EventKind.ASSIGNED, actor, note or assignee)


def ask(current: Status, actor: str, *, question: str, until: datetime,
        kind: EventKind = EventKind.ASKED) -> Change:
    """``#aguardando`` (or missing data): the requester must answer by ``until``."""
    require_transition(current, Status.WAITING)
    return move(current, Status.WAITING, kind, actor, question, limit=until)


def answered(current: Status, actor: str, *, kind: EventKind = EventKind.ANSWERED,
             note: str = "the requester answered") -> Change:
    """Any genuine reply to a question reopens the work (else nothing)."""
    if current is not Status.WAITING:
        return NOTHING
    return move(current, Status.OPEN, kind, actor, note)


def solve(current: Status, actor: str, *, solution: str, until: datetime, round_: int) -> Change:
    """``#solucao``: proposal number ``round_``, accepted for the requester if
    unanswered by ``until``."""
    require_transition(current, Status.SOLVED)
    return fields(solution_round=round_) + move(current, Status.SOLVED, EventKind.SOLVED, actor, solution,
                                                limit=until)


def accept(current: Status, actor: str, *, automatically: bool = False, note: str = "") -> Change:
    require_transition(current, Status.CLOSED)
    if current is not Status.SOLVED:
        raise ValueError(f"only a proposed solution can be accepted, the ticket is {current.value}")
    reason = ClosedReason.AUTO_ACCEPTED if automatically else ClosedReason.ACCEPTED
    kind = EventKind.AUTO_ACCEPTED if automatically else EventKind.ACCEPTED
    return move(current, Status.CLOSED, kind, actor, note, closed_reason=reason)


def refuse(current: Status, actor: str, *, reason: str) -> Change:
    """A refusal needs a reason; without one the ticket stays solved (the
    caller asks for it)."""
    if current is not Status.SOLVED:
        raise ValueError(f"only a proposed solution can be refused, the ticket is {current.value}")
    if not reason.strip():
        raise ValueError("a refusal needs a reason")
    return move(current, Status.OPEN, EventKind.REFUSED, actor, reason.strip())


def close(current: Status, actor: str, *, reason: ClosedReason, note: str = "") -> Change:
    require_transition(current, Status.CLOSED)
    return move(current, Status.CLOSED, EventKind.CLOSED, actor, note, closed_reason=reason)


def reject(current: Status, actor: str, *, reason: str) -> Change:
    """``#devolver`` or a rule: out of scope; final, the requester is told where to go."""
    require_transition(current, Status.REJECTED)
    return move(current, Status.REJECTED, EventKind.REJECTED, actor, reason, closed_reason=ClosedReason.REJECTED)


def reopen(current: Status, actor: str) -> Change:
    """A requester's reply to a closed ticket within the mailbox's window."""
    require_transition(current, Status.OPEN)
    return move(current, Status.OPEN, EventKind.REOPENED, actor,
                "the requester wrote again within the reopening window")
