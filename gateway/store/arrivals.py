"""When each mailbox last received a mail, read from the inbox for ``/healthz``.

A mailbox that stops receiving (an MX record changed, the MTA in front
queueing for ever, an IMAP password expired) makes no error of its own:
only the silence shows it (PITFALLS 10).  The inbox has no mailbox column
and no index by recipient, so no single query answers "the last mail to
X".  What its primary key does serve is a walk by id, and ids grow with
arrival.  :class:`LastArrivals` walks back from the newest row once, until
it has met every watched mailbox (or the table's start), and afterwards
reads only the rows from a little behind its previous look on (a
transaction on PostgreSQL may commit a lower id after a higher one was
seen): a scrape costs those rows, not the inbox.

Counted are the mails that came from outside: SMTP, LMTP, the MTA's pipe
and IMAP.  A migration's rows (``via = "migrate"``, stamped with the time
of the import) and an analyst's submission (which does not pass through
the MX) say nothing about whether the public can reach the mailbox.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.mail.addresses import split_token
from gateway.store.models import InboxRow

#: How inbox rows of mail from outside came in (not "migrate", "submission", "explain").
ARRIVING_VIA: Final = ("smtp", "lmtp", "pipe", "imap")
#: Rows read per query while walking.
_BATCH: Final = 1000
#: Batches the first look walks back at most (50,000 arrivals).
_WALK_BATCHES: Final = 50
#: Ids re-read behind the newest one seen at each look: on PostgreSQL a
#: transaction may commit a lower id after a higher one was visible.
_OVERLAP: Final = 1000


class LastArrivals:
    """The latest ``received_at`` of mail to each of ``addresses``, kept in
    memory between looks (one per admin listener; thread-safe, as scrapes
    and health checks run in a thread pool)."""

    def __init__(self, addresses: Iterable[str]) -> None:
        self.addresses = frozenset(address.lower() for address in addresses)
        self._last: dict[str, datetime] = {}
        self._seen_to: int | None = None  # the highest inbox id looked at; None: no look yet
        self._lock = threading.Lock()

    def read(self, tx: Session) -> dict[str, datetime]:
        """Each watched address's last arrival; an address never written to is absent."""
        if not self.addresses:
            return {}
        with self._lock:
            if self._seen_to is None:
                self._walk_back(tx)
            else:
                self._read_since(tx, max(0, self._seen_to - _OVERLAP))
            return dict(self._last)

    def _walk_back(self, tx: Session) -> None:
        """Back from the newest row until every watched mailbox is met, or
        ``_WALK_BATCHES`` batches: a mailbox not among the newest
        ``_WALK_BATCHES * _BATCH`` arrivals (one given ``max_silence`` that
        never had mail) then counts as silent since the listener started,
        and a first scrape of a large inbox does not read all of it."""
        below: int | None = None
        for _ in range(_WALK_BATCHES):
            rows = _rows(tx, below=below)
            if below is None:
                self._seen_to = rows[0][0] if rows else 0
            for row in rows:
                self._note(*row)
            if len(rows) < _BATCH or self.addresses <= self._last.keys():
                return
            below = rows[-1][0]

    def _read_since(self, tx: Session, after: int) -> None:
        while True:
            rows = _rows(tx, above=after)
            for row in rows:
                self._note(*row)
            if rows:
                after = rows[-1][0]
                self._seen_to = max(self._seen_to or 0, after)
            if len(rows) < _BATCH:
                return

    def _note(self, _id: int, at: datetime, hint: str | None, rcpt_tos: list[str] | None) -> None:
        for address in {hint or "", *(rcpt_tos or ())}:
            mailbox = split_token(address)[0] if address else ""
            if mailbox in self.addresses and (mailbox not in self._last or at > self._last[mailbox]):
                self._last[mailbox] = at


def _rows(tx: Session, *, below: int | None = None, above: int | None = None) -> list[tuple[Any, ...]]:
    """A batch of (id, received_at, mailbox_hint, rcpt_tos): newest first
    under ``below``, or oldest first over ``above``, by the primary key."""
    query = select(InboxRow.id, InboxRow.received_at, InboxRow.mailbox_hint, InboxRow.rcpt_tos).where(
        InboxRow.via.in_(ARRIVING_VIA))
    if above is not None:
        query = query.where(InboxRow.id > above).order_by(InboxRow.id)
    else:
        query = query.order_by(InboxRow.id.desc())
        if below is not None:
            query = query.where(InboxRow.id < below)
    return [tuple(row) for row in tx.execute(query.limit(_BATCH))]
