"""Use case: a delivery report for a mail we sent.

The report is read (``mail.dsn``) and tied to the outbox row it is about:
by the VERP token of the address it came back to (``bounce+<token>@``),
else by the Message-ID it quotes of ours (``Original-Message-ID``, the
returned headers).  On that row's ticket the report is kept (no answer, no
state change) and ``tickets.bounces`` decides the rest: the timeline's
line, the team's notice, the addresses to mark dead.

A report that names no failed recipient (a delay notice that reads as
nothing, a positive DSN) is still kept on the ticket, as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gateway.config import Settings
from gateway.mail import dsn
from gateway.services.incoming import Incoming, keep
from gateway.services.types import Role
from gateway.services.writer import TicketWriter
from gateway.store import bounces, outbox
from gateway.store.db import Transaction
from gateway.store.models import OutboxRow, TicketRow
from gateway.tickets.bounces import Failure, on_bounce
from gateway.tickets.change import event, fields
from gateway.tickets.kinds import EventKind

log = logging.getLogger("gateway.bounces")


@dataclass(frozen=True)
class Bounced:
    """What a report was found to be about (``find``)."""

    report: dsn.Report
    row: OutboxRow | None  # the mail that bounced
    how: str  # "the VERP return path", "the quoted Message-ID", ""


def find(tx: Transaction, raw: bytes, *, token: str | None) -> Bounced:
    """Read the report and find the mail of ours it is about (``token``: the
    VERP token of the address it came back to, None when it came elsewhere)."""
    report = dsn.read(raw)
    if token:
        row = outbox.by_verp_token(tx, token)
        if row is not None:
            return Bounced(report, row, "the VERP return path")
    quoted = [report.original_message_id, *report.references]
    row = outbox.by_message_ids(tx, quoted)
    return Bounced(report, row, "the quoted Message-ID" if row is not None else "")


class Bounces:
    def __init__(self, settings: Settings, writer: TicketWriter) -> None:
        self.settings, self.writer = settings, writer

    def receive(self, tx: Transaction, ticket: TicketRow, incoming: Incoming, bounced: Bounced) -> str:
        """Keep the report on ``ticket`` and apply what it means; returns what happened."""
        now, row = incoming.at, bounced.row
        failures = self._failures(bounced)
        keep(tx, ticket, incoming, role=Role.STRANGER, text=incoming.mail.text or "")
        self.writer.apply(tx, ticket, fields(updated_at=now) + event(
            EventKind.BOUNCE, incoming.sender or "MAILER-DAEMON",
            f"delivery report ({bounced.report.kind}) about {row.kind if row else 'a mail'} "
            f"#{row.id if row else '?'}, found by {bounced.how or 'the ticket'}"), at=now, mailbox=incoming.mailbox)
        if not failures:
            return f"delivery report on {ticket.protocol}: no failed recipient in it"
        mailbox = incoming.mailbox
        decision = on_bounce(failures, mail_kind=row.kind if row else "", team=frozenset(mailbox.staff),
                             bouncing=bounces.bouncing(tx, [f.address for f in failures]))
        for failure in decision.mark:
            bounces.mark(tx, failure.address, at=now, status=failure.status, reason=failure.reason,
                         diagnostic=failure.diagnostic, outbox_id=row.id if row else None)
            log.warning("address marked bouncing after a hard bounce on %s (%s %s)", ticket.protocol,
                        failure.status or "no status", failure.reason,
                        extra={"protocol": ticket.protocol, "outbox_id": row.id if row else None})
        self.writer.apply(tx, ticket, decision.change, at=now, mailbox=mailbox)
        summary = ", ".join(f"{f.address} {f.status or '?'} {'hard' if f.hard else 'soft'}" for f in failures)
        return f"delivery report on {ticket.protocol}: {summary}" + (
            f"; marked bouncing: {', '.join(f.address for f in decision.mark)}" if decision.mark else "")

    @staticmethod
    def _failures(bounced: Bounced) -> list[Failure]:
        """The report's failed recipients, as the decision takes them.  A report
        whose recipient is not among the bounced mail's (a forwarder's address,
        an alias expanded) speaks of the mail's recipient when it had only one."""
        report, row = bounced.report, bounced.row
        sent_to = [a.lower() for a in (row.rcpt_tos if row else [])]
        failures = []
        for recipient in report.recipients:
            if not recipient.failed and recipient.reason is not dsn.Reason.FEEDBACK:
                continue
            address = recipient.address
            if sent_to and address not in sent_to and len(sent_to) == 1:
                address = sent_to[0]
            failures.append(Failure(address=address, status=recipient.status, reason=recipient.reason.value,
                                    diagnostic=recipient.diagnostic, permanent=recipient.permanent,
                                    hard=recipient.hard, complaint=recipient.reason is dsn.Reason.FEEDBACK))
        if not failures and report.kind == "arf" and len(sent_to) == 1:
            failures.append(Failure(address=sent_to[0], reason="feedback", complaint=True, permanent=False))
        return failures


__all__ = ["Bounced", "Bounces", "find"]
