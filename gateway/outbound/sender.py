"""The worker that empties the outbox: claim, deliver, back off.

It knows no templates: every row already holds the final bytes.  Rows are
claimed with a lease (their next attempt is pushed forward) in one short
transaction, delivered with no transaction open, and their fate written in
another: a slow relay never holds the database lock the listener needs.
A crash between delivery and the write means the mail may go out twice;
never that it is lost.  4xx and connection errors are retried with
exponential backoff; 5xx, or too many attempts, mark the row failed and
write an event on the ticket so an analyst sees the citizen never got it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from gateway.clock import Clock
from gateway.config import OutboundConfig
from gateway.errors import DeliveryError, PermanentDeliveryError
from gateway.outbound.delivery import Deliverer
from gateway.store import outbox, tickets
from gateway.store.db import Database

log = logging.getLogger("gateway.sender")

_LEASE: Final = timedelta(minutes=10)


@dataclass(frozen=True)
class _Claimed:
    id: int
    kind: str
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    attempts: int


class Sender:
    def __init__(self, db: Database, config: OutboundConfig, deliverer: Deliverer, clock: Clock) -> None:
        self.db, self.config, self.deliverer, self.clock = db, config, deliverer, clock
        self.wake = threading.Event()

    def run_once(self, limit: int = 1000) -> int:
        """Deliver what is due now; returns how many mails were tried."""
        tried = 0
        while tried < limit:
            claimed = self._claim(min(50, limit - tried))
            if not claimed:
                break
            for mail in claimed:
                self._settle(mail, self._try(mail))
            tried += len(claimed)
        return tried

    def _claim(self, limit: int) -> list[_Claimed]:
        now = self.clock.now()
        with self.db.transaction() as tx:
            rows = outbox.claim_due(tx, now, limit, skip_locked=self.db.is_postgres)
            for row in rows:
                row.status, row.next_attempt_at = "sending", now + _LEASE
                row.attempts += 1
            return [_Claimed(r.id, r.kind, r.mail_from, list(r.rcpt_tos), r.raw, r.attempts) for r in rows]

    def _try(self, mail: _Claimed) -> DeliveryError | None:
        try:
            self.deliverer.deliver(mail.mail_from, mail.rcpt_tos, mail.raw)
        except DeliveryError as error:
            return error
        return None

    def _settle(self, mail: _Claimed, error: DeliveryError | None) -> None:
        now = self.clock.now()
        with self.db.transaction() as tx:
            row = outbox.get(tx, mail.id)
            if row is None:
                return
            if error is None:
                row.status, row.sent_at, row.last_error = "sent", now, None
                return
            row.status, row.last_error = "queued", str(error)[:2000]
            if isinstance(error, PermanentDeliveryError) or mail.attempts >= self.config.max_attempts:
                row.status = "failed"
                log.error("outbox #%d (%s to %s) failed for good: %s", mail.id, mail.kind, row.first_rcpt, error)
                ticket = tickets.by_id(tx, row.ticket_id) if row.ticket_id else None
                if ticket is not None:
                    tickets.add_event(tx, ticket, at=now, actor="gateway", kind="delivery_failed",
                                      note=f"{mail.kind} to {', '.join(mail.rcpt_tos)} not delivered: {error}")
                return
            delay = min(self.config.retry_initial * 2 ** (mail.attempts - 1), self.config.retry_max)
            row.next_attempt_at = now + timedelta(seconds=delay)
            log.warning("outbox #%d (%s to %s) attempt %d failed, retry in %ss: %s",
                        mail.id, mail.kind, row.first_rcpt, mail.attempts, delay, error)

    def release_leases(self) -> int:
        """At start on SQLite (one node), mails a killed sender was delivering
        go back to the queue now instead of when their lease runs out."""
        with self.db.transaction() as tx:
            return outbox.release_leases(tx, self.clock.now())

    def loop(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set, waking on ``wake`` or the poll interval."""
        if self.db.is_sqlite:
            released = self.release_leases()
            if released:
                log.warning("%d mail(s) were being delivered when the gateway stopped; sending again", released)
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # the database went away: keep the worker alive
                log.exception("sender pass failed; trying again shortly")
            self.wake.wait(self.config.poll_interval)
            self.wake.clear()
