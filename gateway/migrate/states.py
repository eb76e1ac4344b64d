"""What state a legacy conversation is in today, inferred from its last mail.

A shared mailbox has no states, only who wrote last and when.  The rules,
each configurable from ``gateway migrate``:

- the team wrote last, longer ago than ``closed_after`` (default: the
  mailbox's ``solved_limit``, the time after which a live solution is taken
  as accepted) → ``closed``, at the moment that limit passed;
- the team wrote last, more recently → ``answered`` (default ``open``: an
  analyst looks at it and closes it, or the citizen's reply lands there);
- a citizen wrote last → ``unanswered`` (default ``open``: it was never
  answered, so it must not disappear into a closed ticket).

Automatic mail (out-of-office replies, bounces) never counts as the last
word of anybody.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.calendar.mailboxes import deadline
from gateway.config import MailboxConfig
from gateway.durations import Duration
from gateway.tickets.states import Status

CLOSED_REASON = "migrated"


@dataclass(frozen=True)
class StatePolicy:
    closed_after: Duration  # e.g. 3bd, 30d
    answered: Status = Status.OPEN
    unanswered: Status = Status.OPEN

    @classmethod
    def default(cls, mailbox: MailboxConfig) -> StatePolicy:
        return cls(closed_after=mailbox.solved_limit)


@dataclass(frozen=True)
class Inferred:
    status: Status
    closed_at: datetime | None


def infer(*, team_wrote_last: bool, last_at: datetime | None, now: datetime, mailbox: MailboxConfig,
          policy: StatePolicy) -> Inferred:
    """The state of a conversation whose last human mail is ``last_at``
    (None: undated, taken as old)."""
    if not team_wrote_last:
        return _as(policy.unanswered, now)
    limit = deadline(mailbox, last_at, policy.closed_after) if last_at is not None else None
    if limit is None or limit <= now:
        return Inferred(Status.CLOSED, limit or now)
    return _as(policy.answered, now)


def _as(status: Status, now: datetime) -> Inferred:
    return Inferred(status, now if status is Status.CLOSED else None)
