"""What the citizen's pages read and do, in the caller's transaction.

The pages (``gateway.web``) are another door to the same ticket life: an
answer given on a page is decided by the same ``gateway.tickets``
functions as the same answer by mail, and written by the same writer, so
the ticket, its timeline and the mails are the same whichever door was
used (:class:`PageAnswers`).  What a page may *show* is decided here, once:
the requester's own mails, the mails sent to them, the mails of others on
the ticket (participants: labelled as someone else's, their address
masked, so nobody takes their words for the requester's), and the moves
of the ticket; never internal notes, team notices, analysts' own mails or
addresses (PITFALLS L).  Whatever it shows has personal data masked
(``mask_personal_data``): a tracking link can be forwarded, shared or left
in a browser's history, and a CPF or phone number must not travel with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from gateway.calendar.mailboxes import deadline
from gateway.config import MailboxConfig, Settings
from gateway.outbound import words
from gateway.services.writer import TicketWriter
from gateway.services.types import Role
from gateway.store import fields, outbox, tickets
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets import protocol as protocols
from gateway.tickets import requester, survey
from gateway.tickets.change import To, event, notice
from gateway.tickets.kinds import EventKind, Template
from gateway.tickets.fields import mask_personal_data
from gateway.tickets.states import Status

# Events the requester sees on the timeline; everything else (notes,
# assignments, command errors, reminders, skipped acknowledgements) is the team's.
PUBLIC_EVENTS: Final = frozenset({
    "created", "opened", "asked", "answered", "solved", "refused", "accepted", "auto_accepted", "closed",
    "rejected", "reopened", "survey_answered", "survey_updated",
    "fields_missing", "fields_still_missing", "fields_completed",
})
# Public events shown with their note: the data asked for, still missing, received.
NOTED: Final = frozenset({"fields_missing", "fields_still_missing", "fields_completed"})
# What the requester is expected to do, by state (keys of the pages' texts).
EXPECTED: Final = {
    Status.NEW: "expect_new", Status.ASSIGNED: "expect_new", Status.OPEN: "expect_open", Status.WAITING: "expect_waiting",
    Status.SOLVED: "expect_solved", Status.CLOSED: "expect_closed", Status.REJECTED: "expect_rejected",
}


@dataclass(frozen=True)
class PublicAttachment:
    filename: str
    size: int


@dataclass(frozen=True)
class PublicEntry:
    """One line of the citizen's timeline: a move of the ticket or a mail."""

    at: datetime
    kind: str  # "event" or "message"
    what: str  # event kind (or "answered_by_other"), or "from_you" / "from_other" / "to_you"
    from_status: str | None = None
    to_status: str | None = None
    subject: str = ""
    text: str = ""
    attachments: tuple[PublicAttachment, ...] = ()
    automatic: bool = False  # an acknowledgement or another notice the gateway wrote itself
    who: str = ""  # "from_other" only: the sender's address, masked (m***@example.org)
    note: str = ""  # NOTED events only: what was asked for or received ("CPF ausente, UF ausente")


@dataclass(frozen=True)
class PublicTicket:
    protocol: str
    mailbox: str
    mailbox_name: str
    subject: str
    status: Status
    language: str
    expected: str  # a key of the pages' texts
    due_words: str | None  # "sexta-feira, 27/11/2026, às 18h", when the requester has a limit
    solution_round: int
    solution_text: str
    entries: list[PublicEntry] = field(default_factory=list)


def find(tx: Transaction, protocol: str, *, lock: bool = False) -> TicketRow | None:
    """The ticket; with ``lock``, held until the transaction ends, so two
    clicks on a page (or a click and a mail) cannot both answer one proposal."""
    ticket = tickets.by_protocol(tx, protocol)
    if ticket is not None and lock:
        tx.refresh(ticket, with_for_update=True)  # SQLite: BEGIN IMMEDIATE already serialises writers
    return ticket


def public_ticket(tx: Transaction, settings: Settings, ticket: TicketRow, language: str) -> PublicTicket:
    mailbox = _mailbox(settings, ticket)
    status = Status(ticket.status)
    # The requester's own limit (an answer to a question, to a solution); reminders and SLA targets are not theirs.
    limit = ticket.limit_at if status in (Status.WAITING, Status.SOLVED) else None
    timezone = mailbox.timezone if mailbox else "America/Sao_Paulo"
    return PublicTicket(
        protocol=ticket.protocol, mailbox=ticket.mailbox,
        mailbox_name=mailbox.display_name if mailbox else ticket.mailbox, subject=mask_personal_data(ticket.subject),
        status=status, language=language, expected=EXPECTED[status],
        due_words=words.deadline(limit, timezone, language) if limit else None,
        solution_round=ticket.solution_round, solution_text=mask_personal_data(_solution_text(tx, ticket)),
        entries=_entries(tx, ticket),
    )


def lookup(tx: Transaction, protocol_text: str, address: str = "", cpf: str = "") -> TicketRow | None:
    """The ticket whose protocol matches and whose requester's address (or
    CPF, as a mail of theirs gave it and it passed its check) matches too,
    else None.

    The protocol's check digit is validated, the address compared without
    case, the CPF by its digits; a participant's address does not count
    (the link goes to the address on file, which is the requester's).
    """
    parsed = protocols.parse(protocol_text)
    if parsed is None:
        return None
    ticket = tickets.by_protocol(tx, str(parsed))
    if ticket is None:
        return None
    if address.strip():
        return ticket if ticket.requester.lower() == address.strip().lower() else None
    typed = re.sub(r"\D", "", cpf)
    stored, valid = fields.of_ticket(tx, ticket.id).get("cpf", ("", False))
    if len(typed) == 11 and valid and re.sub(r"\D", "", stored) == typed:
        return ticket
    return None


def normalised_protocol(protocol_text: str) -> str:
    """The key the look-up is rate-limited by, whether or not it exists."""
    parsed = protocols.parse(protocol_text)
    return str(parsed) if parsed else " ".join(protocol_text.upper().split())[:40]


def survey_open(settings: Settings, ticket: TicketRow, at: datetime) -> bool:
    """As by mail: only after an accepted solution, within the mailbox's survey window."""
    mailbox = _mailbox(settings, ticket)
    if mailbox is None:
        return False
    return survey.open_at(ticket, at, deadline(mailbox, ticket.closed_at or ticket.updated_at, mailbox.survey_window))


class PageAnswers:
    """What a page does to a ticket (the signed link is the requester's
    proof), decided as the same answer by mail is and written by the writer."""

    def __init__(self, settings: Settings, writer: TicketWriter) -> None:
        self.settings, self.writer = settings, writer

    def accept(self, tx: Transaction, ticket: TicketRow, *, at: datetime) -> None:
        """"Aceitar": closed, survey sent, the team told."""
        self.writer.apply(tx, ticket, requester.accepted_on_page(ticket, actor=ticket.requester), at=at)

    def refuse(self, tx: Transaction, ticket: TicketRow, reason: str, *, at: datetime) -> None:
        """"Recusar": back to work with the reason (``ValueError`` when blank), the team told."""
        self.writer.apply(tx, ticket, requester.refused_on_page(ticket, reason, actor=ticket.requester), at=at)

    def survey(self, tx: Transaction, ticket: TicketRow, score: int, comment: str | None, *, at: datetime) -> None:
        """A score; a later one replaces it, as by mail."""
        self.writer.apply(tx, ticket, survey.answered(ticket, score, comment, actor=ticket.requester, at=at), at=at)

    def send_tracking_link(self, tx: Transaction, ticket: TicketRow, *, at: datetime) -> None:
        """Mail a fresh tracking link to the requester on file (never to the
        address typed on the page, which only had to match it)."""
        self.writer.apply(tx, ticket, notice(Template.TRACKING_LINK, To.REQUESTER, threaded=False,
                                             context={"valid_days": self.settings.web.link_max_age_days})
                          + event(EventKind.TRACKING_LINK_SENT, "gateway", "look-up page"), at=at)


def _mailbox(settings: Settings, ticket: TicketRow) -> MailboxConfig | None:
    found = settings.mailbox_for(ticket.mailbox)
    return found[0] if found else None


def _solution_text(tx: Transaction, ticket: TicketRow) -> str:
    """The text of the latest proposal (the note of the last 'solved' event)."""
    solved = [e for e in tickets.events(tx, ticket.id) if e.kind == "solved"]
    return solved[-1].note if solved else ""


def _entries(tx: Transaction, ticket: TicketRow) -> list[PublicEntry]:
    to_requester = {row.message_id for row in outbox.for_ticket(tx, ticket.id)
                    if ticket.requester in row.rcpt_tos}
    requester = ticket.requester.lower()
    entries = [
        PublicEntry(at=e.at, kind="event", what=_event_what(e.kind, e.actor, requester), from_status=e.from_status,
                    to_status=e.to_status, note=mask_personal_data(e.note) if e.kind in NOTED else "")
        for e in tickets.events(tx, ticket.id) if e.kind in PUBLIC_EVENTS
    ]
    for message in ticket.messages:
        if message.internal:
            continue
        who = ""
        if message.direction == "in" and message.role == Role.REQUESTER.value:
            what = "from_you"
        elif message.direction == "in" and message.role == Role.PARTICIPANT.value:
            what, who = "from_other", masked_address(message.sender)
        elif message.direction == "out" and message.message_id in to_requester:
            what = "to_you"
        else:  # an analyst's own mail, a stranger's, a notice to the team
            continue
        entries.append(PublicEntry(
            at=message.sent_at, kind="message", what=what, who=who, subject=mask_personal_data(message.subject),
            text=mask_personal_data(message.text),
            attachments=tuple(PublicAttachment(mask_personal_data(a.filename) if a.filename else a.filename, a.size)
                              for a in message.attachments),
            automatic=message.automatic and message.direction == "out"))
    return sorted(entries, key=lambda entry: entry.at)


def masked_address(address: str) -> str:
    """Enough of an address to tell two people apart, not to write to them.

    >>> masked_address("mallory@evil.example")
    'm***@evil.example'
    """
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        return "***"
    return mask_personal_data(f"{local[0]}***@{domain.lower()}")


def _event_what(kind: str, actor: str, requester: str) -> str:
    """The event's text key: "you answered" only when the requester did
    (a participant may answer a question too)."""
    if kind == "answered" and actor.strip().lower() != requester:
        return "answered_by_other"
    return kind
