"""What a decision changes, as a value: the ticket's new status and fields,
the events for its timeline, and the mails to send.

Every decision of the ticket's life (an analyst's command, a requester's
answer, an answer on a page, a deadline) is a pure function that returns a
:class:`Change`; ``services.writer.TicketWriter.apply`` is the one place
that turns it into rows and outbox mails, in the caller's transaction.  So
for any change there is one function that decides it and one that writes it.

Changes compose with ``+`` in the order they happen: a ticket taken up and
then solved by one mail is ``take_up + solve``, whose timeline has both
moves and whose final status is the last one.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from gateway.tickets.kinds import ClosedReason, EventKind, Template
from gateway.tickets.states import Status


class _Keep(enum.Enum):
    KEEP = "keep"


#: ``Change.limit`` when the change leaves the requester's limit as it is.
KEEP: Final = _Keep.KEEP


@dataclass(frozen=True)
class Event:
    """One line of the timeline: who did what, from which status to which."""

    kind: EventKind
    actor: str
    note: str = ""
    from_status: Status | None = None
    to_status: Status | None = None


class To(enum.Enum):
    """Who a mail is for; the writer knows their addresses and their thread."""

    REQUESTER = "requester"  # the ticket's requester, under the service's name, in their thread
    TEAM = "team"  # the mailbox's team and the assignee, in the team's thread, Reply-To the ticket
    SENDER = "sender"  # the analyst whose mail this answers (command results), Reply-To the ticket


class Link(enum.Enum):
    """Signed links the writer adds to a mail's template variables."""

    SOLUTION = "solution"  # accept_url / refuse_url, for the current proposal only
    SURVEY = "survey"  # survey_url


@dataclass(frozen=True)
class Deadline:
    """A limit a mail names, which the writer puts in the reader's words
    (``deadline``, ``deadline_date`` and, with ``limit``, ``limit_words``)."""

    at: datetime
    limit: Any = None  # the Duration it came from ("5 dias"), when the mail names it


@dataclass(frozen=True)
class Notice:
    """One mail to send.  ``template`` is a :class:`Template` or a rule
    file's own template name; ``automatic`` is its ``Auto-Submitted`` value
    (None for a person's words relayed, or a mail that asks for an answer)."""

    template: Template | str
    to: To
    context: Mapping[str, Any] = field(default_factory=dict)
    automatic: str | None = "auto-replied"
    links: frozenset[Link] = frozenset()
    deadline: Deadline | None = None
    capped: bool = False  # an automatic answer: counts against acks_per_sender_per_hour, skipped past it
    threaded: bool = True  # In-Reply-To/References of the recipient's thread
    thread: tuple[str, ...] | None = None  # this thread instead (an acknowledgement answers the mail itself)
    answerable: bool = True  # team and analyst mails: Reply-To the ticket's address, so a reply lands there
    files: tuple[Any, ...] = ()  # attachments sent along (outbound FileToSend)
    sender_name: str = ""  # team notices: whose mail this is ("Ana via Central")


@dataclass(frozen=True)
class Change:
    """What one decision does to one ticket (see the module docstring)."""

    status: Status | None = None  # None: unchanged
    closed_reason: ClosedReason | None = None  # with a closing status
    limit: datetime | None | _Keep = KEEP  # the requester's new limit (a transition), None: no limit
    fields: Mapping[str, Any] = field(default_factory=dict)  # ticket columns set as given (category, assignee, ...)
    events: tuple[Event, ...] = ()
    notices: tuple[Notice, ...] = ()
    refresh: bool = False  # recompute the deadlines even without a transition (a new category's SLA)
    # Addresses shown to work again (their owner wrote, proven): a dead mark on them is cleared.
    revived: tuple[str, ...] = ()

    def __add__(self, later: Change) -> Change:
        """This change, then ``later``."""
        moved = later.status is not None
        return Change(
            status=later.status if moved else self.status,
            closed_reason=later.closed_reason if moved else self.closed_reason,
            limit=later.limit if later.limit is not KEEP else self.limit,
            fields={**self.fields, **later.fields} if later.fields else self.fields,
            events=self.events + later.events,
            notices=self.notices + later.notices,
            refresh=self.refresh or later.refresh,
            revived=self.revived + later.revived,
        )


NOTHING: Final = Change()


def move(current: Status, to: Status, kind: EventKind, actor: str, note: str = "", *,
         limit: datetime | None | _Keep = None, closed_reason: ClosedReason | None = None) -> Change:
    """A transition: the new status, its event, and the requester's limit
    after it (None: no limit; a move always sets or clears it)."""
    return Change(status=to, closed_reason=closed_reason, limit=limit,
                  events=(Event(kind, actor, note, current, to),))


def event(kind: EventKind, actor: str, note: str = "") -> Change:
    """A line on the timeline and nothing else."""
    return Change(events=(Event(kind, actor, note),))


def notice(template: Template | str, to: To, **options: Any) -> Change:
    """One mail and nothing else."""
    return Change(notices=(Notice(template, to, **options),))


def fields(**values: Any) -> Change:
    """Ticket columns set as given."""
    return Change(fields=values)
