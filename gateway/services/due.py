"""Act on one due ticket: remind, close, ask again for the survey, warn the team.

The sweep hands over a ticket it has locked and found due; this decides,
with ``tickets.deadlines.due_now`` (which applies the catch-up rules), what
to do now, does it through ``Actions`` (so a ticket closes the same way
whether an analyst or the clock closed it), and recomputes what is due
next.  Everything happens in the caller's transaction: the mails are in the
outbox if and only if the change is committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway import links
from gateway.config import MailboxConfig, Settings
from gateway.outbound import words
from gateway.services import deadlines
from gateway.services.actions import Actions
from gateway.store import tickets
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets import lifecycle
from gateway.tickets.answers import SURVEY_LEVELS, SURVEY_LEVELS_EN
from gateway.tickets.deadlines import (
    AUTO_ACCEPT,
    FIRST_RESPONSE,
    NO_RESPONSE,
    REMIND_SOLVED,
    REMIND_WAITING,
    SLA_BREACH,
    SLA_WARNING,
    SURVEY_REMINDER,
    DueItem,
    due_now,
)
from gateway.tickets.states import Status

ACTOR = "gateway"
_TARGET_WORDS = {"pt_BR": {FIRST_RESPONSE: "primeira resposta", "resolution": "solução"},
                 "en": {FIRST_RESPONSE: "first response", "resolution": "resolution"}}


class DueActions:
    def __init__(self, settings: Settings, actions: Actions) -> None:
        self.settings, self.actions = settings, actions

    def act(self, tx: Transaction, ticket: TicketRow, now: datetime) -> list[str]:
        """Do what is due on ``ticket`` at ``now``; returns the kinds done."""
        found = self.settings.mailbox_for(ticket.mailbox)
        mailbox = found[0] if found else None
        items = due_now(deadlines.moments(ticket, mailbox), now) if mailbox else []
        done: list[str] = []
        lifecycle_items = [i for i in items if i.kind not in (SLA_WARNING, SLA_BREACH)]
        for kind in (SLA_WARNING, SLA_BREACH):  # one team mail per kind, naming every target
            targets = [i for i in items if i.kind == kind]
            if targets and mailbox is not None:
                self._sla(tx, ticket, mailbox, kind, targets, now)
                done.append(kind)
        for item in lifecycle_items:
            assert mailbox is not None
            self._lifecycle(tx, ticket, mailbox, item, now)
            done.append(item.kind)
        if Status(ticket.status) is Status.CLOSED and ticket.remind_at is not None and ticket.remind_at <= now:
            ticket.remind_at = None  # a survey reminder too late to send is dropped, not kept due
        deadlines.refresh(ticket, mailbox, now)
        return done

    # -- the requester's side ----------------------------------------------

    def _lifecycle(self, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, item: DueItem,
                   now: datetime) -> None:
        actions, status = self.actions, Status(ticket.status)
        if item.kind in (REMIND_WAITING, REMIND_SOLVED):
            ticket.remind_at = None
            limit = ticket.limit_at or item.at
            extra = actions.solution_links(ticket) if item.kind == REMIND_SOLVED else {}
            kind = "reminder_waiting" if item.kind == REMIND_WAITING else "reminder_solved"
            asked = "asked" if item.kind == REMIND_WAITING else "solved"  # the question or solution, again
            text = tickets.last_event_note(tx, ticket.id, asked) or ""
            tickets.add_event(tx, ticket, at=now, actor=ACTOR, kind="reminded",
                              note=f"{kind}: limit {limit.isoformat()}")
            actions.to_requester(tx, ticket, mailbox, kind, now, text=text, **extra,
                                  **self._limit_words(mailbox, ticket, limit))
        elif item.kind == NO_RESPONSE:
            limit_words = self._limit_words(mailbox, ticket, ticket.limit_at or item.at)
            actions.apply(tx, ticket, lifecycle.close(status, reason="no_response",
                                                      note=f"no answer by {item.at.isoformat()}"),
                          actor=ACTOR, at=now)
            actions.to_requester(tx, ticket, mailbox, "closed_no_response", now, **limit_words)
        elif item.kind == AUTO_ACCEPT:
            limit_words = self._limit_words(mailbox, ticket, ticket.limit_at or item.at)
            actions.apply(tx, ticket, lifecycle.accept(status, automatically=True), actor=ACTOR, at=now)
            actions.to_requester(tx, ticket, mailbox, "closed_auto_accepted", now, **limit_words)
            actions.invite_to_survey(tx, ticket, mailbox, now)
        elif item.kind == SURVEY_REMINDER:
            ticket.remind_at = None
            tickets.add_event(tx, ticket, at=now, actor=ACTOR, kind="survey_reminded", note="one reminder, the last")
            levels = SURVEY_LEVELS_EN if ticket.language == "en" else SURVEY_LEVELS
            web = self.settings.web
            actions.to_requester(tx, ticket, mailbox, "survey_reminder", now, levels=sorted(levels.items()),
                                  survey_url=links.make_url(web.base_url, web.secret, ticket.protocol, "survey"))

    def _limit_words(self, mailbox: MailboxConfig, ticket: TicketRow, limit: datetime) -> dict[str, str]:
        given = mailbox.wait_limit if Status(ticket.status) is Status.WAITING else mailbox.solved_limit
        return {"deadline": words.deadline(limit, mailbox.timezone, ticket.language),
                "deadline_date": words.short_date(limit, mailbox.timezone),
                "limit_words": words.duration(given, ticket.language)}

    # -- the team's side ---------------------------------------------------

    def _sla(self, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, kind: str, items: list[DueItem],
             now: datetime) -> None:
        language = ticket.language if ticket.language in _TARGET_WORDS else "pt_BR"
        lines: list[dict[str, Any]] = []
        for item in items:
            due_at = self._due_of(ticket, item.target) or item.at
            what = "warning" if kind == SLA_WARNING else "breach"
            deadlines.mark_sla(ticket, item.target, what)
            tickets.add_event(tx, ticket, at=now, actor=ACTOR, kind=f"sla_{what}",
                              note=f"{item.target} due {due_at.isoformat()} ({ticket.category or 'sem categoria'})")
            lines.append({"target": _TARGET_WORDS[language][item.target],
                          "deadline": words.deadline(due_at, mailbox.timezone, language)})
        if mailbox.team:
            thread = tickets.thread_for(tx, ticket.id, ours_only=True, kinds=("team_new",))
            self.actions.notifier.queue(
                tx, kind=f"team_{kind}", ticket=ticket, mailbox=mailbox, to=list(mailbox.team), now=now,
                context={"targets": lines, "category": ticket.category or "", "text": ""},
                reply_to=mailbox.address_with_token(ticket.protocol), auto_submitted="auto-generated",
                in_reply_to=thread[-1] if thread else None, references=thread)

    @staticmethod
    def _due_of(ticket: TicketRow, target: str) -> datetime | None:
        return ticket.first_response_due_at if target == FIRST_RESPONSE else ticket.resolution_due_at
