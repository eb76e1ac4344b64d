"""Use case: a requester's or participant's mail on their ticket.

Kept on the ticket with the quoted history removed; automatic mail (a
bounce, an out-of-office) changes nothing; otherwise the rules that take
follow-ups act, the reply's effect is decided (``tickets.requester``, or
``services.required`` for the data the ticket waits for), and the team is
told, with a warning when the MTA in front judged the From and did not
confirm it (such a mail answers no waiting ticket).  A closed ticket
takes a survey answer, reopens within the mailbox's window, holds an
unproven reopening for a person, or hands the mail back to become a new
ticket linked to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Final

from gateway.calendar.mailboxes import deadline
from gateway.config import Settings
from gateway.mail.quotes import reply_text
from gateway.rules.ruling import Ruling
from gateway.services import required, rulings
from gateway.services.incoming import Incoming, keep, others, team_notice
from gateway.services.types import Role
from gateway.services.writer import TicketWriter
from gateway.store import tickets
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets import requester
from gateway.tickets.bounces import wrote_again
from gateway.tickets.change import NOTHING, Change, To, event, fields, notice
from gateway.tickets.kinds import EventKind, Template
from gateway.tickets.states import Status

#: The team's notice of a reply whose sender the MTA did not confirm, and of such an answer to a waiting ticket.
_UNCONFIRMED: Final = "ATENÇÃO: o servidor de e-mail não confirmou o remetente desta mensagem."
_STILL_WAITING: Final = ("Por isso ela não foi aceita como resposta: os dados não foram registrados e o chamado "
                         "continua aguardando o solicitante. Se for mesmo dele, responda a ele.")

#: Opens a new ticket linked to a closed one: (tx, incoming, previous, reason) -> the new ticket.
OpenTicket = Callable[..., TicketRow]


class FollowUps:
    def __init__(self, settings: Settings, writer: TicketWriter, open_ticket: OpenTicket) -> None:
        self.settings, self.writer, self.open_ticket = settings, writer, open_ticket

    def add(self, tx: Transaction, ticket: TicketRow, incoming: Incoming, *, role: Role,
            match_reason: str, ruling_as_new: Ruling | None = None) -> tuple[TicketRow, bool]:
        """Returns (the ticket the mail landed in, whether that ticket is new).
        ``ruling_as_new``: the rules' judgement of the mail as a first mail,
        for a closed ticket the mail may not reopen (``apply_rules``)."""
        mail, now = incoming.mail, incoming.at
        text = reply_text(mail.text) if mail.text else ""
        if ticket.status == Status.CLOSED.value and not incoming.automatic:
            closed = self._to_closed(tx, ticket, incoming, text=text, role=role, ruling_as_new=ruling_as_new)
            if closed is not None:
                return closed, closed is not ticket
        keep(tx, ticket, incoming, role=role, text=text)
        if incoming.automatic:
            kind = EventKind.BOUNCE if incoming.bounce else EventKind.AUTOMATIC_MAIL
            self.writer.apply(tx, ticket, fields(updated_at=now) + event(
                kind, incoming.sender or "MAILER-DAEMON", f"stored, no state change ({match_reason})"), at=now,
                mailbox=incoming.mailbox)
            return ticket, False
        checked = incoming.check_sender()
        # The MTA in front judged the From and did not confirm it (PITFALLS
        # item 3): whatever [auth] requester_decisions says, as for a first mail.
        unconfirmed = checked.failed
        if checked.ok and not unconfirmed:  # an unproven From must not bring strangers into the ticket by Cc
            tickets.add_participants(tx, ticket.id, others(mail, ticket.requester, incoming.mailbox,
                                                           self.settings.own_addresses))
        # Nor may its words set off the follow-up rules (a rejection is final, and mails the requester).
        ruled, ruled_lines = (NOTHING, "") if unconfirmed else rulings.on_follow_up(ticket, incoming)
        self.writer.apply(tx, ticket, fields(updated_at=now)
                          + event(EventKind.FOLLOW_UP, incoming.sender, f"matched by {match_reason}") + ruled
                          + _works(incoming), at=now, mailbox=incoming.mailbox)
        reply, headline = self._reply(tx, ticket, incoming, text, role, unconfirmed=unconfirmed)
        warning = _UNCONFIRMED if unconfirmed else ""
        lines = "\n".join(line for line in (warning, headline, ruled_lines) if line)
        self.writer.apply(tx, ticket, reply + team_notice(incoming, Template.TEAM_FOLLOWUP, text=text, headline=lines),
                          at=now, mailbox=incoming.mailbox)
        return ticket, False

    def _reply(self, tx: Transaction, ticket: TicketRow, incoming: Incoming, text: str,
               role: Role, *, unconfirmed: bool) -> tuple[Change, str | None]:
        """What the reply does to the ticket as it is now (after the rules).
        ``unconfirmed``: the MTA in front judged the From and did not
        confirm it (PITFALLS item 3).  A decision is then confirmed by the
        requester through signed links (``tickets.requester``), but an
        answer to a waiting ticket had no such check: the forger's words
        moved it on and filled in the data it waited for (a CPF on someone
        else's request), and the requester was thanked for them.  It waits on."""
        if ticket.status == Status.WAITING.value and unconfirmed:
            return (event(EventKind.NOTE, "gateway", "answer not taken: the MTA did not confirm its sender"),
                    _STILL_WAITING)
        if ticket.status == Status.WAITING.value and ticket.missing_fields and role is Role.REQUESTER:
            return required.answer(tx, ticket, incoming.mailbox, text, sender=incoming.sender, at=incoming.at)
        round_kinds = (requester.round_events(e.kind for e in tickets.events(tx, ticket.id))
                       if ticket.status == Status.SOLVED.value else frozenset())
        reply = requester.follow_up(ticket, text, sender=incoming.sender, role=role.value, round_kinds=round_kinds,
                                    proof=incoming.check_sender, at=incoming.at)
        return reply.change, reply.headline

    def _to_closed(self, tx: Transaction, ticket: TicketRow, incoming: Incoming, *, text: str,
                   role: Role, ruling_as_new: Ruling | None) -> TicketRow | None:
        """Survey answer, hold, or a new linked ticket; None: the ticket
        reopened and the mail is an ordinary follow-up."""
        mailbox, now = incoming.mailbox, incoming.at
        closed_at = ticket.closed_at or ticket.updated_at
        outcome = requester.reply_to_closed(
            ticket, text, sender=incoming.sender, role=role.value, now=now,
            survey_until=deadline(mailbox, closed_at, mailbox.survey_window),
            reopen_until=deadline(mailbox, closed_at, mailbox.reopen_window) if mailbox.reopen_window else None,
            proof=incoming.check_sender, kinds=[e.kind for e in tickets.events(tx, ticket.id)])
        if outcome.kind == "new":
            # A new request, judged as one: the follow-up rules do not classify
            # it, nor skip the data a new ticket needs (issue 15, bug 1).
            return self.open_ticket(tx, replace(incoming, ruling=ruling_as_new), previous=ticket,
                                    previous_reason="the requester wrote again after the ticket was closed")
        if outcome.kind == "reopen":
            # The citizen is told their reply reopened it (issue 15), as after an analyst's #reabrir.
            self.writer.apply(tx, ticket, outcome.change + notice(Template.REOPENED, To.REQUESTER),
                              at=now, mailbox=mailbox)
            return None
        keep(tx, ticket, incoming, role=role, text=text)
        change = outcome.change + _works(incoming)
        if outcome.kind == "hold":
            change += team_notice(incoming, Template.TEAM_FOLLOWUP, text=text, headline=outcome.headline or "")
        self.writer.apply(tx, ticket, change, at=now, mailbox=mailbox)
        return ticket


def _works(incoming: Incoming) -> Change:
    """A person's mail shows its address works (a dead mark on it is cleared), if its From is proven."""
    return wrote_again(incoming.mail.from_addr, incoming.check_sender())


__all__ = ["FollowUps", "NOTHING"]
