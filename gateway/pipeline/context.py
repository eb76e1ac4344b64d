"""The one object that flows through the pipeline, and how a step stops it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from gateway.clock import Clock
from gateway.config import MailboxConfig, Settings
from gateway.errors import PipelineOrderError
from gateway.mail.parsed import ParsedMail
from gateway.rules.ruling import Ruling
from gateway.services.types import Role
from gateway.store.db import Transaction
from gateway.store.models import InboxRow, TicketRow


class Outcome(str, enum.Enum):
    """What finally happened to a mail; stored on its inbox row."""

    NEW_TICKET = "new_ticket"
    FOLLOW_UP = "follow_up"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"


class Flag(str, enum.Enum):
    AUTOMATIC = "automatic"  # must never be answered (RFC 3834)
    BOUNCE = "bounce"  # a delivery status notification
    FORGED_ANALYST = "forged_analyst"  # claims an analyst address without proof


@dataclass(frozen=True)
class Stop:
    """Returned by a step that ends processing; ``reason`` is for a person."""

    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class TraceEntry:
    step: str
    note: str
    at: datetime


@dataclass
class MailContext:
    """What the pipeline knows about one accepted mail, built up step by step."""

    inbox: InboxRow
    settings: Settings
    tx: Transaction
    clock: Clock
    # Set by the steps, in order:
    mail: ParsedMail | None = None  # parse
    mailbox: MailboxConfig | None = None  # route
    token: str | None = None  # route: the `+protocol` part of the recipient
    ticket: TicketRow | None = None  # find_ticket (None: a new ticket)
    match_reason: str = ""  # find_ticket: how the ticket was found
    previous_ticket: TicketRow | None = None  # identify: closed or not the sender's
    role: Role | None = None  # identify
    ruling: Ruling | None = None  # apply_rules (None: no rules for this mail)
    flags: dict[Flag, str] = field(default_factory=dict)
    trace: list[TraceEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ticket_id: int | None = None  # act: the ticket the mail ended in

    def flag(self, flag: Flag, reason: str) -> None:
        self.flags.setdefault(flag, reason)

    def note(self, text: str) -> None:
        """Record why a step decided what it did (read by ``gateway explain``)."""
        self.notes.append(text)

    def require_mail(self) -> ParsedMail:
        if self.mail is None:
            raise PipelineOrderError("ctx.mail is unset: 'parse' must run before this step")
        return self.mail

    def require_mailbox(self) -> MailboxConfig:
        if self.mailbox is None:
            raise PipelineOrderError("ctx.mailbox is unset: 'route' must run before this step")
        return self.mailbox

    def require_role(self) -> Role:
        if self.role is None:
            raise PipelineOrderError("ctx.role is unset: 'identify' must run before this step")
        return self.role

    @property
    def automatic(self) -> bool:
        return Flag.AUTOMATIC in self.flags or Flag.BOUNCE in self.flags
