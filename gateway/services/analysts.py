"""Use case: mail from the team's side — an analyst's reply, a colleague of
another mailbox, a mail forging an analyst's address.

Decisions are ``gateway.tickets.analyst``'s; this module gathers what they
need (the parsed commands, the mailbox's limits on its calendar, the
forgery count of the hour), keeps the mail on the ticket, and hands the
change to the writer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

from gateway.calendar.mailboxes import deadline
from gateway.config import MailboxConfig, Settings
from gateway.mail.quotes import reply_text
from gateway.rules import schema
from gateway.rules.categories import category_targets
from gateway.services.incoming import Incoming, files, keep
from gateway.services.types import Role
from gateway.services.writer import TicketWriter
from gateway.store import counters
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets import analyst
from gateway.tickets.commands import parse_commands

EXCERPT: Final = 300  # characters of a forger's text shown to the team


class Rules(Protocol):
    """The current rules of a mailbox (the gateway's RuleStore)."""

    def get(self, mailbox: str) -> schema.RuleSet: ...


class _NoRules:
    def get(self, mailbox: str) -> schema.RuleSet:
        return schema.EMPTY


class Analysts:
    def __init__(self, settings: Settings, writer: TicketWriter, rules: Rules | None = None) -> None:
        self.settings, self.writer = settings, writer
        # Read for #categoria: a category's spelling and the SLA its rules promise.
        self.rules: Rules = rules or _NoRules()

    def reply(self, tx: Transaction, ticket: TicketRow, incoming: Incoming) -> None:
        """An analyst answered from their own client: commands change the
        ticket, plain text is relayed to the requester under the service's
        name, never with the analyst's address."""
        mail, now, mailbox = incoming.mail, incoming.at, incoming.mailbox
        parsed = parse_commands(reply_text(mail.text) if mail.text else "")
        desk = analyst.Desk(address=mailbox.address, may_assign=mailbox.may_assign,
                            ask_until=deadline(mailbox, now, mailbox.wait_limit), wait_limit=mailbox.wait_limit,
                            solve_until=deadline(mailbox, now, mailbox.solved_limit),
                            solved_limit=mailbox.solved_limit, category=self._categories(mailbox))
        decision = analyst.analyst_mail(ticket, parsed, analyst=incoming.sender, desk=desk, files=files(mail.attachments))
        keep(tx, ticket, incoming, role=Role.ANALYST, text=parsed.body, internal=decision.internal)
        self.writer.apply(tx, ticket, decision.change, at=now, mailbox=mailbox, sender=incoming.sender)

    def _categories(self, mailbox: MailboxConfig) -> Callable[[str], analyst.CategoryTargets]:
        ruleset = self.rules.get(mailbox.address)
        return lambda name: category_targets(ruleset, name)

    def colleague(self, tx: Transaction, ticket: TicketRow, incoming: Incoming, *, proof: str) -> None:
        """A proven analyst of another mailbox wrote on this ticket: a note, no command."""
        text = reply_text(incoming.mail.text) if incoming.mail.text else ""
        keep(tx, ticket, incoming, role=Role.COLLEAGUE, text=text, internal=True)
        change = analyst.colleague_note(ticket, sender=incoming.sender, proof=proof, mailbox=incoming.mailbox.address)
        self.writer.apply(tx, ticket, change, at=incoming.at, mailbox=incoming.mailbox, sender=incoming.sender)

    def forged(self, tx: Transaction, ticket: TicketRow | None, incoming: Incoming) -> bool:
        """A mail claims an analyst address without proof: never obeyed or
        relayed.  The ticket it names gets an event, and its team a short
        warning, at most ``forged_warnings_per_sender_per_hour`` per claimed
        address (one forger must not flood the team, nor carry their text
        to it at length).  Returns whether the team was told."""
        if ticket is None:
            return False
        limit = self.settings.limits.forged_warnings_per_sender_per_hour
        team = incoming.mailbox.team
        warn = bool(team) and counters.bump(tx, f"forged:{incoming.sender}", at=incoming.at) <= limit
        excerpt = " ".join(incoming.mail.text.split())
        change = analyst.forged(incoming.sender, warn=warn, limit=limit,
                                excerpt=excerpt[:EXCERPT] + ("…" if len(excerpt) > EXCERPT else ""))
        self.writer.apply(tx, ticket, change, at=incoming.at, mailbox=incoming.mailbox)
        return warn
