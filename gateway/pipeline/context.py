"""The one object that flows through the pipeline, and how a step stops it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from gateway.clock import Clock
from gateway.config import MailboxConfig, Settings
from gateway.errors import PipelineOrderError
from gateway.mail.authresults import Evidence, trusted_evidence
from gateway.mail.parsed import ParsedMail
from gateway.rules.ruling import Ruling
from gateway.services.bounces import Bounced
from gateway.services.types import Role
from gateway.store.db import Transaction
from gateway.store.models import InboxRow, TicketRow


class Outcome(str, enum.Enum):
    """What finally happened to a mail; stored on its inbox row."""

    NEW_TICKET = "new_ticket"
    FOLLOW_UP = "follow_up"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"
    FORWARDED = "forwarded"  # postmaster@/abuse@ mail, handed to a person, no ticket
    FILED = "filed"  # a bounce or auto-reply that names no ticket: kept and counted, never answered


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
    forward_to: str | None = None  # route: postmaster@/abuse@ mail goes to this person instead
    return_path: str | None = None  # route: sent to bounce+<token>@ (mail.verp): the token ("" none readable)
    bounced: Bounced | None = None  # find_ticket: the delivery report and the mail of ours it is about
    ticket: TicketRow | None = None  # find_ticket (None: a new ticket)
    match_reason: str = ""  # find_ticket: how the ticket was found
    previous_ticket: TicketRow | None = None  # identify: closed or not the sender's
    home: MailboxConfig | None = None  # identify: the mailbox whose team's word counts on the ticket
    role: Role | None = None  # identify
    proof: str = ""  # identify: how an analyst proved who they are
    ruling: Ruling | None = None  # apply_rules (None: no rules for this mail)
    # apply_rules, on a closed ticket: the judgement as a first mail, for when the reply becomes a new ticket
    ruling_as_new: Ruling | None = None
    flags: dict[Flag, str] = field(default_factory=dict)
    trace: list[TraceEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ticket_id: int | None = None  # act: the ticket the mail ended in
    protocol: str | None = None  # act: that ticket's protocol (the log line and the metrics need no query)
    _evidence: Evidence | None = field(default=None, repr=False)

    @property
    def evidence(self) -> Evidence:
        """What the trusted MTA in front says about the sender, read when
        first asked: only analysts' mail and requesters' decisions need it,
        and parsing the headers costs more than the rest of ``identify``."""
        if self._evidence is None:
            self._evidence = trusted_evidence(self.require_mail().raw_headers,
                                              self.settings.auth.trusted_authserv_ids,
                                              trusted_path=came_through_border(self.inbox, self.settings))
        return self._evidence

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


def came_through_border(inbox: InboxRow, settings: Settings) -> bool:
    """Whether the mail came through the MTA we trust, so that its headers
    may speak for it: pipe deliveries come from the site's MTA; SMTP and
    LMTP count from ``[smtp] trusted_networks`` (LMTP without that list:
    from loopback); an IMAP account only where its mailbox says its server
    strips foreign headers (``[mailbox.imap] trust_authentication_results``).
    On the public listener (anyone else), on the submission listener and in
    a migration, nobody in front of us vouched for any header."""
    if inbox.via == "pipe":
        return True
    if inbox.via == "imap":
        found = settings.mailbox_for(inbox.mailbox_hint or "")
        return bool(found and found[0].imap and found[0].imap.trust_authentication_results)
    return inbox.via in ("smtp", "lmtp") and settings.smtp.trusts(inbox.peer, inbox.via)


def internal_path(inbox: InboxRow, settings: Settings, mailbox: MailboxConfig) -> bool:
    """Whether mail came to the ``internal`` mailbox the only ways it may:
    addressed to it in the envelope (never a header's To: a mail for
    postmaster@ with ``To: interno@`` is not mail for interno@), and by the
    submission listener (a login), pipe delivery from the site's MTA, or
    SMTP/LMTP from the MTA in front.  The listener refuses anyone else at
    RCPT; this is the same rule for mail that reached the pipeline another
    way (an IMAP account, a released quarantine)."""
    addressed = [inbox.mailbox_hint or "", *inbox.rcpt_tos]
    if not any((found := settings.mailbox_for(a)) and found[0].address == mailbox.address for a in addressed):
        return False
    if inbox.via in ("submission", "pipe"):
        return True
    return inbox.via in ("smtp", "lmtp") and settings.smtp.trusts(inbox.peer, inbox.via)
