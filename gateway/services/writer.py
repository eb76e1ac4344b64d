"""The one writer of what a decision changes.

Decisions are pure (``gateway.tickets``) and return a
:class:`~gateway.tickets.change.Change`; :meth:`TicketWriter.apply` turns
it into rows and mails in the caller's transaction: the ticket's status and
fields, its deadlines recomputed, the events on its timeline, and each mail
rendered into the outbox, addressed and threaded for its reader.  No other
code changes a ticket, so "who wrote this?" has one answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from gateway import links
from gateway.config import MailboxConfig, Settings
from gateway.outbound import words
from gateway.outbound.notices import Notifier
from gateway.services import deadlines
from gateway.store import bounces, outbox, tickets
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets.bounces import AUTOMATIC_TO_REQUESTER
from gateway.tickets.change import KEEP, Change, Deadline, Link, Notice, To
from gateway.tickets.commands import help_text
from gateway.tickets.kinds import EventKind, Template
from gateway.tickets.states import Status

#: Automatic answers to a requester that count together against acks_per_sender_per_hour.
AUTO_ANSWERS: Final = (Template.ACK.value, Template.REJECTED.value, Template.MISSING_FIELDS.value,
                       Template.ATTACHMENTS_REFUSED.value)
_CLOSING: Final = frozenset({Status.CLOSED, Status.REJECTED})
_CLOSED_VALUES: Final = frozenset(status.value for status in _CLOSING)


class TicketWriter:
    def __init__(self, settings: Settings, notifier: Notifier) -> None:
        self.settings, self.notifier = settings, notifier

    def apply(self, tx: Transaction, ticket: TicketRow, change: Change, *, at: datetime,
              mailbox: MailboxConfig | None = None, sender: str = "") -> None:
        """Write ``change`` to ``ticket``: status and fields, deadlines,
        events, then the mails in order (a later mail threads under an
        earlier one).  ``sender``: whom ``To.SENDER`` mails answer."""
        mailbox = mailbox or self.mailbox_of(ticket)
        if change.status is not None:
            self._move(ticket, change, at)
        for name, value in change.fields.items():
            setattr(ticket, name, value)
        if change.status is not None:
            deadlines.refresh(ticket, mailbox, at, limit=None if change.limit is KEEP else change.limit)
        elif change.refresh:
            deadlines.refresh(ticket, mailbox, at)
        for event in change.events:
            tickets.add_event(tx, ticket, at=at, actor=event.actor, kind=event.kind.value, note=event.note,
                              from_status=event.from_status.value if event.from_status else None,
                              to_status=event.to_status.value if event.to_status else None)
        for address in change.revived:
            self._revive(tx, ticket, address, at)
        if mailbox is None:
            return  # a mailbox no longer configured: nobody to write as
        shared: dict[str, Any] = {}  # the variables every mail of this change has, once the first needs them
        for notice in change.notices:
            self._send(tx, ticket, mailbox, notice, at, sender, shared)

    def mailbox_of(self, ticket: TicketRow) -> MailboxConfig | None:
        found = self.settings.mailbox_for(ticket.mailbox)
        return found[0] if found else None

    # -- the parts -------------------------------------------------------------

    def _move(self, ticket: TicketRow, change: Change, at: datetime) -> None:
        status = change.status
        assert status is not None
        if ticket.status in _CLOSED_VALUES and status not in _CLOSING:
            ticket.reopened_at = at  # `gateway report` counts reopenings by it (the timeline has the event)
        ticket.status, ticket.updated_at = status.value, at
        if status is not Status.WAITING:
            ticket.missing_fields = ""  # only a ticket waiting for its required data lacks it
        if status in _CLOSING:
            ticket.closed_at = at
            ticket.closed_reason = change.closed_reason.value if change.closed_reason else None
        else:
            ticket.closed_at = ticket.closed_reason = None

    def _send(self, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, notice: Notice, at: datetime,
              sender: str, shared: dict[str, Any]) -> None:
        to = self._recipients(ticket, mailbox, notice.to, sender)
        if not to:
            return
        template = notice.template.value if isinstance(notice.template, Template) else notice.template
        if notice.capped and not self._may_answer(tx, ticket, template, at):
            return
        if notice.to is To.REQUESTER and template in AUTOMATIC_TO_REQUESTER and self._dead(tx, ticket, template, at):
            return
        thread = self._thread(tx, ticket, notice)
        answerable = notice.to is not To.REQUESTER and notice.answerable
        if not shared:  # nothing between two mails of one change alters the ticket
            shared.update(self.notifier.common(tx, ticket, mailbox, at))
        self.notifier.queue(
            tx, kind=template, ticket=ticket, mailbox=mailbox, to=to, now=at,
            context=self._context(ticket, mailbox, notice),
            reply_to=mailbox.address_with_token(ticket.protocol) if answerable else None,
            in_reply_to=thread[-1] if thread else None, references=thread, attachments=notice.files,
            auto_submitted=notice.automatic,
            from_name=f"{notice.sender_name} via {mailbox.display_name}" if notice.sender_name else None,
            role="analyst" if notice.to is To.REQUESTER and notice.automatic is None else "system", common=shared)

    @staticmethod
    def _recipients(ticket: TicketRow, mailbox: MailboxConfig, to: To, sender: str) -> list[str]:
        if to is To.REQUESTER:
            return [ticket.requester]
        if to is To.SENDER:
            return [sender] if sender else []
        assignee = [ticket.assignee] if ticket.assignee and ticket.assignee not in mailbox.team else []
        return [*mailbox.team, *assignee]

    def _may_answer(self, tx: Transaction, ticket: TicketRow, template: str, at: datetime) -> bool:
        """An automatic answer to the requester, unless they already had
        ``acks_per_sender_per_hour`` of them in the hour (acknowledgements
        included): a robot answering us stops here."""
        since, limit = at - timedelta(hours=1), self.settings.limits.acks_per_sender_per_hour
        sent = outbox.count_recent(tx, rcpt=ticket.requester, kinds=AUTO_ANSWERS, since=since)
        if sent < limit:
            return True
        tickets.add_event(tx, ticket, at=at, actor="gateway", kind=EventKind.ANSWER_SKIPPED.value,
                          note=f"{template}: already {limit} automatic answers to {ticket.requester} in one hour")
        return False

    @staticmethod
    def _dead(tx: Transaction, ticket: TicketRow, template: str, at: datetime) -> bool:
        """A reminder or automatic closing notice to a requester whose address
        bounced for good (tickets.bounces): not sent, and the timeline says so."""
        row = bounces.mark_of(tx, ticket.requester)
        if row is None:
            return False
        tickets.add_event(tx, ticket, at=at, actor="gateway", kind=EventKind.ANSWER_SKIPPED.value,
                          note=f"{template}: não enviado: {ticket.requester} marcado como inválido "
                               f"({row.status or row.reason}, devolução de {row.failed_at:%d/%m/%Y})")
        return True

    @staticmethod
    def _revive(tx: Transaction, ticket: TicketRow, address: str, at: datetime) -> None:
        """Clear ``address``'s dead mark, if it has one, and say so on the timeline."""
        row = bounces.mark_of(tx, address)
        if row is None or not bounces.clear(tx, address):
            return
        tickets.add_event(tx, ticket, at=at, actor="gateway", kind=EventKind.ADDRESS_WORKS.value,
                          note=f"{address} escreveu de novo: o endereço volta a receber lembretes e avisos "
                               f"automáticos (marcado como inválido em {row.failed_at:%d/%m/%Y}, "
                               f"{row.status or row.reason})")

    @staticmethod
    def _thread(tx: Transaction, ticket: TicketRow, notice: Notice) -> list[str]:
        """The Message-IDs a mail answers: its reader's own thread only."""
        if notice.thread is not None:
            return list(notice.thread)
        if not notice.threaded or notice.to is To.SENDER:
            return []
        if notice.to is To.TEAM:
            return tickets.thread_for(tx, ticket.id, ours_only=True, kinds=(Template.TEAM_NEW.value,))
        return tickets.thread_for(tx, ticket.id, ours_only=False, reader=ticket.requester)

    def _context(self, ticket: TicketRow, mailbox: MailboxConfig, notice: Notice) -> dict[str, Any]:
        language = ticket.language or mailbox.language
        if notice.to is To.SENDER:
            context: dict[str, Any] = {"help": help_text(ticket.language)}
        elif notice.to is To.REQUESTER:
            context = {"text": ""}
        else:
            context = {}
        context.update({key: self._worded(value, mailbox, language) for key, value in notice.context.items()})
        web = self.settings.web
        if Link.SOLUTION in notice.links:  # for the current proposal only (its round)
            round_ = str(ticket.solution_round)
            context["accept_url"] = links.make_url(web.base_url, web.secret, ticket.protocol, "accept", round_)
            context["refuse_url"] = links.make_url(web.base_url, web.secret, ticket.protocol, "refuse", round_)
        if Link.SURVEY in notice.links:
            context["survey_url"] = links.make_url(web.base_url, web.secret, ticket.protocol, "survey")
        if notice.deadline is not None:
            context.update(self.deadline_words(mailbox, notice.deadline, language))
        return context

    def _worded(self, value: Any, mailbox: MailboxConfig, language: str) -> Any:
        """A Deadline anywhere in a template's variables, in the reader's words."""
        if isinstance(value, Deadline):
            return words.deadline(value.at, mailbox.timezone, language)
        if isinstance(value, list):
            return [self._worded(item, mailbox, language) for item in value]
        if isinstance(value, Mapping):
            return {key: self._worded(item, mailbox, language) for key, item in value.items()}
        return value

    @staticmethod
    def deadline_words(mailbox: MailboxConfig, deadline: Deadline, language: str) -> dict[str, str]:
        """The template variables that put a deadline in the reader's words."""
        worded = {"deadline": words.deadline(deadline.at, mailbox.timezone, language),
                  "deadline_date": words.short_date(deadline.at, mailbox.timezone)}
        if deadline.limit is not None:
            worded["limit_words"] = words.duration(deadline.limit, language)
        return worded
