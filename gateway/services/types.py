"""Small value types shared by the pipeline and the services."""

from __future__ import annotations

import enum


class Role(str, enum.Enum):
    """Who the sender of a mail is, for the ticket it reaches."""

    REQUESTER = "requester"
    PARTICIPANT = "participant"  # was on the ticket's mails (CC)
    ANALYST = "analyst"  # in the mailbox's team, with proof
    COLLEAGUE = "colleague"  # a proven analyst of another mailbox: a note at most, never a command
    STRANGER = "stranger"  # anyone else: never let into the ticket
