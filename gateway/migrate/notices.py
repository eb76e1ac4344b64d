"""``--notify-open``: tell each still-open migrated ticket's requester its protocol.

The only mail a migration ever queues, and only when asked: one message
per open ticket (template ``migrated``), through the outbox like every
other mail, spaced ``per_minute`` apart so thousands of legacy citizens do
not leave the relay in one burst (and trip its limits or the citizens'
spam filters).  A ``migration_notice`` event marks a ticket as told, so a
second run, or a resumed one, tells nobody twice.  Closed tickets get
nothing: their conversations ended long ago.  Nor does a conversation the
team held among itself: its "requester" is one of our own addresses, and
mailing it would feed our own inbox (the loop of osTicket#3966).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.config import MailboxConfig
from gateway.mail.addresses import is_null_or_daemon
from gateway.migrate.roles import Team
from gateway.outbound.notices import Notifier
from gateway.store import bulk, tickets
from gateway.store.db import Database
from gateway.tickets.states import Status

KIND = "migrated"
EVENT = "migration_notice"
_OPEN = tuple(s.value for s in Status if s not in (Status.CLOSED, Status.REJECTED))


def queue_notices(db: Database, notifier: Notifier, mailbox: MailboxConfig, *, now: datetime,
                  per_minute: float, team: Team | None = None) -> int:
    """Queue the notices; returns how many.  One transaction: all or none."""
    spacing = timedelta(minutes=1) / per_minute
    zone = ZoneInfo(mailbox.timezone)
    ours = team or Team.of(mailbox)
    own = {address.lower() for address in notifier.settings.own_addresses}
    queued = 0
    with db.transaction() as tx:
        for ticket in bulk.migrated_tickets_without(tx, mailbox.address, EVENT, _OPEN):
            if is_null_or_daemon(ticket.requester) or "@" not in ticket.requester:
                continue
            if ours.is_team_address(ticket.requester) or ticket.requester.lower() in own:
                continue
            thread = tickets.thread_for(tx, ticket.id, ours_only=False)
            first_date = ticket.created_at.astimezone(zone).strftime("%d/%m/%Y")
            message_id = notifier.queue(tx, kind=KIND, ticket=ticket, mailbox=mailbox, to=[ticket.requester],
                                        now=now, context={"first_date": first_date},
                                        in_reply_to=thread[-1] if thread else None, references=thread,
                                        auto_submitted="auto-generated")
            not_before = now + spacing * queued  # the rate limit: the sender waits for it
            bulk.send_not_before(tx, message_id, not_before)
            tickets.add_event(tx, ticket, at=now, actor="gateway", kind=EVENT,
                              note=f"new protocol sent to {ticket.requester} (not before "
                                   f"{not_before.isoformat(timespec='seconds')})")
            queued += 1
    return queued
