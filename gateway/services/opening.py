"""Use case: a mail that opens a ticket.

A protocol number from the mailbox's sequence, the row, the requester's
mail and the people it was also written to; then one change: created, what
the rules decided, the acknowledgement (or why there is none), the rules'
automatic answers, and the team's notice.  All in the caller's
transaction, so either all of a mail's effects exist or none do.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from gateway.config import Settings
from gateway.mail.headers import clean
from gateway.mail.language import language_of
from gateway.services import deadlines, rulings
from gateway.services.incoming import NO_SUBJECT, Incoming, keep, others, team_notice, thread_of
from gateway.services.types import Role
from gateway.services.writer import TicketWriter
from gateway.store import outbox, tickets
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets.bounces import wrote_again
from gateway.tickets.change import Change, Event, To, event, notice
from gateway.tickets.kinds import EventKind, Template
from gateway.tickets import protocol as protocols
from gateway.tickets.protocol import Protocol
from gateway.tickets.states import Status

_ZONE = ZoneInfo("America/Sao_Paulo")
# "RES:", "ENC: RES:", "Fwd:", "AW:", "RE[2]:", "回复:" ... at the start of a subject.
_REPLY_PREFIX: Final = re.compile(
    r"^\s*(?:(?:re|res|enc|fw|fwd|tr|aw|wg|sv|vs|antw|rif|r)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]|回复[:：]|答复[:：]|转发[:：])\s*",
    re.IGNORECASE)
# A protocol of ours in a subject, bracketed or not: "[CNES-2026-000001-3]".
_QUOTED_PROTOCOL: Final = re.compile(r"\[?\s*([A-Za-z]{2,8}\s*-\s*\d{4}\s*-\s*\d{6,9}\s*-\s*\d)\s*\]?\s*[:\-–]?\s*")
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
        language = self._language(tx, incoming)
        forged = not incoming.automatic and incoming.check_sender().failed
        year = now.astimezone(_ZONE).year
        protocol = Protocol(mailbox.protocol_prefix, year, tickets.next_sequence(tx, mailbox.protocol_prefix, year))
        ticket = tickets.add_ticket(
            tx, protocol=str(protocol), mailbox=mailbox.address, status=Status.NEW.value,
            requester=incoming.sender, requester_name=clean(mail.from_name, limit=200),
            subject=self._subject(mail.subject, previous),
            language=language, created_at=now, updated_at=now,
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
        if not incoming.automatic:  # a person wrote from this address: it works, if the From is proven
            change += wrote_again(mail.from_addr, incoming.check_sender())
        answers = self._acknowledgement(incoming, forged=forged, acks_left=acks_left, wanted=plan.acknowledge)
        rejected = plan.change.status is Status.REJECTED
        if not forged:
            answers += rulings.answers(ticket, incoming, rejected=rejected,
                                       waiting=plan.change.status is Status.WAITING)
        change += _naming_closed(rulings.one_mail(answers), previous, incoming)
        headline = "\n".join(line for line in (_FORGED_HEADLINE if forged else "", plan.headline) if line)
        change += team_notice(incoming, Template.TEAM_NEW, text=mail.text, headline=headline, first=True)
        self.writer.apply(tx, ticket, change, at=now, mailbox=mailbox)
        return ticket

    @staticmethod
    def _language(tx: Transaction, incoming: Incoming) -> str:
        """The language the ticket's mails are written in (PITFALLS item 7):
        with ``detect_language``, the one the first mail is plainly written
        in, else the one of the requester's last ticket (what we know of
        them), else the mailbox's."""
        mailbox = incoming.mailbox
        if not mailbox.detect_language or incoming.automatic:
            return mailbox.language
        return language_of(incoming.mail.text, mailbox.language) or tickets.last_language(tx, incoming.sender) or mailbox.language

    def _subject(self, subject: str, previous: TicketRow | None) -> str:
        """The subject as written; for a ticket that follows another one,
        without the reply prefixes and the old protocol ("RES: [CNES-2026-
        000001-3] Solicitação recebida: Erro" becomes "Erro"), so that the
        new ticket's mails carry one protocol, its own."""
        subject = clean(subject)
        if previous is None:
            return subject or NO_SUBJECT
        ours = {mailbox.protocol_prefix.upper() for mailbox in self.settings.mailboxes}
        fresh = subject
        for _ in range(20):  # "RES: ENC: RES: [X] ..." peels one layer per pass
            stripped = _REPLY_PREFIX.sub("", fresh, count=1)
            stripped = _QUOTED_PROTOCOL.sub(lambda m: _ours(m, ours), stripped).strip()
            if stripped == fresh:
                break
            fresh = stripped
        # A reply to one of our mails quotes its subject ("Solicitação recebida: Erro"): the old topic is the topic.
        old = previous.subject or ""
        if old and old != NO_SUBJECT and (not fresh or fresh.casefold().endswith(old.casefold())):
            return old
        return fresh or NO_SUBJECT

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
        sent = outbox.count_recent(tx, rcpt=sender, kinds=(Template.ACK.value,), since=now - timedelta(hours=1))
        return sent < self.settings.limits.acks_per_sender_per_hour


def _ours(match: re.Match[str], prefixes: set[str]) -> str:
    """A matched protocol removed when it is a valid one of ours, else kept as written."""
    found = protocols.parse(match.group(1))
    return "" if found is not None and found.prefix in prefixes else match.group(0)


def _naming_closed(answers: Change, previous: TicketRow | None, incoming: Incoming) -> Change:
    """The requester's answers to a mail on their closed ticket say why a new
    protocol came: ``previous_protocol`` in each one's template variables.
    Never to someone else quoting a protocol: the old ticket is not theirs."""
    if previous is None or previous.requester != incoming.sender or previous.status not in _FINAL:
        return answers
    return replace(answers, notices=tuple(
        replace(n, context={**n.context, "previous_protocol": previous.protocol}) if n.to is To.REQUESTER else n
        for n in answers.notices))


_FINAL: Final = frozenset({Status.CLOSED.value, Status.REJECTED.value})


def _created(incoming: Incoming, previous: TicketRow | None) -> Event:
    return Event(EventKind.CREATED, incoming.sender, f"linked to {previous.protocol}" if previous else "",
                 to_status=Status.NEW)
