"""What each conversation will become: the ticket's facts, decided before
any body is read.

Pass 1 ends here.  The plan is what ``--dry-run`` reports and what pass 2
writes, so the report shows exactly what a real run would do.  It holds
the ticket-level facts (requester, subject, state, dates, protocol year,
the old numbers its subjects carried) and, per mail, which conversation
it belongs to; bodies are read later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.config import MailboxConfig
from gateway.mail.headers import clean
from gateway.migrate.roles import Team
from gateway.migrate.states import StatePolicy, infer
from gateway.migrate.threading import Conversation, MailHeaders, thread
from gateway.tickets.states import Status

NO_SUBJECT = "(sem assunto)"


@dataclass
class TicketPlan:
    number: int
    mails: list[int]
    requester: str
    requester_name: str
    subject: str
    status: Status
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    year: int
    participants: list[str]
    orphan: bool
    # Old numbers its mails' subjects carried ([[mailbox]] legacy_references), kept as
    # aliases; a number that several conversations quote is only on the oldest one's.
    legacy: list[str] = field(default_factory=list)
    ticket_id: int | None = None  # set when written (or found from an earlier run)
    protocol: str | None = None


@dataclass
class Plan:
    """The whole mailbox: tickets, the mails kept out of them, and where each mail goes."""

    index: list[MailHeaders]
    tickets: list[TicketPlan]
    ticket_of: dict[str, int]  # mail key -> ticket number
    held: dict[str, str] = field(default_factory=dict)  # mail key -> why it is quarantined instead
    duplicates: int = 0  # mails whose Message-ID an earlier mail of the source has
    # Old number -> the later tickets (numbers) that quote it too, not given the alias.
    legacy_shared: dict[str, list[int]] = field(default_factory=dict)

    def by_state(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for ticket in self.tickets:
            counts[ticket.status.value] = counts.get(ticket.status.value, 0) + 1
        return counts


def make_plan(index: list[MailHeaders], *, mailbox: MailboxConfig, team: Team, window: timedelta,
              policy: StatePolicy, now: datetime) -> Plan:
    threads = thread(index, team, window)
    plan = Plan(index, [], {})
    for number in threads.broken:
        plan.held[index[number].key] = f"the mail could not be parsed: {index[number].problem}"
    zone = ZoneInfo(mailbox.timezone)
    for conversation in threads.conversations:
        ticket = _ticket(len(plan.tickets), conversation, index, team, mailbox, policy, now, zone)
        if ticket is None:
            for number in conversation.mails:
                plan.held[index[number].key] = ("automatic mail (auto-reply, bounce or list) that belongs to no "
                                                "conversation with a person; kept, not opened as a ticket")
            continue
        plan.tickets.append(ticket)
        for number in conversation.mails:
            plan.ticket_of[index[number].key] = ticket.number
    for number, first in threads.duplicates.items():  # a copy goes where the first went
        plan.duplicates += 1
        copy, original = index[number].key, index[first].key
        if original in plan.ticket_of:
            plan.ticket_of[copy] = plan.ticket_of[original]
        elif original in plan.held:
            plan.held[copy] = plan.held[original]
    if mailbox.legacy_references:
        _legacy_numbers(plan, mailbox)
    return plan


def _legacy_numbers(plan: Plan, mailbox: MailboxConfig) -> None:
    """Give each ticket the old numbers its mails' subjects carry.  The
    tickets come oldest conversation first, so a number that a later
    conversation quotes too ("sobre o Chamado nº 1234") stays with the
    one that started it; the report names the others."""
    owner: dict[str, TicketPlan] = {}
    for ticket in plan.tickets:
        for number in ticket.mails:
            for reference in mailbox.legacy_references_in(plan.index[number].subject):
                first = owner.setdefault(reference, ticket)
                if first is ticket:
                    if reference not in ticket.legacy:
                        ticket.legacy.append(reference)
                elif ticket.number not in plan.legacy_shared.setdefault(reference, []):
                    plan.legacy_shared[reference].append(ticket.number)


def _ticket(number: int, conversation: Conversation, index: list[MailHeaders], team: Team,
            mailbox: MailboxConfig, policy: StatePolicy, now: datetime, zone: ZoneInfo) -> TicketPlan | None:
    human = [index[n] for n in conversation.mails if not index[n].automatic]
    if not human:
        return None
    from_team = [team.wrote(mail.sender, mail.folder) for mail in human]
    outside_senders = [m.sender for m, ours in zip(human, from_team) if not ours and m.sender]
    if outside_senders:
        requester = outside_senders[0]
        name = next(m.sender_name for m in human if m.sender == requester)
    else:  # the team wrote first and nobody answered: the first outside recipient asked by other means
        recipients = team.outside(r for m in human for r in m.recipients)
        requester, name = (recipients[0] if recipients else human[0].sender), ""
    last = human[-1]
    inferred = infer(team_wrote_last=from_team[-1], last_at=last.date, now=now, mailbox=mailbox, policy=policy)
    created = conversation.first or now
    updated = conversation.last or created
    return TicketPlan(
        number=number, mails=conversation.mails, requester=requester, requester_name=clean(name, limit=200),
        subject=clean(index[conversation.mails[0]].subject) or NO_SUBJECT, status=inferred.status,
        created_at=created, updated_at=max(updated, created), closed_at=inferred.closed_at,
        year=created.astimezone(zone).year,
        participants=sorted(conversation.outside - {requester}), orphan=conversation.orphan)
