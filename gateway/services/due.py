"""Use case: act on one due ticket — remind, close, ask again for the survey,
warn the team.

The sweep hands over a ticket it has locked and found due;
``tickets.deadlines.due_now`` (with its catch-up rules) says what is due
now, ``tickets.timeouts`` what each item does, and the writer does it, so
a ticket closes the same way whether an analyst or the clock closed it.
Everything happens in the caller's transaction: the mails are in the
outbox if and only if the change is committed.
"""

from __future__ import annotations

from datetime import datetime

from gateway.config import MailboxConfig, Settings
from gateway.services import deadlines
from gateway.services.writer import TicketWriter
from gateway.store import due, tickets
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets import timeouts
from gateway.tickets.change import Change
from gateway.tickets.deadlines import FIRST_RESPONSE, REMIND_SOLVED, REMIND_WAITING, SLA_BREACH, SLA_WARNING, due_now
from gateway.tickets.kinds import EventKind
from gateway.tickets.states import Status


class DueActions:
    def __init__(self, settings: Settings, writer: TicketWriter) -> None:
        self.settings, self.writer = settings, writer

    def act(self, tx: Transaction, ticket: TicketRow, now: datetime) -> list[str]:
        """Do what is due on ``ticket`` at ``now``; returns the kinds done."""
        mailbox = self.writer.mailbox_of(ticket)
        items = due_now(deadlines.moments(ticket, mailbox), now) if mailbox else []
        done: list[str] = []
        for kind in (SLA_WARNING, SLA_BREACH):  # one team mail per kind, naming every target
            targets = [i for i in items if i.kind == kind]
            if targets and mailbox is not None:
                self.writer.apply(tx, ticket, timeouts.sla_items(ticket, kind, targets, due_of=lambda target: (
                    ticket.first_response_due_at if target == FIRST_RESPONSE else ticket.resolution_due_at)),
                    at=now, mailbox=mailbox)
                done.append(kind)
        for item in items:
            if item.kind in (SLA_WARNING, SLA_BREACH):
                continue
            assert mailbox is not None
            last_note, rung = "", None
            if item.kind in (REMIND_WAITING, REMIND_SOLVED):  # a reminder repeats the question or the solution
                asked = EventKind.ASKED if item.kind == REMIND_WAITING else EventKind.SOLVED
                last_note = tickets.last_event_note(tx, ticket.id, asked.value) or ""
                rung = self._rung(tx, ticket, mailbox, now)
            self.writer.apply(tx, ticket, timeouts.requester_item(ticket, item, last_note=last_note,
                                                                  wait_limit=mailbox.wait_limit,
                                                                  solved_limit=mailbox.solved_limit, rung=rung),
                              at=now, mailbox=mailbox)
            done.append(item.kind)
        # What is due next; a survey reminder too late to send is dropped, not kept due.
        late = Status(ticket.status) is Status.CLOSED and ticket.remind_at is not None and ticket.remind_at <= now
        self.writer.apply(tx, ticket, Change(fields={"remind_at": None} if late else {}, refresh=True), at=now,
                          mailbox=mailbox)
        return done

    @staticmethod
    def _rung(tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, now: datetime) -> timeouts.Rung | None:
        """Which reminder of a ladder is going out, and when the next one is
        due (``remind_at`` moves to it in this transaction, so a second sweep
        finds nothing due until then).  None for the plain one reminder."""
        if len(deadlines.reminder_ladder(ticket, mailbox)) < 2:
            return None
        sent = due.events_since_last_move(tx, ticket.id, EventKind.REMINDED.value)
        return timeouts.Rung(sent + 1, deadlines.next_reminder(ticket, mailbox, after=now))
