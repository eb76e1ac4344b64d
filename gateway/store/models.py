"""The tables.  Raw mail first: everything else can be rebuilt from it.

``inbox`` holds every accepted mail's bytes and envelope (the first of the
two commits); ``mail_key`` makes re-delivery a no-op; ``ticket``,
``participant``, ``message``, ``attachment`` and ``event`` are the ticket
and its timeline; ``outbox`` is every mail we will send, rendered, written
in the same transaction as the change that caused it; ``thread_ref`` maps
every Message-ID we sent or received to its ticket, for threading.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column, relationship
from sqlalchemy.types import JSON, TypeDecorator

from gateway.store.utc import as_utc, sqlite_text

Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite too.

    SQLite has no time zone type and hands back naive values; mixing those
    with the aware ones the clock gives is an error waiting to happen.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Any) -> Any:
        """On SQLite, one step to SQLAlchemy's stored text instead of two
        (this method, then the DATETIME type's %-formatting): every row
        written carries a few timestamps, and the two steps were a few
        percent of processing a mail.  Same text, byte for byte (tested)."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            return sqlite_text(value)

        return process

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


class InboxRow(Base):
    """One accepted mail, exactly as it arrived."""

    __tablename__ = "inbox"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    via: Mapped[str] = mapped_column(String(16))  # smtp, lmtp, pipe, imap, migrate
    peer: Mapped[str] = mapped_column(String(255), default="")
    mail_from: Mapped[str] = mapped_column(String(512), default="")
    rcpt_tos: Mapped[list[str]] = mapped_column(JSON, default=list)
    authenticated_as: Mapped[str | None] = mapped_column(String(320), nullable=True)
    mailbox_hint: Mapped[str | None] = mapped_column(String(320), nullable=True)
    sha256: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(998), nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    # accepted -> processed | duplicate | quarantined
    status: Mapped[str] = mapped_column(String(16), default="accepted")
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), nullable=True)

    __table_args__ = (Index("ix_inbox_pending", "status", "id"),)

    if TYPE_CHECKING:
        raw: bytes  # read from inbox_raw (below); not a column of this table


class InboxRawRow(Base):
    """An accepted mail's bytes, beside its inbox row: written once, never
    rewritten.  In the inbox row itself, recording a mail's outcome
    rewrote them: SQLite writes an updated row whole, overflow pages and
    all, when its size changes (29 ms for a 3 MB mail against 6 ms, inside
    the processing group's write lock, and a second copy in the WAL).
    ``InboxRow.raw`` reads them; the writers of inbox rows write both."""

    __tablename__ = "inbox_raw"

    inbox_id: Mapped[int] = mapped_column(Id, ForeignKey("inbox.id"), primary_key=True, autoincrement=False)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


InboxRow.raw = column_property(  # type: ignore[misc]
    select(InboxRawRow.raw).where(InboxRawRow.inbox_id == InboxRow.id).correlate_except(InboxRawRow)
    .scalar_subquery())


class QuarantineRow(Base):
    """A mail the pipeline could not handle, with the step and the reason."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox.id"), index=True)
    step: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class MailKeyRow(Base):
    """Keys of mails already processed: ``mid:<message-id>`` or ``sha:<hash>``."""

    __tablename__ = "mail_key"

    key: Mapped[str] = mapped_column(String(1100), primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox.id"))


class SequenceRow(Base):
    """The last protocol sequence used per prefix and year."""

    __tablename__ = "protocol_sequence"

    prefix: Mapped[str] = mapped_column(String(8), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class TicketRow(Base):
    __tablename__ = "ticket"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    protocol: Mapped[str] = mapped_column(String(32), unique=True)
    # (mailbox, rowid) on SQLite: one mailbox's newest tickets by a backward scan (migration 0019 keeps it).
    mailbox: Mapped[str] = mapped_column(String(320), index=True)
    # A tickets.states.Status value; "assigned" since migration 0008 ("resolved" is shown, never stored).
    status: Mapped[str] = mapped_column(String(16), default="new")
    requester: Mapped[str] = mapped_column(String(320), index=True)
    requester_name: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(String(128), nullable=True)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    language: Mapped[str] = mapped_column(String(8), default="pt_BR")
    assignee: Mapped[str | None] = mapped_column(String(320), nullable=True)
    linked_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    due_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The ticket's life (migration 0002).
    solution_round: Mapped[int] = mapped_column(Integer, default=0)  # proposals so far; links name one
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    closed_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    survey_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    survey_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    survey_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # Deadlines (migration 0004): due_at/due_kind above are the soonest of these.
    limit_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)  # waiting/solved limit
    remind_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)  # next reminder, if any
    first_response_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)  # SLA
    first_response_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)  # SLA
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    sla_done: Mapped[str] = mapped_column(String(96), default="")  # e.g. "first_response.warning"
    # What the mailbox's rules decided (migration 0005).
    tags: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    sla_first_response: Mapped[str | None] = mapped_column(String(16), nullable=True)  # a rule's SLA, e.g. "2h"
    sla_resolution: Mapped[str | None] = mapped_column(String(16), nullable=True)
    missing_fields: Mapped[str] = mapped_column(String(128), default="")  # required fields still missing: "cpf uf"
    # The last time a closed or returned ticket went back to work (migration 0010; `gateway report`).
    reopened_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    messages: Mapped[list[MessageRow]] = relationship(back_populates="ticket", order_by="MessageRow.id")
    events: Mapped[list[EventRow]] = relationship(back_populates="ticket", order_by="EventRow.id")

    __table_args__ = (
        Index("ix_ticket_due", "due_at"),
        # `gateway report`: one mailbox's period by range scans (migration 0010); the moments a
        # new ticket lacks only where present (0019): the report reads them by a range of them.
        Index("ix_ticket_report_created", "mailbox", "created_at"),
        Index("ix_ticket_report_closed", "mailbox", "closed_at"),  # the backlog reads its empty ones
        Index("ix_ticket_report_first_response", "mailbox", "first_response_at",
              sqlite_where=text("first_response_at IS NOT NULL"), postgresql_where=text("first_response_at IS NOT NULL")),
        Index("ix_ticket_report_resolved", "mailbox", "resolved_at",
              sqlite_where=text("resolved_at IS NOT NULL"), postgresql_where=text("resolved_at IS NOT NULL")),
        Index("ix_ticket_report_reopened", "mailbox", "reopened_at",
              sqlite_where=text("reopened_at IS NOT NULL"), postgresql_where=text("reopened_at IS NOT NULL")),
        # `tickets list --status` and `--overdue` (migration 0011): partial, unmet targets only
        Index("ix_ticket_status", "status", "id"),
        Index("ix_ticket_first_response_due", "first_response_due_at",
              sqlite_where=text("first_response_at IS NULL"), postgresql_where=text("first_response_at IS NULL")),
        Index("ix_ticket_resolution_due", "resolution_due_at",
              sqlite_where=text("resolved_at IS NULL"), postgresql_where=text("resolved_at IS NULL")),
        # The team page's queue (migration 0014): one mailbox, one filter, newest first, 50 rows,
        # a range scan that stops at 50 even when few tickets match.
        Index("ix_ticket_queue_status", "mailbox", "status", "id"),
        Index("ix_ticket_queue_category", "mailbox", "category", "id"),
        Index("ix_ticket_queue_assignee", "mailbox", "assignee", "id"),
    )


class ParticipantRow(Base):
    """An address that was on the ticket's mails (CC): it may follow up."""

    __tablename__ = "participant"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), primary_key=True)
    address: Mapped[str] = mapped_column(String(320), primary_key=True)


class MessageRow(Base):
    __tablename__ = "message"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"), nullable=True)
    direction: Mapped[str] = mapped_column(String(3))  # in, out
    role: Mapped[str] = mapped_column(String(16))  # requester, participant, analyst, stranger, system
    sender: Mapped[str] = mapped_column(String(320))
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime())
    subject: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str | None] = mapped_column(String(998), nullable=True)
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)

    ticket: Mapped[TicketRow] = relationship(back_populates="messages")
    attachments: Mapped[list[AttachmentRow]] = relationship(order_by="AttachmentRow.id")


class AttachmentRow(Base):
    """What an attachment was; its bytes stay in the raw mail."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id"), index=True)
    filename: Mapped[str] = mapped_column(String(512))
    declared_type: Mapped[str] = mapped_column(String(255))
    sniffed_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    passed_on: Mapped[bool] = mapped_column(Boolean, default=True)


class EventRow(Base):
    """One entry of the timeline: who did what, when, from what to what, why."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")

    ticket: Mapped[TicketRow] = relationship(back_populates="events")


class OutboxRow(Base):
    """A mail to send, rendered to its final bytes when it was queued."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    mail_from: Mapped[str] = mapped_column(String(320))
    rcpt_tos: Mapped[list[str]] = mapped_column(JSON)
    first_rcpt: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued, sending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The sender process holding a 'sending' row (host:pid:token), and each
    # recipient's last answer ("sent" or the relay's words): migration 0007.
    lease_owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    rcpt_results: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    # The VERP token of its return path (bounce+<token>@domain): a bounce names
    # the row it is about (migration 0009; None: queued before it, or no VERP).
    verp_token: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True, index=True)
    # Which mails leave first (store.outbox.lane_of): 0 the citizen's, 1 the
    # team's; ix_outbox_claim serves the claim in that order (migration 0013).
    lane: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_claim", "status", "lane", "next_attempt_at", "id"),
        Index("ix_outbox_rate", "first_rcpt", "kind", "created_at"),
        # A +tag family's rate (migration 0015): the hour's rows of one kind, not the table.
        Index("ix_outbox_recent_kind", "kind", "created_at"),
    )

    if TYPE_CHECKING:
        raw: bytes  # read from outbox_raw (below); not a column of this table


class OutboxRawRow(Base):
    """A queued mail's bytes, beside its outbox row, by its Message-ID (the
    row's id is not known when the insert is deferred to the commit; the
    Message-ID is, and unique): written once, never rewritten.  In the
    outbox row itself, the sender's claim and its settle each rewrote them
    on SQLite (an updated row is written whole, overflow pages and all):
    a team notice carrying a citizen's scan went to the WAL three times.
    ``OutboxRow.raw`` reads them; ``store.outbox.add`` writes both."""

    __tablename__ = "outbox_raw"

    message_id: Mapped[str] = mapped_column(String(998), ForeignKey("outbox.message_id"), primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


# Loaded when read (deferred): a ticket's page lists its mails' states, not their
# bytes; the sender's claim reads them with the rows (store.outbox.claim).
OutboxRow.raw = column_property(  # type: ignore[misc]
    select(OutboxRawRow.raw).where(OutboxRawRow.message_id == OutboxRow.message_id).correlate_except(OutboxRawRow)
    .scalar_subquery(), deferred=True)


class ThreadRefRow(Base):
    """A Message-ID we sent or received, and the ticket it belongs to."""

    __tablename__ = "thread_ref"

    message_id: Mapped[str] = mapped_column(String(998), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    ours: Mapped[bool] = mapped_column(Boolean, default=False)


class TicketFieldRow(Base):
    """A contact field read from the requester's mail (``cpf``, ``uf``...), as written."""

    __tablename__ = "ticket_field"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    valid: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ImapStateRow(Base):
    """Where an IMAP poller stands in one folder: UIDVALIDITY and the last
    UID it acknowledged (moved or flagged) after the mail was committed."""

    __tablename__ = "imap_state"

    mailbox: Mapped[str] = mapped_column(String(320), primary_key=True)
    folder: Mapped[str] = mapped_column(String(512), primary_key=True)
    account: Mapped[str] = mapped_column(String(512))  # user@host:port the UIDs belong to
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CounterRow(Base):
    """How many times something happened for one key in one window of time
    (``forged:<address>`` per hour, ``postmaster`` per hour): caps that must
    hold across processes and restarts, read and bumped in one statement."""

    __tablename__ = "counter"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class BouncingAddressRow(Base):
    """An address a delivery report said is dead (a hard bounce): reminders
    and automatic closing notices are no longer sent to it (migration 0009).
    ``store.bounces.clear`` unmarks it."""

    __tablename__ = "bouncing_address"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    failed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16), default="")  # RFC 3463 "5.1.1"
    reason: Mapped[str] = mapped_column(String(32), default="")  # mail.dsn.Reason value
    diagnostic: Mapped[str] = mapped_column(Text, default="")
    outbox_id: Mapped[int | None] = mapped_column(Id, nullable=True)  # the mail that bounced
    bounces: Mapped[int] = mapped_column(Integer, default=1)


class DigestSentRow(Base):
    """The last day whose daily digest was queued for a mailbox, as
    ``YYYY-MM-DD`` in the mailbox's zone (migration 0012): set in the
    transaction that queues it, so a restart or a second node never sends
    that day's digest again (store.digest.claim_day)."""

    __tablename__ = "digest_sent"

    mailbox: Mapped[str] = mapped_column(String(320), primary_key=True)
    day: Mapped[str] = mapped_column(String(10))
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TeamSessionRow(Base):
    """A login to the read-only team page (migration 0014, ``gateway.web.team``).

    The cookie holds a random token; the row holds only its SHA-256, so a
    copy of the database opens no session.  Logout deletes the row: the old
    cookie, replayed, finds nothing."""

    __tablename__ = "team_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    login: Mapped[str] = mapped_column(String(320))
    # credentials.Credentials.fingerprint of the login's line when the session
    # opened: a new password or a removed line ends the session.
    credential: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ProcessorRow(Base):
    """A running processing worker, ``host:pid`` (migration 0015): when it
    last looked for mail; and the pipes' marks, ``!starting`` and
    ``!not-ready`` (store.processors)."""

    __tablename__ = "processor"

    node: Mapped[str] = mapped_column(String(255), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime())


__all__ = [
    "AttachmentRow", "BouncingAddressRow", "CounterRow", "Base", "EventRow", "InboxRow", "MailKeyRow", "MessageRow", "OutboxRow",
    "ParticipantRow", "QuarantineRow", "SequenceRow", "TeamSessionRow", "ThreadRefRow", "TicketRow",
    "ImapStateRow", "TicketFieldRow", "DigestSentRow", "ProcessorRow",
]
