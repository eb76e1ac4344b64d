"""The digest step: each mailbox's daily digest, sent by the running gateway.

The scheduler wakes it every minute; each mailbox with a ``digest`` time
gets its day's digest the first time it is woken on a business day at or
after that time (services.digest).  Whether a day's digest went out is in
the database, not in this process: a restart, or a second node with the
``schedule`` role, finds the day claimed and sends nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from gateway.clock import Clock
from gateway.services.digest import Digests
from gateway.store.db import Database

log = logging.getLogger("gateway.digest")


class DigestStep:
    def __init__(self, db: Database, digests: Digests, clock: Clock) -> None:
        self.db, self.digests, self.clock = db, digests, clock

    @property
    def enabled(self) -> bool:
        return any(mailbox.digest for mailbox in self.digests.settings.mailboxes)

    def run_once(self, now: datetime | None = None) -> int:
        """Queue the digests that are due; how many mails were queued.
        A failing mailbox is logged and tried again at the next wake-up
        (its day was not claimed: the transaction rolled back)."""
        now = now or self.clock.now()
        queued = 0
        for mailbox in self.digests.settings.mailboxes:
            if self.digests.due_day(mailbox, now) is None:
                continue
            try:
                with self.db.transaction() as tx:
                    mails = self.digests.send_due(tx, mailbox, now)
            except Exception:
                log.exception("digest of %s failed; trying again at the next wake-up", mailbox.address)
                continue
            if mails:
                log.info("digest of %s queued: %d mail(s)", mailbox.address, len(mails),
                         extra={"mailbox": mailbox.address, "mails": len(mails)})
            queued += len(mails)
        return queued
