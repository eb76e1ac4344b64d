"""Pass 2: stream the mails again and write them into their tickets.

Each batch of mails is one transaction (``gateway.store.bulk``): the raw
mails into the inbox exactly as live mail is stored (status ``processed``,
``via = migrate``, so no worker ever runs the pipeline on them and no
acknowledgement can go out), their dedupe keys, the Message-IDs for
threading (a citizen's late reply to a legacy mail finds its ticket), the
tickets the batch needs first with their old numbers (``legacy_references``:
a later mail naming one finds the ticket too), and the messages with their
attachments.

Interrupting is safe at any moment: a batch is committed whole or not at
all.  Running again skips every mail whose key (Message-ID, else SHA-256)
is already stored, and finds the tickets earlier runs created through
those keys, so a resumed or repeated run creates no duplicate.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.config import MailboxConfig, ProcessingConfig
from gateway.errors import ParseError
from gateway.mail.automatic import classify
from gateway.mail.headers import clean
from gateway.mail.parsed import ParsedMail, parse
from gateway.mail.quotes import reply_text
from gateway.migrate.plan import Plan, TicketPlan
from gateway.migrate.report import RunCounts
from gateway.migrate.roles import Team
from gateway.migrate.sources import SourceMail
from gateway.migrate.states import CLOSED_REASON
from gateway.store import inbox
from gateway.store.bulk import Batch, BulkWriter
from gateway.store.tickets import legacy_key
from gateway.tickets.protocol import Protocol

log = logging.getLogger("gateway.migrate")

VIA = "migrate"


@dataclass
class _Mail:
    """One mail of a batch, parsed, with what it becomes."""

    source: SourceMail
    key: str
    sha256: str
    parsed: ParsedMail | None
    ticket: TicketPlan | None
    problem: str | None  # quarantined for this reason


class Importer:
    def __init__(self, writer: BulkWriter, plan: Plan, mailbox: MailboxConfig, team: Team, *, source: str,
                 now: datetime, limits: ProcessingConfig) -> None:
        self.writer, self.plan, self.mailbox, self.team = writer, plan, mailbox, team
        self.source, self.now, self.limits = source[:255], now, limits
        self.counts = RunCounts()
        self._written: set[str] = set()  # keys written by this run (duplicates inside the source)
        self._aliased: set[int] = set()  # tickets (plan numbers) whose old numbers this run wrote

    def find_earlier_tickets(self) -> int:
        """Point conversations already imported by an earlier run at their
        tickets, through their mails' Message-IDs; returns how many."""
        keys = {f"mid:{m.message_id}": m.key for m in self.plan.index if m.message_id}
        with self.writer.batch() as batch:
            known = batch.known_keys(keys)
        found = 0
        for key, (via, ticket_id) in known.items():
            ticket = self._ticket_of(keys[key])
            if via == VIA and ticket_id is not None and ticket is not None and ticket.ticket_id is None:
                ticket.ticket_id, found = ticket_id, found + 1
        return found

    def write(self, mails: Iterable[SourceMail], batch_size: int, advance: Callable[[int], None]) -> RunCounts:
        pending: list[SourceMail] = []
        for mail in mails:
            pending.append(mail)
            if len(pending) >= batch_size:
                self._write_batch(pending)
                advance(len(pending))
                pending = []
        if pending:
            self._write_batch(pending)
            advance(len(pending))
        return self.counts

    # -- one batch ------------------------------------------------------

    def _write_batch(self, sources: list[SourceMail]) -> None:
        # A mail that reached the source after pass 1 has no place in the plan:
        # left for the next run, which threads it.
        planned = [s for s in sources if s.key in self.plan.ticket_of or s.key in self.plan.held]
        self.counts.arrived_during += len(sources) - len(planned)
        mails = [self._prepare(source) for source in planned]
        with self.writer.batch() as batch:
            known = batch.known_keys(m.key for m in mails)
            keep = [m for m in mails if self._keep(m, known)]
            tickets = self._new_tickets(batch, [m.ticket for m in keep if m.problem is None and m.ticket])
            self._legacy_aliases(batch, [m.ticket for m in mails if m.ticket is not None])
            rows = [self._inbox_row(m) for m in keep]
            inbox_ids = batch.insert_ids("inbox", [inbox.envelope(row) for row in rows])
            batch.insert("inbox_raw", inbox.raw_rows(inbox_ids, rows))
            batch.insert("mail_key", [{"key": m.key, "inbox_id": i} for m, i in zip(keep, inbox_ids)],
                         skip_existing=True)
            stored = [(m, i) for m, i in zip(keep, inbox_ids) if m.problem is None]
            batch.insert("thread_ref", [{"message_id": m.parsed.message_id, "ticket_id": m.ticket.ticket_id,
                                         "ours": False} for m, _ in stored if m.parsed and m.ticket
                                        and m.parsed.message_id], skip_existing=True)
            self._messages(batch, stored)
            batch.insert("quarantine", [{"inbox_id": i, "step": VIA, "reason": m.problem[:4000], "created_at": self.now}
                                        for m, i in zip(keep, inbox_ids) if m.problem is not None])
        self.counts.tickets_created += tickets
        self.counts.imported += len(stored)
        self.counts.quarantined += len(keep) - len(stored)

    def _prepare(self, source: SourceMail) -> _Mail:
        sha = hashlib.sha256(source.raw).hexdigest()
        ticket = self._ticket_of(source.key)
        problem = self.plan.held.get(source.key)
        parsed = None
        if problem is None:
            try:
                parsed = parse(source.raw, max_header_bytes=self.limits.max_header_bytes,
                               max_part_bytes=self.limits.max_part_bytes, max_parts=self.limits.max_parts,
                               max_depth=self.limits.max_depth)
            except ParseError as error:
                problem = f"the mail could not be parsed: {error}"
        # A quarantined mail is keyed by its bytes: its Message-ID may be the broken part.
        key = f"mid:{parsed.message_id}" if parsed and parsed.message_id else f"sha:{sha}"
        return _Mail(source, key[:1100], sha, parsed, ticket, problem)

    def _keep(self, mail: _Mail, known: dict[str, tuple[str, int | None]]) -> bool:
        """False for a mail already stored (earlier run, live mail, or earlier in this source)."""
        if mail.key in self._written:
            self.counts.duplicates += 1
            return False
        if mail.key in known:
            via, ticket_id = known[mail.key]
            if mail.ticket is not None and mail.ticket.ticket_id is None and via == VIA and ticket_id is not None:
                mail.ticket.ticket_id = ticket_id
            self.counts.already += 1
            return False
        self._written.add(mail.key)
        return True

    def _new_tickets(self, batch: Batch, needed: list[TicketPlan]) -> int:
        """Write the tickets this batch needs and that do not exist yet."""
        fresh = list({id(t): t for t in needed if t.ticket_id is None}.values())
        if not fresh:
            return 0
        by_year: dict[int, list[TicketPlan]] = {}
        for ticket in fresh:
            by_year.setdefault(ticket.year, []).append(ticket)
        prefix = self.mailbox.protocol_prefix
        for year, group in sorted(by_year.items()):
            first = batch.reserve_sequences(prefix, year, len(group))
            for offset, ticket in enumerate(group):
                ticket.protocol = str(Protocol(prefix, year, first + offset))
        ids = batch.insert_ids("ticket", [self._ticket_row(t) for t in fresh])
        for ticket, ticket_id in zip(fresh, ids):
            ticket.ticket_id = ticket_id
        batch.insert("event", [self._migrated_event(t) for t in fresh])
        batch.insert("participant", [{"ticket_id": t.ticket_id, "address": a[:320]}
                                     for t in fresh for a in t.participants])
        return len(fresh)

    def _legacy_aliases(self, batch: Batch, touched: list[TicketPlan]) -> None:
        """The old numbers of the batch's tickets as thread_ref keys
        (``store.tickets.legacy_key``), in the batch's transaction.  Every
        ticket the run meets gets them, one written by an earlier run too,
        so a pattern added to ``legacy_references`` after an import takes
        effect by running the same command again; a number already kept by
        another ticket stays there (the first ticket keeps it)."""
        rows = []
        for ticket in touched:
            if ticket.ticket_id is None or not ticket.legacy or ticket.number in self._aliased:
                continue
            self._aliased.add(ticket.number)
            rows += [{"message_id": legacy_key(self.mailbox.address, number), "ticket_id": ticket.ticket_id,
                      "ours": False} for number in ticket.legacy]
        batch.insert("thread_ref", rows, skip_existing=True)

    def _messages(self, batch: Batch, stored: list[tuple[_Mail, int]]) -> None:
        rows, attachments = [], []
        for mail, inbox_id in stored:
            assert mail.parsed is not None and mail.ticket is not None
            rows.append(self._message_row(mail, mail.parsed, mail.ticket, inbox_id))
            attachments.append([{"filename": a.filename[:512], "declared_type": a.declared_type[:255],
                                 "sniffed_type": a.sniffed_type, "size": a.size,
                                 "sha256": hashlib.sha256(a.data).hexdigest(), "passed_on": True}
                                for a in mail.parsed.attachments])
        ids = batch.insert_ids("message", rows)
        batch.insert("attachment", [{**a, "message_id": message_id}
                                    for message_id, items in zip(ids, attachments) for a in items])

    # -- rows -----------------------------------------------------------

    def _ticket_of(self, key: str) -> TicketPlan | None:
        number = self.plan.ticket_of.get(key)
        return self.plan.tickets[number] if number is not None else None

    def _ticket_row(self, ticket: TicketPlan) -> dict[str, Any]:
        closed = ticket.closed_at is not None
        return {"protocol": ticket.protocol, "mailbox": self.mailbox.address, "status": ticket.status.value,
                "requester": ticket.requester[:320], "requester_name": ticket.requester_name[:320],
                "subject": ticket.subject, "language": self.mailbox.language, "created_at": ticket.created_at,
                "updated_at": ticket.updated_at, "closed_at": ticket.closed_at,
                "closed_reason": CLOSED_REASON if closed else None}

    def _migrated_event(self, ticket: TicketPlan) -> dict[str, Any]:
        span = f"{ticket.created_at:%Y-%m-%d} to {ticket.updated_at:%Y-%m-%d}"
        return {"ticket_id": ticket.ticket_id, "at": self.now, "actor": "gateway", "kind": "migrated",
                "from_status": None, "to_status": ticket.status.value,
                "note": f"imported from {self.source}: {len(ticket.mails)} mail(s), {span}"}

    def _inbox_row(self, mail: _Mail) -> dict[str, Any]:
        parsed, ticket = mail.parsed, mail.ticket
        stored = mail.problem is None
        return {"received_at": self.now, "via": VIA, "peer": self.source,
                "mail_from": (parsed.from_addr if parsed else "")[:512], "rcpt_tos": [self.mailbox.address],
                "authenticated_as": None, "mailbox_hint": self.mailbox.address,
                "sha256": mail.sha256, "message_id": (parsed.message_id if parsed else None),
                "size": len(mail.source.raw), "raw": mail.source.raw,
                "status": "processed" if stored else "quarantined", "outcome": VIA if stored else "quarantined",
                "reason": f"migrated into {ticket.protocol}" if stored and ticket else mail.problem,
                "processed_at": self.now, "ticket_id": ticket.ticket_id if stored and ticket else None}

    def _message_row(self, mail: _Mail, parsed: ParsedMail, ticket: TicketPlan, inbox_id: int) -> dict[str, Any]:
        sender = parsed.from_addr
        ours = self.team.wrote(sender, mail.source.folder)
        first = mail.source.key == self._first_key(ticket)
        role = "analyst" if ours else ("requester" if sender == ticket.requester else "participant")
        return {"ticket_id": ticket.ticket_id, "inbox_id": inbox_id, "direction": "out" if ours else "in",
                "role": role, "sender": (sender or ticket.requester)[:320], "sent_at": parsed.date or ticket.created_at,
                "subject": clean(parsed.subject), "text": parsed.text if first else reply_text(parsed.text),
                "message_id": parsed.message_id, "internal": ours and not self.team.outside((*parsed.to, *parsed.cc)),
                "automatic": classify(parsed, envelope_sender=None).automatic}

    def _first_key(self, ticket: TicketPlan) -> str:
        return self.plan.index[ticket.mails[0]].key

