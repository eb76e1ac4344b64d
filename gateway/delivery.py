"""What a transport hands in (``Delivery``) and what it gets back (``Receipt``).

These are the only gateway types a transport sees: it turns its protocol
into a Delivery, calls ``Ingest.accept``, and turns the Receipt into the
protocol's answer (SMTP code, IMAP move, pipe exit status).  It never
sees a ticket.
"""

from __future__ import annotations

import enum
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Delivery:
    raw: bytes
    mail_from: str
    rcpt_tos: tuple[str, ...]
    via: str  # smtp, lmtp, pipe, imap, migrate
    received_at: datetime
    peer: str = ""
    authenticated_as: str | None = None
    # For transports that know the mailbox without an envelope (pipe
    # --mailbox, an IMAP account): used when no recipient names one.
    mailbox_hint: str | None = None
    meta: dict[str, str] = field(default_factory=dict)


class ReceiptStatus(enum.Enum):
    ACCEPTED = "accepted"  # durably stored; the peer may forget the mail
    TEMPFAIL = "tempfail"  # not stored; the peer must try again later


@dataclass(frozen=True)
class Receipt:
    status: ReceiptStatus
    inbox_id: int | None = None
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return self.status is ReceiptStatus.ACCEPTED


class Ingest(Protocol):
    """The one door transports call."""

    def accept(self, delivery: Delivery) -> Receipt:
        """Store the mail durably; return only after the commit."""
        ...

    def submit(self, delivery: Delivery) -> Future[Receipt]:
        """Like ``accept`` but without blocking: the future resolves after the commit."""
        ...

    async def stored(self, delivery: Delivery) -> Receipt:
        """Like ``submit``, awaited on an event loop: the commit's receipts
        reach the loop together, one wake-up per group of mails."""
        ...

    def hold(self, delivery: Delivery, *, step: str, reason: str) -> Receipt:
        """Store the mail durably straight into quarantine, with the transport's reason
        (e.g. an IMAP mail too big to fetch, kept as a placeholder naming where it is)."""
        ...
