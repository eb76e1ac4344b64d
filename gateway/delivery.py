"""What a transport hands in (``Delivery``) and what it gets back (``Receipt``).

These are the only gateway types a transport sees: it turns its protocol
into a Delivery, calls ``Ingest.accept``, and turns the Receipt into the
protocol's answer (SMTP code, IMAP move, pipe exit status).  It never
sees a ticket.  Also here, for every writer of an accepted mail: its inbox
row (``inbox_row``, ``ACCEPTED_COLUMNS``, ``quick_message_id``) and its
``accepted`` log line.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

_HEADER_END: Final = re.compile(rb"\r?\n\r?\n")
# No control character either: PostgreSQL's text refuses NUL, and a mail
# carrying one in its Message-ID failed its whole commit group (451 to
# every mail in it, on every retry of it).
_MESSAGE_ID: Final = re.compile(rb"message-id:[ \t]*(?:\r?\n[ \t]+)?<?([^\s<>\x00-\x1f\x7f]{1,900})>?",
                                re.IGNORECASE)


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


class Accepts(Protocol):
    """What the MTA pipe needs of the door: one mail stored, then answered."""

    def accept(self, delivery: Delivery) -> Receipt:
        """Store the mail durably; return only after the commit."""
        ...


class Ingest(Accepts, Protocol):
    """The one door transports call."""

    def submit(self, delivery: Delivery) -> Future[Receipt]:
        """Like ``accept`` but without blocking: the future resolves after the commit."""
        ...

    async def stored(self, delivery: Delivery) -> Receipt:
        """Like ``submit``, awaited on an event loop: the commit's receipts
        reach the loop together, one wake-up per group of mails."""
        ...

    def hold(self, delivery: Delivery, *, step: str, reason: str, key: str | None = None) -> Receipt:
        """Store the mail durably straight into quarantine, with the transport's reason
        (e.g. an IMAP mail too big to fetch, kept as a placeholder naming where it is).
        ``key`` names what is held: held once already, nothing more is stored."""
        ...

    def count_senders(self, open_sessions: Callable[[], int]) -> None:
        """A listener's count of the peers in a session with it now: the
        group commit waits for company only while one of them may still
        send, not when every one waits for this commit."""
        ...


#: What acceptance stores of a mail (``inbox_row``'s keys, in order): the
#: inbox row's columns and ``raw``, the bytes, which go beside it to
#: ``inbox_raw``.  The row's other columns stay NULL until processing,
#: ``status`` is ``accepted``.
ACCEPTED_COLUMNS: Final = ("received_at", "via", "peer", "mail_from", "rcpt_tos", "authenticated_as",
                           "mailbox_hint", "sha256", "message_id", "size", "raw")
#: The inbox row's own: ``ACCEPTED_COLUMNS`` but the bytes.
ENVELOPE_COLUMNS: Final = tuple(column for column in ACCEPTED_COLUMNS if column != "raw")


def inbox_row(delivery: Delivery) -> dict[str, object]:
    """What acceptance stores of a mail: its envelope, bytes and a few facts
    read without parsing it.  Every writer of an accepted mail builds its row
    here (``Ingest``'s group-commit writer, the pipe's ``store.direct``)."""
    return {
        "received_at": delivery.received_at,
        "via": delivery.via,
        "peer": delivery.peer[:255],
        "mail_from": delivery.mail_from.replace("\x00", "")[:512],  # PostgreSQL's text refuses NUL
        "rcpt_tos": [rcpt.replace("\x00", "") for rcpt in delivery.rcpt_tos],
        "authenticated_as": _no_nul(delivery.authenticated_as),
        "mailbox_hint": _no_nul(delivery.mailbox_hint),
        "sha256": hashlib.sha256(delivery.raw).hexdigest(),
        "message_id": quick_message_id(delivery.raw),
        "size": len(delivery.raw),
        "raw": delivery.raw,
    }


def _no_nul(text: str | None) -> str | None:
    """A client's text for a text column: PostgreSQL refuses NUL in text."""
    return None if text is None else text.replace("\x00", "")


#: The ``accepted`` line; its peer and Message-ID (arguments 2 and 3) are the
#: only ones that may hold a citizen's data (``logs`` masks those alone).
ACCEPTED_LINE: Final = "accepted #%d via %s from %s: Message-ID %s, %d bytes, %.1f ms"
# Its counterpart once processed (``ingest``); ``logs`` masks both by their arguments.
PROCESSED_LINE: Final = "processed #%d (Message-ID %s) for %s: %s%s, %.1f ms"


def log_accepted(log: logging.Logger, delivery: Delivery, row: dict[str, object], inbox_id: int,
                 seconds: float) -> None:
    """The ``accepted`` line of one stored mail, whichever writer stored it."""
    ms = round(seconds * 1000, 1)
    log.info(ACCEPTED_LINE, inbox_id, delivery.via, delivery.peer or "-", row["message_id"] or "-", row["size"], ms,
             extra={"event": "accepted", "transport": delivery.via, "peer": delivery.peer,
                    "inbox_id": inbox_id, "message_id": row["message_id"], "size": row["size"], "ms": ms})


def quick_message_id(raw: bytes) -> str | None:
    """The Message-ID from the header block, without a full parse (for listing).

    A plain search of the lower-cased header block finds the field; the
    regular expression then reads it from there (searching the whole block
    case-insensitively, line by line, was a noticeable cost on the writer
    thread, which every accepted mail goes through)."""
    end = _HEADER_END.search(raw, 0, 262144)
    head = raw[:end.start() if end else 262144].lower()
    at = head.find(b"message-id:")
    while at >= 0:
        if at == 0 or head[at - 1] == 10:  # at a line's start; not "X-Original-Message-ID:" or inside a value
            match = _MESSAGE_ID.match(raw, at, len(head))
            if match:
                return match.group(1).decode("ascii", "replace")
        at = head.find(b"message-id:", at + 1)  # an empty or broken one: a later field may do
    return None
