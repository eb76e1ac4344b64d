"""Retention and erasure of personal data (LGPD), as set-based SQL.

Three operations, each counting what it changed, per table:

- ``drop_raw``: the raw bytes of mails older than a date, once processed
  (attachments' bytes live only there), the bodies of sent outbox mails,
  and expired rate-limit windows (their keys hold addresses).  Sizes,
  hashes, file names and the ticket's text stay.
- ``anonymise``: a closed ticket past its keeping time keeps what reports
  count (protocol, mailbox, category, priority, status, dates, SLA, survey
  score, tags) and loses who it was and what they wrote: requester address
  and name, subject, messages' text, attachments' names, fields (CPF...),
  participants, thread references, events' notes and the mails' bytes.
  An ``anonymised`` event (no personal data in it) tells the team.
- ``forget``: one person's data, on their request, across every table:
  their tickets anonymised as above, and their address wherever else it
  appears (a CC on someone else's ticket, a message, a counter's key).

A ticket is recognised as anonymised by its placeholder requester
(``anonimo-<id>@invalid``, RFC 2606: never deliverable), so every run is
idempotent and needs no extra column.  Each function works in the caller's
transaction on one batch; ``run_batches`` commits batch by batch, and a
dry run is the same statements in one transaction rolled back, so its
counts are exactly what a real run would do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    String,
    Text,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.orm import Session

from gateway.mail.naming import names
from gateway.store.db import Database
from gateway.store.models import (
    AttachmentRow,
    BouncingAddressRow,
    CounterRow,
    EventRow,
    InboxRawRow,
    InboxRow,
    MailKeyRow,
    MessageRow,
    OutboxRawRow,
    OutboxRow,
    ParticipantRow,
    QuarantineRow,
    ThreadRefRow,
    TicketFieldRow,
    TicketRow,
)

Counts = Counter  # table (or "table.raw") -> rows changed

BATCH: Final = 500
ENDED: Final = ("closed", "rejected")  # statuses with closed_at set (services.writer)
STAFF_ROLES: Final = ("analyst", "system")  # message senders kept: the team, not the citizen
PLACEHOLDER_DOMAIN: Final = "@invalid"
ANONYMOUS: Final = "anonimo@invalid"  # where no ticket id fits (outbox recipients, other tickets' messages)
REMOVED: Final = "[removido a pedido do titular]"
ATTACHMENT_NAME: Final = "anexo"
ANONYMISED_SUBJECT: Final = "(anonimizado)"
EVENT_KIND: Final = "anonymised"


def placeholder(ticket_id: int) -> str:
    return f"anonimo-{ticket_id}{PLACEHOLDER_DOMAIN}"


def _placeholder_sql(ticket_id: Any) -> ColumnElement[str]:
    return literal("anonimo-") + cast(ticket_id, String) + literal(PLACEHOLDER_DOMAIN)


def _not_anonymised() -> ColumnElement[bool]:
    return not_(TicketRow.requester.like(f"anonimo-%{PLACEHOLDER_DOMAIN}"))


# --- raw bytes ---------------------------------------------------------------

def drop_raw(tx: Session, before: datetime) -> Counts:
    """One batch: raw bytes of processed mails received before ``before``,
    bodies of outbox mails done with before it, counter windows before it."""
    counts: Counts = Counter()
    counts["inbox.raw"] = _empty_raw(tx, InboxRawRow, InboxRawRow.inbox_id, InboxRow.received_at < before,
                                     InboxRow.status.not_in(("accepted", "quarantined")),
                                     joined=(InboxRow, InboxRow.id == InboxRawRow.inbox_id))
    counts["outbox.raw"] = _empty_raw(tx, OutboxRawRow, OutboxRawRow.message_id, OutboxRow.created_at < before,
                                      OutboxRow.status.in_(("sent", "failed")),
                                      joined=(OutboxRow, OutboxRow.message_id == OutboxRawRow.message_id))
    counts["counter"] = tx.execute(delete(CounterRow).where(CounterRow.window_start < before)).rowcount
    return +counts


def _empty_outbox_raw(tx: Session, *where: Any) -> None:
    """Empty the bytes of the outbox rows matching ``where`` (they live in
    ``outbox_raw``, by Message-ID)."""
    _changed(tx, update(OutboxRawRow).where(OutboxRawRow.message_id.in_(select(OutboxRow.message_id).where(*where)))
             .values(raw=b""))


def _empty_raw(tx: Session, table: Any, key: Any, *where: Any, joined: tuple[Any, Any] | None = None) -> int:
    """Empty the ``raw`` bytes of up to BATCH rows of ``table`` (by ``key``)
    matching ``where`` that still hold some (a row emptied before is not
    counted again); ``joined``: the table ``where`` reads, and how (the
    inbox's bytes are beside its rows, in ``inbox_raw``)."""
    ids = select(key)
    if joined is not None:
        ids = ids.join(*joined)
    ids = ids.where(*where, func.length(table.raw) > 0).limit(BATCH)
    return tx.execute(update(table).where(key.in_(ids)).values(raw=b"")
                      .execution_options(synchronize_session=False)).rowcount


# --- tickets -----------------------------------------------------------------

def closed_tickets(tx: Session, before: datetime, limit: int = BATCH) -> list[int]:
    """Ids of ended tickets closed before ``before`` and not yet anonymised."""
    return list(tx.scalars(select(TicketRow.id).where(
        TicketRow.status.in_(ENDED), TicketRow.closed_at < before, _not_anonymised())
        .order_by(TicketRow.id).limit(limit)))


def anonymise(tx: Session, ticket_ids: Sequence[int], *, at: datetime, why: str) -> Counts:
    """Anonymise these tickets (see the module docstring for what stays).

    The order matters: rows are matched through the ticket's requester and
    participants, so those go last, and the requester last of all (it is
    the mark that the ticket is done)."""
    counts: Counts = Counter()
    if not ticket_ids:
        return counts
    ids = list(ticket_ids)
    inbox_ids = list(tx.scalars(
        select(InboxRow.id).where(InboxRow.ticket_id.in_(ids))
        .union(select(MessageRow.inbox_id).where(MessageRow.ticket_id.in_(ids), MessageRow.inbox_id.is_not(None)))))
    people = _people_of(ids)
    # Every event and message of the ticket is counted: each is rewritten.
    counts["event"] = _changed(tx, update(EventRow).where(EventRow.ticket_id.in_(ids)).values(
        note="", actor=case((func.lower(EventRow.actor).in_(people),
                             _placeholder_sql(EventRow.ticket_id)), else_=EventRow.actor)))
    counts["message"] = _changed(tx, update(MessageRow).where(MessageRow.ticket_id.in_(ids)).values(
        subject="", text="", message_id=None,
        sender=case((MessageRow.role.in_(STAFF_ROLES), MessageRow.sender),
                    else_=_placeholder_sql(MessageRow.ticket_id))))
    counts["attachment"] = _changed(tx, update(AttachmentRow).where(
        AttachmentRow.message_id.in_(select(MessageRow.id).where(MessageRow.ticket_id.in_(ids))))
        .values(filename=ATTACHMENT_NAME))
    counts["participant"] = _changed(tx, delete(ParticipantRow).where(ParticipantRow.ticket_id.in_(ids)))
    counts["ticket_field"] = _changed(tx, delete(TicketFieldRow).where(TicketFieldRow.ticket_id.in_(ids)))
    counts["thread_ref"] = _changed(tx, delete(ThreadRefRow).where(ThreadRefRow.ticket_id.in_(ids)))
    counts.update(_scrub_inbox(tx, inbox_ids))
    _empty_outbox_raw(tx, OutboxRow.ticket_id.in_(ids))
    counts["outbox"] = _changed(tx, update(OutboxRow).where(OutboxRow.ticket_id.in_(ids)).values(
        rcpt_tos=[ANONYMOUS], first_rcpt=ANONYMOUS, last_error=None, rcpt_results=None))
    # A mail still waiting would now go nowhere: it is given up, saying why.
    _changed(tx, update(OutboxRow).where(OutboxRow.ticket_id.in_(ids), OutboxRow.status.in_(("queued", "sending")))
             .values(status="failed", last_error="apagado antes do envio (dados pessoais anonimizados)"))
    counts["ticket"] = _changed(tx, update(TicketRow).where(TicketRow.id.in_(ids)).values(
        requester=_placeholder_sql(TicketRow.id), requester_name="", subject=ANONYMISED_SUBJECT,
        survey_comment=None))
    tx.execute(insert(EventRow).from_select(
        ["ticket_id", "at", "actor", "kind", "note"],
        select(TicketRow.id, bindparam("at", at, type_=EventRow.__table__.c.at.type), literal("gateway"),
               literal(EVENT_KIND), literal(f"dados pessoais anonimizados ({why})"))
        .where(TicketRow.id.in_(ids))))
    return +counts


def _people_of(ids: list[int]) -> Any:
    """The addresses, lower-cased, of the citizens on these tickets: the
    requesters, participants and non-staff senders (a subquery)."""
    return union(
        select(func.lower(TicketRow.requester)).where(TicketRow.id.in_(ids)),
        select(func.lower(ParticipantRow.address)).where(ParticipantRow.ticket_id.in_(ids)),
        select(func.lower(MessageRow.sender)).where(MessageRow.ticket_id.in_(ids),
                                                    MessageRow.role.not_in(STAFF_ROLES)))


def _scrub_inbox(tx: Session, inbox_ids: list[int]) -> Counts:
    """The mails' bytes and envelope, their quarantine reasons and dedupe keys."""
    counts: Counts = Counter()
    for chunk in _chunks(inbox_ids):
        counts["inbox"] += _changed(tx, update(InboxRow).where(InboxRow.id.in_(chunk)).values(
            mail_from=ANONYMOUS, message_id=None, reason=None))
        _changed(tx, update(InboxRawRow).where(InboxRawRow.inbox_id.in_(chunk)).values(raw=b""))
        counts["quarantine"] += _changed(tx, update(QuarantineRow).where(QuarantineRow.inbox_id.in_(chunk))
                                         .values(reason=REMOVED))
        counts["mail_key"] += _changed(tx, delete(MailKeyRow).where(MailKeyRow.inbox_id.in_(chunk)))
    return counts


# --- one person --------------------------------------------------------------

def tickets_of(tx: Session, address: str) -> tuple[list[int], list[int]]:
    """The person's tickets as requester, not yet anonymised: (ended, open)."""
    rows = tx.execute(select(TicketRow.id, TicketRow.status).where(
        func.lower(TicketRow.requester) == address, _not_anonymised()).order_by(TicketRow.id)).all()
    return [i for i, s in rows if s in ENDED], [i for i, s in rows if s not in ENDED]


def erase_address(tx: Session, address: str, named: Named) -> Counts:
    """The address wherever it is left once the person's own tickets are
    anonymised: as a CC on other tickets, a sender, an actor, a recipient,
    inside a text or a raw mail (``named``: :func:`named_in_bytes`), a
    counter's or a dedupe key."""
    counts: Counts = Counter()
    mentions = _mentioning(address)
    counts["participant"] = _changed(tx, delete(ParticipantRow).where(func.lower(ParticipantRow.address) == address))
    counts["message"] = _changed(tx, update(MessageRow).where(func.lower(MessageRow.sender) == address)
                                 .values(sender=ANONYMOUS, subject="", text="", message_id=None))
    counts["message"] += _rewrite(tx, MessageRow, (MessageRow.subject, MessageRow.text), mentions)
    counts["event"] = _changed(tx, update(EventRow).where(or_(mentions(EventRow.actor), mentions(EventRow.note)))
                               .values(actor=case((mentions(EventRow.actor), ANONYMOUS), else_=EventRow.actor),
                                       note=case((mentions(EventRow.note), REMOVED), else_=EventRow.note)))
    counts["ticket"] = _rewrite(tx, TicketRow, (TicketRow.subject, TicketRow.survey_comment), mentions)
    counts["ticket"] += _changed(tx, update(TicketRow).where(mentions(TicketRow.assignee)).values(assignee=None))
    counts["attachment"] = _changed(tx, update(AttachmentRow).where(mentions(AttachmentRow.filename))
                                    .values(filename=ATTACHMENT_NAME))
    counts["ticket_field"] = _changed(tx, delete(TicketFieldRow).where(mentions(TicketFieldRow.value)))
    counts["thread_ref"] = _changed(tx, delete(ThreadRefRow).where(mentions(ThreadRefRow.message_id)))
    counts["counter"] = _changed(tx, delete(CounterRow).where(mentions(CounterRow.key)))
    counts["bouncing_address"] = _changed(tx, delete(BouncingAddressRow).where(
        or_(mentions(BouncingAddressRow.address), mentions(BouncingAddressRow.diagnostic))))
    inbox_ids = sorted(set(tx.scalars(select(InboxRow.id).where(
        InboxRow.status != "accepted",  # still to be processed: it keeps its bytes until then
        or_(mentions(InboxRow.mail_from), mentions(cast(InboxRow.rcpt_tos, Text)), mentions(InboxRow.reason),
            mentions(InboxRow.message_id))))) | set(named.inbox_now(tx)))
    counts.update(_scrub_inbox(tx, inbox_ids))
    counts["quarantine"] += _changed(tx, update(QuarantineRow).where(mentions(QuarantineRow.reason))
                                     .values(reason=REMOVED))
    counts["mail_key"] += _changed(tx, delete(MailKeyRow).where(mentions(MailKeyRow.key)))
    outbox_hit = or_(mentions(OutboxRow.first_rcpt), mentions(cast(OutboxRow.rcpt_tos, Text)),
                     mentions(cast(OutboxRow.rcpt_results, Text)), mentions(OutboxRow.last_error))
    # Chosen once: each change below alters what outbox_hit reads.  The bytes too:
    # a postmaster forward (no ticket, to postmaster) carries the person's mail whole.
    hit_ids = sorted(set(tx.scalars(select(OutboxRow.id).where(outbox_hit))) | set(named.outbox_now(tx)))
    for chunk in _chunks(hit_ids):
        hit = OutboxRow.id.in_(chunk)
        _empty_outbox_raw(tx, hit)
        counts["outbox"] += _changed(tx, update(OutboxRow).where(hit).values(
            rcpt_tos=[ANONYMOUS], first_rcpt=ANONYMOUS, last_error=None, rcpt_results=None))
        # A mail still waiting would now go nowhere: given up, saying why (after the line above).
        _changed(tx, update(OutboxRow).where(hit, OutboxRow.status.in_(("queued", "sending")))
                 .values(status="failed", last_error="apagado antes do envio (pedido do titular)"))
    return +counts


def _rewrite(tx: Session, model: Any, columns: Sequence[Any], mentions: Callable[[Any], ColumnElement[bool]]) -> int:
    """Replace, in one statement, each of ``columns`` that mentions the
    address by REMOVED; the rows changed."""
    return _changed(tx, update(model).where(or_(*(mentions(c) for c in columns))).values(
        {c.key: case((mentions(c), REMOVED), else_=c) for c in columns}))


def _mentioning(address: str) -> Callable[[Any], ColumnElement[bool]]:
    def mentions(column: Any) -> ColumnElement[bool]:
        return func.lower(column).contains(address, autoescape=True)
    return mentions


@dataclass(frozen=True)
class Named:
    """What a scan of the stored mails' bytes found naming an address
    (:func:`named_in_bytes`), and what it could not see: the erasure looks
    again, in its own transaction, at the mails received, processed or
    queued after (ids above the highest it saw, ids missing below it, which
    on PostgreSQL may be a transaction not yet committed), and whether the
    inbox mails that were still to be processed and name it were processed
    since."""

    needle: str
    inbox: list[int]  # processed inbox mails
    outbox: list[int]  # outbox rows (ids)
    inbox_last: int  # the highest inbox id it saw
    inbox_holes: list[tuple[int, int]]  # inbox ids (first, last) missing below it
    # Inbox mails still to be processed then whose bytes name the address: their bytes do
    # not change, so the erasure only looks whether they were processed since.
    inbox_open: list[int]
    outbox_last: int
    outbox_holes: list[tuple[int, int]]

    def inbox_now(self, tx: Session) -> list[int]:
        """The processed inbox mails that name the address and still hold
        their bytes (the person's own tickets' were emptied by ``anonymise``
        since; a mail released from quarantine meanwhile is to be processed)."""
        processed = InboxRow.status != "accepted"
        found = _still_held(tx, InboxRow.id, InboxRawRow.raw, self.inbox + self.inbox_open, processed,
                            joined=_INBOX_BYTES)
        for later in _later(InboxRow.id, self.inbox_last, self.inbox_holes, []):
            found += _scan(tx, self.needle, InboxRow.id, InboxRawRow.raw, processed, later, joined=_INBOX_BYTES)
        return found

    def outbox_now(self, tx: Session) -> list[int]:
        """The outbox rows that name the address and still hold their bytes,
        those queued since the scan included."""
        found = _still_held(tx, OutboxRow.id, OutboxRawRow.raw, self.outbox, joined=_OUTBOX_BYTES)
        for later in _later(OutboxRow.id, self.outbox_last, self.outbox_holes, []):
            found += _scan(tx, self.needle, OutboxRow.id, OutboxRawRow.raw, later, joined=_OUTBOX_BYTES)
        return found


#: How an inbox or outbox row and its bytes join.
_INBOX_BYTES: Final = (InboxRawRow, InboxRawRow.inbox_id == InboxRow.id)
_OUTBOX_BYTES: Final = (OutboxRawRow, OutboxRawRow.message_id == OutboxRow.message_id)
#: Stored mails' sizes read per query, and the bytes read per query at most
#: (one mail at least), while looking for an address in them.
_SCAN_KEYS: Final = 500
_SCAN_BYTES: Final = 64 * 1024 * 1024
def named_in_bytes(tx: Session, address: str) -> Named:
    """Every stored mail, received (processed) or queued, whose bytes name
    the address once their encodings are undone (``gateway.mail.naming``).
    Read in a transaction of its own before the erasure: it reads every
    stored mail, and SQLite's write lock would wait that long; the erasure
    reads what it could not see (:class:`Named`)."""
    inbox_last = tx.scalar(select(func.max(InboxRow.id))) or 0
    outbox_last = tx.scalar(select(func.max(OutboxRow.id))) or 0
    # Mails still to be processed are read here too, outside the erasure's write lock: a
    # backlog of them was read inside it, holding up every mail arriving meanwhile.
    open_ = _scan(tx, address, InboxRow.id, InboxRawRow.raw, InboxRow.status == "accepted", InboxRow.id <= inbox_last,
                  joined=_INBOX_BYTES)
    inbox = _scan(tx, address, InboxRow.id, InboxRawRow.raw, InboxRow.status != "accepted", InboxRow.id <= inbox_last,
                  joined=_INBOX_BYTES)
    outbox = _scan(tx, address, OutboxRow.id, OutboxRawRow.raw, OutboxRow.id <= outbox_last, joined=_OUTBOX_BYTES)
    return Named(address, inbox, outbox, inbox_last, _holes(tx, InboxRow.id, inbox_last), open_,
                 outbox_last, _holes(tx, OutboxRow.id, outbox_last))


def _holes(tx: Session, key: Any, last: int) -> list[tuple[int, int]]:
    """The ids from 1 to ``last`` not there: rolled back, or not yet committed."""
    holes: list[tuple[int, int]] = []
    expected = 1
    for value in tx.scalars(select(key).where(key <= last).order_by(key)):
        if value > expected:
            holes.append((expected, value - 1))
        expected = value + 1
    return holes


def _later(key: Any, last: int, holes: list[tuple[int, int]], open_: list[int]) -> list[ColumnElement[bool]]:
    """Where the rows a scan could not see are: above ``last``, in its holes, among ``open_``."""
    return [key > last, *(key.in_(chunk) for chunk in _chunks(open_)),
            *(or_(*(key.between(first, end) for first, end in chunk)) for chunk in _chunks(holes, 100))]


def _scan(tx: Session, needle: str, key: Any, raw: Any, *where: Any, joined: tuple[Any, Any]) -> list[int]:
    """The keys of the rows matching ``where`` whose bytes name ``needle``,
    read in key order: sizes first, then the bytes ``_SCAN_BYTES`` at a time."""
    found: list[int] = []
    after = None
    for _ in range(1_000_000):  # bounded: each pass moves past _SCAN_KEYS keys
        sizes = tx.execute(select(key, func.length(raw)).join(*joined)
                           .where(*where, func.length(raw) > 0, *(() if after is None else (key > after,)))
                           .order_by(key).limit(_SCAN_KEYS)).all()
        for batch in _by_size(sizes, _SCAN_BYTES):
            rows = tx.execute(select(key, raw).join(*joined).where(key.in_(batch))).all()
            found += [row_key for row_key, data in rows if names(bytes(data), needle)]
        if len(sizes) < _SCAN_KEYS:
            break
        after = sizes[-1][0]
    return sorted(found)


def _by_size(sizes: Sequence[Any], budget: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    total = 0
    for key, size in sizes:
        if batch and total + size > budget:
            yield batch
            batch, total = [], 0
        batch.append(key)
        total += size
    if batch:
        yield batch


def _still_held(tx: Session, key: Any, raw: Any, keys: list[int], *where: Any, joined: tuple[Any, Any]) -> list[int]:
    held: list[int] = []
    for chunk in _chunks(keys):
        held += tx.scalars(select(key).join(*joined).where(key.in_(chunk), func.length(raw) > 0, *where)).all()
    return held


# --- helpers -----------------------------------------------------------------

def _changed(tx: Session, statement: Any) -> int:
    return int(tx.execute(statement.execution_options(synchronize_session=False)).rowcount or 0)


def _chunks(values: list[Any], size: int = BATCH) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def run_batches(db: Database, batch: Callable[[Session], Counts], *, dry_run: bool, limit: int = 100_000) -> Counts:
    """Call ``batch`` until it changes nothing: each call committed (a long
    purge never holds the write lock for long), or, for a dry run, all in
    one transaction rolled back at the end.  ``limit`` bounds the loop."""
    total: Counts = Counter()
    if dry_run:
        with _rolled_back(db) as tx:
            for _ in range(limit):
                found = batch(tx)
                total.update(found)
                if not found:
                    break
        return total
    for _ in range(limit):
        with db.transaction() as tx:
            found = batch(tx)
        total.update(found)
        if not found:
            break
    return total


# --- whole operations --------------------------------------------------------

def purge(db: Database, *, raw_before: datetime | None, closed_before: datetime | None, at: datetime,
          why: str, dry_run: bool = False) -> Counts:
    """Drop raw bytes older than ``raw_before`` and anonymise tickets closed
    before ``closed_before`` (None: skip that part).  ``tickets`` in the
    result counts the tickets anonymised."""
    total: Counts = Counter()
    if raw_before is not None:
        total.update(run_batches(db, lambda tx: drop_raw(tx, raw_before), dry_run=dry_run))
    if closed_before is not None:
        cutoff = closed_before

        def batch(tx: Session) -> Counts:
            return anonymise(tx, closed_tickets(tx, cutoff), at=at, why=why)

        total.update(run_batches(db, batch, dry_run=dry_run))
    return +total


def forget(db: Database, address: str, *, at: datetime, include_open: bool, dry_run: bool = False) -> Counts:
    """Erase one person's data; their open tickets only with ``include_open``
    (the caller refuses first, naming how many: tickets_of)."""
    address = address.strip().lower()
    counts: Counts = Counter()
    with db.reading() as tx:
        named = named_in_bytes(tx, address)
    with (_rolled_back(db) if dry_run else db.transaction()) as tx:
        ended, still_open = tickets_of(tx, address)
        ids = ended + (still_open if include_open else [])
        for chunk in _chunks(ids):
            counts.update(anonymise(tx, chunk, at=at, why="pedido do titular"))
        counts.update(erase_address(tx, address, named))
    return +counts


class _DryRun(Exception):
    """Raised to leave a transaction by rolling it back."""


@contextmanager
def _rolled_back(db: Database) -> Iterator[Session]:
    """A transaction whose every change is undone at the end (a dry run):
    the statements run for real, so the counts are exactly a real run's."""
    try:
        with db.transaction() as tx:
            yield tx
            raise _DryRun
    except _DryRun:
        pass


def protocols(db: Database, ticket_ids: Sequence[int]) -> list[str]:
    with db.reading() as tx:
        return list(tx.scalars(select(TicketRow.protocol).where(TicketRow.id.in_(list(ticket_ids)))
                               .order_by(TicketRow.id)))


def person_tickets(db: Database, address: str) -> tuple[list[int], list[int]]:
    """``tickets_of`` in its own transaction: (ended, open) ids."""
    with db.reading() as tx:
        return tickets_of(tx, address.strip().lower())
