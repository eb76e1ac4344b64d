"""Small value types shared by the pipeline and the services."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class Role(str, enum.Enum):
    """Who the sender of a mail is, for the ticket it reaches."""

    REQUESTER = "requester"
    PARTICIPANT = "participant"  # was on the ticket's mails (CC)
    ANALYST = "analyst"  # in the mailbox's team, with proof
    COLLEAGUE = "colleague"  # a proven analyst of another mailbox: a note at most, never a command
    STRANGER = "stranger"  # anyone else: never let into the ticket
    SYSTEM = "system"  # the gateway itself


@dataclass(frozen=True)
class SenderCheck:
    """What the MTA in front says of a mail's From.  ``ok``: proven well
    enough for a requester's decision (accept, refuse, survey score,
    reopening) to be applied as written; ``failed``: the MTA judged the
    mail and the From domain came out unproven, so the From is likely
    forged and nothing automatic should answer it (backscatter); ``why``
    says what the evidence was, for the timeline."""

    ok: bool
    why: str = ""
    failed: bool = False


SENDER_UNCHECKED: Final = SenderCheck(True, "decisions by mail are applied without authentication ([auth])")
