"""Apply a routed mail: open a ticket, add a follow-up, relay an analyst.

Each function runs inside the caller's transaction and writes the ticket
rows, the timeline and the outbox together, so either all of a mail's
effects exist or none do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.config import MailboxConfig, Settings
from gateway.mail.headers import clean
from gateway.mail.parsed import Attachment, ParsedMail
from gateway.mail.quotes import reply_text
from gateway.outbound.compose import FileToSend
from gateway.outbound.notices import Notifier
from gateway.services.types import Role
from gateway.store import outbox, tickets
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets.protocol import Protocol
from gateway.tickets.states import Status

_ZONE = ZoneInfo("America/Sao_Paulo")
NO_SUBJECT = "(sem assunto)"


@dataclass(frozen=True)
class Incoming:
    """One processed mail as the services need it."""

    mail: ParsedMail
    inbox_id: int
    mailbox: MailboxConfig
    sender: str
    at: datetime
    automatic: bool = False
    bounce: bool = False


class Intake:
    def __init__(self, settings: Settings, notifier: Notifier) -> None:
        self.settings = settings
        self.notifier = notifier

    def open_ticket(self, tx: Transaction, incoming: Incoming, *, previous: TicketRow | None = None,
                    previous_reason: str = "") -> TicketRow:
        mail, mailbox, now = incoming.mail, incoming.mailbox, incoming.at
        year = now.astimezone(_ZONE).year
        protocol = Protocol(mailbox.protocol_prefix, year, tickets.next_sequence(tx, mailbox.protocol_prefix, year))
        ticket = tickets.add_ticket(
            tx, protocol=str(protocol), mailbox=mailbox.address, status=Status.NEW.value,
            requester=incoming.sender, requester_name=clean(mail.from_name, limit=200),
            subject=clean(mail.subject) or NO_SUBJECT,
            language=mailbox.language, created_at=now, updated_at=now,
            linked_ticket_id=previous.id if previous else None)
        self._store_message(tx, ticket, incoming, role=Role.REQUESTER, text=mail.text)
        tickets.add_participants(tx, ticket.id, self._others(mail, incoming.sender, mailbox))
        tickets.add_event(tx, ticket, at=now, actor=incoming.sender, kind="created", to_status=Status.NEW.value,
                          note=f"linked to {previous.protocol}" if previous else "")
        if previous is not None:
            tickets.add_event(tx, previous, at=now, actor="gateway", kind="note",
                              note=f"{previous_reason}; opened {ticket.protocol}")
        if incoming.automatic:
            tickets.add_event(tx, ticket, at=now, actor="gateway", kind="ack_skipped",
                              note="automatic mail: no acknowledgement (RFC 3834)")
        elif self._ack_allowed(tx, incoming.sender, now):
            self.notifier.queue(tx, kind="ack", ticket=ticket, mailbox=mailbox, to=[incoming.sender], now=now,
                                in_reply_to=mail.message_id, references=_thread(mail))
        else:
            tickets.add_event(tx, ticket, at=now, actor="gateway", kind="ack_skipped",
                              note=f"more than {self.settings.limits.acks_per_sender_per_hour} acknowledgements "
                                   f"to {incoming.sender} in one hour")
        self._tell_team(tx, "team_new", ticket, incoming, text=mail.text)
        return ticket

    def add_follow_up(self, tx: Transaction, ticket: TicketRow, incoming: Incoming, *, role: Role,
                      match_reason: str) -> None:
        mail, now = incoming.mail, incoming.at
        text = reply_text(mail.text) if mail.text else ""
        self._store_message(tx, ticket, incoming, role=role, text=text)
        ticket.updated_at = now
        if incoming.automatic:
            kind = "bounce" if incoming.bounce else "automatic_mail"
            tickets.add_event(tx, ticket, at=now, actor=incoming.sender or "MAILER-DAEMON", kind=kind,
                              note=f"stored, no state change ({match_reason})")
            return
        tickets.add_participants(tx, ticket.id, self._others(mail, ticket.requester, incoming.mailbox))
        tickets.add_event(tx, ticket, at=now, actor=incoming.sender, kind="follow_up", note=f"matched by {match_reason}")
        self._tell_team(tx, "team_followup", ticket, incoming, text=text)

    def relay_analyst_reply(self, tx: Transaction, ticket: TicketRow, incoming: Incoming) -> None:
        """An analyst answered from their own client: the requester gets the
        answer under the service's name, never the analyst's address."""
        mail, now = incoming.mail, incoming.at
        text = reply_text(mail.text) if mail.text else ""
        self._store_message(tx, ticket, incoming, role=Role.ANALYST, text=text)
        if ticket.status == Status.NEW.value:
            tickets.add_event(tx, ticket, at=now, actor=incoming.sender, kind="status",
                              from_status=Status.NEW.value, to_status=Status.OPEN.value, note="first analyst reply")
            ticket.status = Status.OPEN.value
        ticket.updated_at = now
        tickets.add_event(tx, ticket, at=now, actor=incoming.sender, kind="analyst_reply", note="relayed to requester")
        requester_thread = tickets.thread_for(tx, ticket.id, ours_only=False)
        self.notifier.queue(tx, kind="analyst_reply", ticket=ticket, mailbox=incoming.mailbox,
                            to=[ticket.requester], now=now, context={"text": text},
                            in_reply_to=requester_thread[-1] if requester_thread else None,
                            references=requester_thread, attachments=_files(mail.attachments),
                            auto_submitted=None, role=Role.ANALYST.value)

    def _store_message(self, tx: Transaction, ticket: TicketRow, incoming: Incoming, *, role: Role,
                       text: str) -> None:
        mail = incoming.mail
        tickets.add_message(
            tx, ticket, inbox_id=incoming.inbox_id, direction="in", role=role.value, sender=incoming.sender,
            sent_at=mail.date or incoming.at, subject=clean(mail.subject), text=text, message_id=mail.message_id,
            automatic=incoming.automatic,
            attachments=[{"filename": a.filename, "declared_type": a.declared_type, "sniffed_type": a.sniffed_type,
                          "size": a.size, "sha256": hashlib.sha256(a.data).hexdigest()} for a in mail.attachments])
        tickets.add_thread_ref(tx, mail.message_id, ticket.id, ours=False)

    def _tell_team(self, tx: Transaction, kind: str, ticket: TicketRow, incoming: Incoming, *, text: str) -> None:
        mailbox = incoming.mailbox
        if not mailbox.team:
            return
        team_thread = tickets.thread_for(tx, ticket.id, ours_only=True, kinds=("team_new",))
        self.notifier.queue(
            tx, kind=kind, ticket=ticket, mailbox=mailbox, to=list(mailbox.team), now=incoming.at,
            context={"text": text, "sender": incoming.sender, "sender_name": clean(incoming.mail.from_name, limit=200),
                     "attachments": [a.filename for a in incoming.mail.attachments]},
            reply_to=mailbox.address_with_token(ticket.protocol),
            in_reply_to=team_thread[-1] if team_thread else None, references=team_thread,
            attachments=_files(incoming.mail.attachments), auto_submitted="auto-generated",
            from_name=f"{incoming.mail.from_name or incoming.sender} via {mailbox.display_name}")

    def _ack_allowed(self, tx: Transaction, sender: str, now: datetime) -> bool:
        sent = outbox.count_recent(tx, rcpt=sender, kind="ack", since=now - timedelta(hours=1))
        return sent < self.settings.limits.acks_per_sender_per_hour

    def _others(self, mail: ParsedMail, requester: str, mailbox: MailboxConfig) -> set[str]:
        excluded = {requester, *self.settings.own_addresses, *mailbox.team, *mailbox.analysts}
        return {a for a in (*mail.to, *mail.cc) if a and a not in excluded and "+" not in a.split("@")[0]}


def _thread(mail: ParsedMail) -> list[str]:
    return [*mail.references, *([mail.message_id] if mail.message_id else [])]


def _files(attachments: Iterable[Attachment]) -> list[FileToSend]:
    return [FileToSend(a.filename or "anexo", a.sniffed_type or a.declared_type or "application/octet-stream", a.data)
            for a in attachments]
