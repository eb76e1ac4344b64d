"""One processed mail as the use cases need it, and what each of them does
with such a mail: keep it on its ticket, and tell the team about it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from gateway.config import MailboxConfig
from gateway.mail.headers import clean
from gateway.mail.parsed import Attachment, ParsedMail
from gateway.outbound.compose import FileToSend
from gateway.rules.ruling import Ruling
from gateway.services.types import Role
from gateway.store import tickets
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets.change import Change, To, notice
from gateway.tickets.kinds import Template
from gateway.tickets.requester import UNCHECKED, Proof

NO_SUBJECT = "(sem assunto)"
#: Files a mail names before "e mais N arquivos": a mail of 10,000 parts
#: once drew a 1.5 MB list back to its sender, and to the team.
MAX_LISTED = 20


@dataclass(frozen=True)
class Incoming:
    """One processed mail: who sent it, to which mailbox, what the rules decided."""

    mail: ParsedMail
    inbox_id: int
    mailbox: MailboxConfig
    sender: str
    at: datetime
    automatic: bool = False
    bounce: bool = False
    ruling: Ruling | None = None  # what the mailbox's rules decided (apply_rules)
    # What the MTA in front says of the From ([auth] requester_decisions);
    # a callable, asked only when a decision needs it.
    check_sender: Callable[[], Proof] = field(default=lambda: UNCHECKED, repr=False)

    def passes_on(self, index: int) -> bool:
        """Whether attachment ``index`` may go to the team (the rules' attachment policy)."""
        return self.ruling is None or self.ruling.passes_on(index)

    def passed_on(self) -> list[Attachment]:
        return [a for index, a in enumerate(self.mail.attachments) if self.passes_on(index)]


def keep(tx: Transaction, ticket: TicketRow, incoming: Incoming, *, role: Role, text: str,
         internal: bool = False) -> None:
    """The mail on the ticket's timeline (its text as stored: quotes removed
    for a reply), its attachments described, its Message-ID for threading."""
    mail = incoming.mail
    tickets.add_message(
        tx, ticket, inbox_id=incoming.inbox_id, direction="in", role=role.value, sender=incoming.sender,
        sent_at=mail.date or incoming.at, subject=clean(mail.subject), text=text, message_id=mail.message_id,
        automatic=incoming.automatic, internal=internal,
        attachments=[{"filename": a.filename, "declared_type": a.declared_type, "sniffed_type": a.sniffed_type,
                      "size": a.size, "sha256": hashlib.sha256(a.data).hexdigest(),
                      "passed_on": incoming.passes_on(index)} for index, a in enumerate(mail.attachments)])
    tickets.add_thread_ref(tx, mail.message_id, ticket.id, ours=False)
    if not incoming.automatic:  # a robot's Thread-Index or thread is its own conversation, not the ticket's
        tickets.add_thread_index(tx, mail.thread_index, ticket.id)
        tickets.add_thread_root(tx, mail.thread_root, ticket.id)


def team_notice(incoming: Incoming, template: Template, *, text: str, headline: str = "",
                first: bool = False) -> Change:
    """The team's mail about this one: its text, the files the rules pass on
    (named up to MAX_LISTED), Reply-To the ticket; ``first``: it starts the
    team's thread (a new ticket)."""
    passed = incoming.passed_on()
    names = [a.filename for a in passed]
    return notice(template, To.TEAM, automatic="auto-generated", files=tuple(files(passed)),
                  thread=() if first else None,
                  sender_name=incoming.mail.from_name or incoming.sender,
                  context={"text": text, "sender": incoming.sender,
                           "sender_name": clean(incoming.mail.from_name, limit=200),
                           "attachments": names[:MAX_LISTED], "attachments_more": max(0, len(names) - MAX_LISTED),
                           "headline": headline})


def files(attachments: Iterable[Attachment]) -> list[FileToSend]:
    """Attachments as mails carry them on."""
    return [FileToSend(a.filename or "anexo", a.sniffed_type or a.declared_type or "application/octet-stream", a.data)
            for a in attachments]


def others(mail: ParsedMail, requester: str, mailbox: MailboxConfig, own_addresses: frozenset[str]) -> set[str]:
    """The people a mail was also written to: the ticket's participants."""
    excluded = {requester, *own_addresses, *mailbox.team, *mailbox.analysts}
    return {a for a in (*mail.to, *mail.cc) if a and a not in excluded and "+" not in a.split("@")[0]}


def thread_of(mail: ParsedMail) -> tuple[str, ...]:
    """The thread an answer to ``mail`` continues: its References and itself."""
    return (*mail.references, *((mail.message_id,) if mail.message_id else ()))
