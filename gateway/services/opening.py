"""Use case: a mail that opens a ticket.

A protocol number from the mailbox's sequence, the row, the requester's
mail and the people it was also written to; then one change: created, what
the rules decided, the acknowledgement (or why there is none), the rules'
automatic answers, and the team's notice.  All in the caller's
transaction, so either all of a mail's effects exist or none do.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.config import Settings
from gateway.mail.headers import clean
from gateway.services import deadlines, rulings
from gateway.services.incoming import NO_SUBJECT, Incoming, keep, others, team_notice, thread_of
from gateway.services.types import Role
from gateway.services.writer import TicketWriter
from gateway.store import outbox, tickets
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets.change import Change, Event, To, event, notice
from gateway.tickets.kinds import EventKind, Template
from gateway.tickets.protocol import Protocol
from gateway.tickets.states import Status

_ZONE = ZoneInfo("America/Sao_Paulo")
_FORGED_HEADLINE = ("ATENÇÃO: o servidor de e-mail não confirmou o remetente; nenhuma resposta automática foi "
                    "enviada.")


class Opening:
    def __init__(self, settings: Settings, writer: TicketWriter) -> None:
        self.settings, self.writer = settings, writer

    def open_ticket(self, tx: Transaction, incoming: Incoming, *, previous: TicketRow | None = None,
                    previous_reason: str = "") -> TicketRow:
        mail, mailbox, now = incoming.mail, incoming.mailbox, incoming.at
        # Queries before the inserts: each query would flush what is pending.
        acks_left = not incoming.automatic and self._ack_allowed(tx, incoming.sender, now)
        forged = not incoming.automatic and incoming.check_sender().failed
        year = now.astimezone(_ZONE).year
        protocol = Protocol(mailbox.protocol_prefix, year, tickets.next_sequence(tx, mailbox.protocol_prefix, year))
        ticket = tickets.add_ticket(
            tx, protocol=str(protocol), mailbox=mailbox.address, status=Status.NEW.value,
            requester=incoming.sender, requester_name=clean(mail.from_name, limit=200),
            subject=clean(mail.subject) or NO_SUBJECT,
            language=mailbox.language, created_at=now, updated_at=now,
            linked_ticket_id=previous.id if previous else None,
            before_insert=lambda new: deadlines.refresh(new, mailbox, now))  # the SLA targets of a new ticket
        keep(tx, ticket, incoming, role=Role.REQUESTER, text=mail.text)
        tickets.add_participants(tx, ticket.id, others(mail, incoming.sender, mailbox, self.settings.own_addresses),
                                 new=True)
        if previous is not None:
            self.writer.apply(tx, previous, event(EventKind.NOTE, "gateway",
                                                  f"{previous_reason}; opened {ticket.protocol}"), at=now)
        plan = rulings.decide_new(tx, ticket, incoming)
        change = Change(events=(_created(incoming, previous),)) + plan.change
        change += self._acknowledgement(incoming, forged=forged, acks_left=acks_left, wanted=plan.acknowledge)
        rejected = plan.change.status is Status.REJECTED
        if not forged:
            change += rulings.answers(ticket, incoming, rejected=rejected,
                                      waiting=plan.change.status is Status.WAITING)
        headline = "\n".join(line for line in (_FORGED_HEADLINE if forged else "", plan.headline) if line)
        change += team_notice(incoming, Template.TEAM_NEW, text=mail.text, headline=headline, first=True)
        self.writer.apply(tx, ticket, change, at=now, mailbox=mailbox)
        return ticket

    def _acknowledgement(self, incoming: Incoming, *, forged: bool, acks_left: bool, wanted: bool) -> Change:
        """The acknowledgement, threaded under the mail itself, or the event that says why there is none."""
        if incoming.automatic:
            return event(EventKind.ACK_SKIPPED, "gateway", "automatic mail: no acknowledgement (RFC 3834)")
        if forged:
            # Answering would mail the sender's words, under our name, to
            # whoever they wrote in From: the backscatter spammers use desks for.
            return event(EventKind.ACK_SKIPPED, "gateway",
                         f"the MTA did not confirm the sender ({incoming.check_sender().why}): no automatic "
                         "answer to a From that is likely forged")
        if not acks_left:
            return event(EventKind.ACK_SKIPPED, "gateway",
                         f"more than {self.settings.limits.acks_per_sender_per_hour} acknowledgements to "
                         f"{incoming.sender} in one hour")
        if not wanted:
            return Change()
        return notice(Template.ACK, To.REQUESTER, thread=thread_of(incoming.mail))

    def _ack_allowed(self, tx: Transaction, sender: str, now: datetime) -> bool:
        sent = outbox.count_recent(tx, rcpt=sender, kind=Template.ACK.value, since=now - timedelta(hours=1))
        return sent < self.settings.limits.acks_per_sender_per_hour


def _created(incoming: Incoming, previous: TicketRow | None) -> Event:
    return Event(EventKind.CREATED, incoming.sender, f"linked to {previous.protocol}" if previous else "",
                 to_status=Status.NEW)
