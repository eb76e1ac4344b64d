"""Ticket queries: create, find by protocol or Message-ID, timeline rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import Table, bindparam, insert, or_, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from gateway.store import numbers
from gateway.store import outbox as outbox_rows
from gateway.store.compiled import Compiled
from gateway.store.models import (
    EventRow,
    MessageRow,
    OutboxRow,
    ParticipantRow,
    SequenceRow,
    ThreadRefRow,
    TicketRow,
)
from gateway.store.rows import ATTACHMENT, EVENT, MESSAGE, TICKET
from gateway.store.tx import Tx

_THREAD_REF: Table = ThreadRefRow.__table__  # type: ignore[assignment]
_PARTICIPANT: Table = ParticipantRow.__table__  # type: ignore[assignment]
_SEQUENCE: Table = SequenceRow.__table__  # type: ignore[assignment]

# The statements every mail or due ticket runs, compiled once and run on
# the driver's cursor (store.compiled says why).  Parameters are passed at
# execution.  The inserts are the tables' row builders' (store.rows).
_INSERT_MESSAGE = MESSAGE.insert_returning_id
_INSERT_MESSAGE_DEFERRED = MESSAGE.insert
_INSERT_ATTACHMENT = ATTACHMENT.insert
_INSERT_EVENT = EVENT.insert
_INSERT_PARTICIPANT = insert(_PARTICIPANT)
_NEXT_SEQUENCE = Compiled(sqlite.insert(_SEQUENCE).values(  # PostgreSQL: store.numbers
    prefix=bindparam("prefix"), year=bindparam("year"), last=bindparam("last")).on_conflict_do_update(
    index_elements=[_SEQUENCE.c.prefix, _SEQUENCE.c.year], set_={"last": _SEQUENCE.c.last + 1},
).returning(_SEQUENCE.c.last))
_INSERT_THREAD_REF = {
    name: Compiled(dialect.insert(_THREAD_REF).values(
        message_id=bindparam("message_id"), ticket_id=bindparam("ticket_id"), ours=bindparam("ours", type_=_THREAD_REF.c.ours.type),
    ).on_conflict_do_nothing(index_elements=[_THREAD_REF.c.message_id]))
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}


def next_sequence(tx: Tx, prefix: str, year: int) -> int:
    """The next sequence number for ``prefix`` in ``year``, unique under concurrency.

    On SQLite one atomic upsert in ``tx``: the transaction already holds the
    write lock, and a rollback gives the number back (no gaps).  On
    PostgreSQL the number comes from the process's block (store.numbers),
    reserved in a short transaction of its own: an upsert here would hold
    the row's lock until the group commits and make the nodes take turns.
    """
    bind = tx.get_bind()
    if bind.dialect.name == "postgresql":
        return numbers.blocks_for(bind.engine).take(prefix, year)
    return int(_NEXT_SEQUENCE.scalar(tx, {"prefix": prefix, "year": year, "last": 1}))


def add_ticket(tx: Tx, *, before_insert: Callable[[TicketRow], None] | None = None,
               **fields: object) -> TicketRow:
    """Insert a ticket and give it its id.  ``before_insert`` fills what is
    computed from the other fields (deadlines), so the row is written once.

    A plain INSERT, the object joined to the session as if loaded, and
    forgotten again if its savepoint rolls back (``Tx.insert_as_loaded``)."""
    return tx.insert_as_loaded(TICKET, fields, before_insert=before_insert)


def by_protocol(tx: Session, protocol: str) -> TicketRow | None:
    return tx.scalar(select(TicketRow).where(TicketRow.protocol == protocol))


def by_id(tx: Session, ticket_id: int) -> TicketRow | None:
    return tx.get(TicketRow, ticket_id)


def by_message_ids(tx: Session, message_ids: Iterable[str]) -> TicketRow | None:
    """The ticket of the newest known Message-ID among ``message_ids``.

    Known: received (``thread_ref``) or sent by us (the outbox's unique
    Message-ID; not copied into ``thread_ref``, which saved a row per mail
    sent).
    """
    ids = [m for m in message_ids if m]
    if not ids:
        return None
    found = dict(tx.execute(_KNOWN_IDS, {"ids": ids}).all())
    for message_id in reversed(ids):  # References run oldest to newest
        if message_id in found:
            return tx.get(TicketRow, found[message_id])
    return None


_KNOWN_IDS = union_all(
    select(ThreadRefRow.message_id, ThreadRefRow.ticket_id)
    .where(ThreadRefRow.message_id.in_(bindparam("ids", expanding=True))),
    select(OutboxRow.message_id, OutboxRow.ticket_id)
    .where(OutboxRow.message_id.in_(bindparam("ids", expanding=True)), OutboxRow.ticket_id.is_not(None)),
)


def add_thread_ref(tx: Tx, message_id: str | None, ticket_id: int, *, ours: bool) -> None:
    """Remember a Message-ID for threading; the first ticket that saw a
    Message-ID keeps it (a resent copy must not move the thread)."""
    if not message_id:
        return
    _INSERT_THREAD_REF[tx.get_bind().dialect.name].execute(
        tx, {"message_id": message_id, "ticket_id": ticket_id, "ours": ours})


#: thread_ref keys for Outlook conversations (``Thread-Index`` bases) begin
#: with this.  A key holds a space, which no Message-ID read from a mail can
#: (``gateway.mail.parsed`` removes all whitespace from ids), so a
#: conversation can be found only through ``by_thread_index``, never by
#: naming its key in References.  In thread_ref, rather than a table of its
#: own, they go wherever a ticket's thread references go (deletion, purge).
_THREAD_INDEX_KEY = "thread-index "


def add_thread_index(tx: Tx, conversation: str | None, ticket_id: int) -> None:
    """Remember an Outlook conversation (``ParsedMail.thread_index``) for
    the ticket a mail landed on; the first ticket keeps it."""
    if conversation:
        add_thread_ref(tx, _THREAD_INDEX_KEY + conversation, ticket_id, ours=False)


def by_thread_index(tx: Session, conversation: str | None) -> TicketRow | None:
    """The ticket an Outlook conversation was first seen on, if any."""
    return _by_key(tx, _THREAD_INDEX_KEY + conversation) if conversation else None


#: thread_ref keys for the first Message-ID a received mail's References
#: name (its thread's root), kept apart as Thread-Index keys are: a root
#: we never received is no Message-ID of the ticket's, and only
#: ``by_thread_root`` finds it.
_THREAD_ROOT_KEY = "thread-root "


def add_thread_root(tx: Tx, root: str | None, ticket_id: int) -> None:
    """Remember the root a mail's References name for the ticket it landed
    on; the first ticket keeps it.  Two replies to a mail we never got
    (zammad#5716) share nothing else."""
    if root:
        add_thread_ref(tx, _THREAD_ROOT_KEY + root, ticket_id, ours=False)


def by_thread_root(tx: Session, root: str | None) -> TicketRow | None:
    """The ticket a mail naming the same thread root landed on first, if any."""
    return _by_key(tx, _THREAD_ROOT_KEY + root) if root else None


#: thread_ref keys for a legacy mailbox's old numbers (``[[mailbox]]
#: legacy_references``), ``"legacy <mailbox> <number>"``: written by
#: ``gateway migrate`` for the ticket whose conversation carried the number
#: first, found only by ``by_legacy_reference``.  Per mailbox: two legacy
#: mailboxes may both have had a "Chamado nº 1234".
_LEGACY_KEY = "legacy "


def legacy_key(mailbox: str, number: str) -> str:
    """The thread_ref key of old number ``number`` of ``mailbox`` (as
    ``MailboxConfig.legacy_references_in`` gives it)."""
    return f"{_LEGACY_KEY}{mailbox} {number}"


def by_legacy_reference(tx: Session, mailbox: str, number: str) -> TicketRow | None:
    """The migrated ticket that kept old number ``number`` of ``mailbox``, if any."""
    return _by_key(tx, legacy_key(mailbox, number))


def _by_key(tx: Session, key: str) -> TicketRow | None:
    ticket_id = tx.scalar(select(ThreadRefRow.ticket_id).where(ThreadRefRow.message_id == key))
    return tx.get(TicketRow, ticket_id) if ticket_id is not None else None


def last_language(tx: Session, requester: str) -> str | None:
    """The language of the requester's newest ticket, if they had one."""
    return tx.scalar(select(TicketRow.language).where(TicketRow.requester == requester)
                     .order_by(TicketRow.id.desc()).limit(1))


def participants(tx: Session, ticket_id: int) -> set[str]:
    return set(tx.scalars(select(ParticipantRow.address).where(ParticipantRow.ticket_id == ticket_id)))


def add_participants(tx: Session, ticket_id: int, addresses: Iterable[str], *, new: bool = False) -> None:
    wanted = set(addresses)
    if not wanted:
        return
    known = set() if new else participants(tx, ticket_id)
    rows = [{"ticket_id": ticket_id, "address": address} for address in sorted(wanted - known)]
    if rows:
        tx.execute(_INSERT_PARTICIPANT, rows)


# The timeline rows below are append-only: plain INSERTs through the
# session's connection cost a fraction of the ORM's unit of work, which
# was most of the time spent on each mail.  Nothing reads them back as
# objects in the transaction that writes them.

def add_message(tx: Tx, ticket: TicketRow, *, attachments: Iterable[dict[str, object]] = (),
                **fields: object) -> int:
    """Insert a message and its attachments' descriptions; its id."""
    message_id = int(_INSERT_MESSAGE.scalar(tx, {"ticket_id": ticket.id, **fields}))
    _INSERT_ATTACHMENT.executemany(tx, [{**attachment, "message_id": message_id} for attachment in attachments])
    return message_id


def add_sent(tx: Tx, ticket: TicketRow, **fields: object) -> None:
    """A mail we send, on the timeline: deferred (store.tx), nobody
    needs its id.  Never a requester's or participant's mail: thread_for
    does not look for those among the pending rows."""
    _INSERT_MESSAGE_DEFERRED.defer(tx, {"ticket_id": ticket.id, **fields})


def add_event(tx: Tx, ticket: TicketRow, *, at: datetime, actor: str, kind: str, note: str = "",
              from_status: str | None = None, to_status: str | None = None) -> None:
    """Deferred (store.tx): written with the transaction's other pending rows."""
    _INSERT_EVENT.defer(tx, {"ticket_id": ticket.id, "at": at, "actor": actor, "kind": kind, "note": note,
                               "from_status": from_status, "to_status": to_status})


def listing(tx: Session, *, mailbox: str | None = None, status: str | None = None,
            limit: int = 100) -> list[TicketRow]:
    query = select(TicketRow).order_by(TicketRow.id.desc()).limit(limit)
    if mailbox:
        query = query.where(TicketRow.mailbox == mailbox)
    if status:
        query = query.where(TicketRow.status == status)
    return list(tx.scalars(query))


def full(tx: Session, protocol: str) -> TicketRow | None:
    """A ticket with its messages, attachments and events loaded."""
    query = (select(TicketRow).where(TicketRow.protocol == protocol)
             .options(selectinload(TicketRow.messages).selectinload(MessageRow.attachments),
                      selectinload(TicketRow.events)))
    return tx.scalar(query)


def thread_for(tx: Tx, ticket_id: int, *, ours_only: bool, kinds: tuple[str, ...] = (),
               reader: str = "") -> list[str]:
    """Message-IDs of a ticket, oldest first: the References of our next mail.

    With ``ours_only`` and ``kinds``, only outbox mails of those kinds (the
    team's thread); otherwise the requester's side: their mails and ours to
    them.  ``reader`` (the requester's address) keeps only our mails that
    went to them: a command confirmation to the analyst or a warning to the
    team is no parent of a citizen's mail (issue 15, bug 3).
    """
    # Compiled statements, so the ticket's pending changes are not flushed
    # (an UPDATE per mail that the commit does for the whole group at once).
    # Mails queued in this transaction are still pending (store.tx): they
    # are added from memory, after the written ones, as the queries would
    # order them.  Their timeline rows (add_sent) are ours, never the
    # requester's, so only the outbox rows matter here.
    queued = [row for row in tx.pending(outbox_rows.INSERT) if row["ticket_id"] == ticket_id]
    if ours_only:
        if not kinds:
            return [m for (m,) in _OURS_ALL.all(tx, {"ticket_id": ticket_id}, merged=True)] + [
                row["message_id"] for row in queued]
        if len(kinds) == 1:
            return [m for (m,) in _OURS_OF_KIND.all(tx, {"ticket_id": ticket_id, "kind": kinds[0]}, merged=True)] + [
                row["message_id"] for row in queued if row["kind"] == kinds[0]]
        with tx.no_autoflush:
            return list(tx.scalars(_OURS_OF_KINDS, {"ticket_id": ticket_id, "kinds": list(kinds)}))
    if reader:
        rows = _READERS_THREAD.all(tx, {"ticket_id": ticket_id, "reader": reader}, merged=True)
        queued = [row for row in queued if row["first_rcpt"] == reader]
    else:
        rows = _REQUESTERS_THREAD.all(tx, {"ticket_id": ticket_id}, merged=True)
    rows += [(row["message_id"], row["created_at"]) for row in queued if not row["kind"].startswith("team_")]
    rows.sort(key=lambda r: r[1])
    return [r[0] for r in rows][-20:]


# thread_for's queries, built once (every mail to a requester asks them).
_OURS_ALL = Compiled(select(OutboxRow.message_id).where(OutboxRow.ticket_id == bindparam("ticket_id"))
                     .order_by(OutboxRow.id))
_OURS_OF_KIND = Compiled(select(OutboxRow.message_id)
                         .where(OutboxRow.ticket_id == bindparam("ticket_id"), OutboxRow.kind == bindparam("kind"))
                         .order_by(OutboxRow.id))
_OURS_OF_KINDS = (select(OutboxRow.message_id)
                  .where(OutboxRow.ticket_id == bindparam("ticket_id"),
                         OutboxRow.kind.in_(bindparam("kinds", expanding=True)))
                  .order_by(OutboxRow.id))
_OURS_TO_REQUESTER = select(OutboxRow.message_id, OutboxRow.created_at).where(  # team_* mails: the team's thread
    OutboxRow.ticket_id == bindparam("ticket_id"), OutboxRow.kind.not_like("team\\_%", escape="\\"))
_THEIRS = select(MessageRow.message_id, MessageRow.sent_at).where(
    MessageRow.ticket_id == bindparam("ticket_id"),
    or_(MessageRow.role == "requester", MessageRow.role == "participant"),  # no expanding IN: compiled once
    MessageRow.message_id.is_not(None))
_REQUESTERS_THREAD = Compiled(union_all(_OURS_TO_REQUESTER, _THEIRS))  # one round trip, not two
# Only the mails the reader received: first_rcpt is the requester for every mail to them alone.
_READERS_THREAD = Compiled(union_all(_OURS_TO_REQUESTER.where(OutboxRow.first_rcpt == bindparam("reader")), _THEIRS))


def last_event_note(tx: Tx, ticket_id: int, kind: str) -> str | None:
    """The note of the ticket's newest event of ``kind`` (a reminder repeats the question)."""
    for row in reversed(tx.pending(_INSERT_EVENT)):  # this transaction's, not yet written
        if row["ticket_id"] == ticket_id and row["kind"] == kind:
            return row.get("note") or ""
    return _LAST_EVENT_NOTE.scalar(tx, {"ticket_id": ticket_id, "kind": kind}, merged=True)  # type: ignore[no-any-return]


_LAST_EVENT_NOTE = Compiled(select(EventRow.note)
                            .where(EventRow.ticket_id == bindparam("ticket_id"), EventRow.kind == bindparam("kind"))
                            .order_by(EventRow.id.desc()).limit(1))


def events(tx: Session, ticket_id: int) -> list[EventRow]:
    with tx.no_autoflush:  # events are plain INSERTs, never pending (see thread_for)
        return list(tx.scalars(_EVENTS, {"ticket_id": ticket_id}))


_EVENTS = select(EventRow).where(EventRow.ticket_id == bindparam("ticket_id")).order_by(EventRow.id)
