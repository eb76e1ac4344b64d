"""The worker that empties the outbox: claim, deliver, back off.

It knows no templates: every row already holds the final bytes.  Rows are
claimed with a lease (their next attempt is pushed forward) in one short
transaction, delivered with no transaction open, and their fate written in
another: a slow relay never holds the database lock the listener needs.
A crash between delivery and the write means the mail may go out twice;
never that it is lost.  4xx and connection errors are retried with
exponential backoff; 5xx, or too many attempts, mark the row failed and
write an event on the ticket so an analyst sees the citizen never got it.

Every row is on its own: whatever one row raises, in delivery or while its
fate is written, the rest of the batch is still delivered and settled.  A
single poisoned address once raised out of the loop, left every claimed
row ``sending``, and after the lease came first again, for ever.

The connection itself is ``outbound.delivery``'s (a ``Deliverer``): this
worker only claims, hands over and settles.

Each attempt is logged once (``delivery``: outbox id, the recipients'
domains, never their addresses, result sent/deferred/failed, SMTP code,
attempt, ms) and counted in ``gateway_deliveries_total{result}``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from gateway.clock import Clock
from gateway.config import OutboundConfig
from gateway.errors import DeliveryError, PermanentDeliveryError
from gateway.metrics import Metrics
from gateway.outbound.delivery import Deliverer
from gateway.store import outbox, tickets
from gateway.store.db import Database
from gateway.tickets.kinds import EventKind

log = logging.getLogger("gateway.sender")

_LEASE: Final = timedelta(minutes=10)
#: Characters kept out of the reasons we store: PostgreSQL refuses NUL in
#: text, and a line break would forge lines in the timeline and the logs.
_UNPRINTABLE: Final = re.compile(r"[\x00-\x1f\x7f]")
#: An address in a relay's words, for the log: only its domain is kept.
_ADDRESS: Final = re.compile(r"[^\s<>()\[\]'\",;:@]+@(?=[A-Za-z0-9\[])")


@dataclass(frozen=True)
class _Claimed:
    id: int
    kind: str
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    attempts: int


class Sender:
    def __init__(self, db: Database, config: OutboundConfig, deliverer: Deliverer, clock: Clock, *,
                 metrics: Metrics | None = None) -> None:
        self.db, self.config, self.deliverer, self.clock = db, config, deliverer, clock
        self.metrics = metrics or Metrics()
        self.wake = threading.Event()

    def run_once(self, limit: int = 1000) -> int:
        """Deliver what is due now; returns how many mails were tried."""
        tried = 0
        while tried < limit:
            claimed = self._claim(min(50, limit - tried))
            if not claimed:
                break
            for mail in claimed:
                started = time.perf_counter()
                error = self._try(mail)
                seconds = time.perf_counter() - started
                self._settle_alone(mail, error)
                self._attempted(mail, error, seconds)
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
        """Deliver one row; what goes wrong is this row's alone.

        A DeliveryError says itself whether to retry.  Anything else (a NUL
        in an address, UnicodeEncodeError, a bug in a library) would happen
        again on every attempt, so the row fails for good, with the reason.
        """
        try:
            self.deliverer.deliver(mail.mail_from, mail.rcpt_tos, mail.raw)
        except DeliveryError as error:
            return error
        except Exception as error:  # noqa: BLE001 - one row must not stop the others
            log.exception("outbox #%d (%s): delivery raised %s", mail.id, mail.kind, type(error).__name__)
            return PermanentDeliveryError(f"cannot be delivered: {type(error).__name__}: {error}")
        return None

    def _attempted(self, mail: _Claimed, error: DeliveryError | None, seconds: float) -> None:
        """The ``delivery`` log line and counter of one attempt."""
        result = "sent" if error is None else "failed" if self._final(mail, error) else "deferred"
        self.metrics.deliveries.labels(result).inc()
        code = _smtp_code(error) if error is not None else 250 if self.config.mode == "smtp" else None
        domains = ",".join(sorted({rcpt.rpartition("@")[2].lower() for rcpt in mail.rcpt_tos}))
        ms = round(seconds * 1000, 1)
        level, after = logging.INFO, ""
        if result == "failed":
            level, after = logging.ERROR, f" for good: {_ADDRESS.sub('…@', str(error))}"
        elif result == "deferred":
            level, after = logging.WARNING, f", retry in {self._delay(mail):.0f}s: {_ADDRESS.sub('…@', str(error))}"
        log.log(level, "delivery outbox #%d (%s to %s) attempt %d %s%s, %.1f ms%s", mail.id, mail.kind, domains,
                mail.attempts, result, f" (SMTP {code})" if code else "", ms, after,
                extra={"event": "delivery", "outbox_id": mail.id, "kind": mail.kind, "to_domain": domains,
                       "result": result, "smtp_code": code, "attempt": mail.attempts, "ms": ms})

    def _settle_alone(self, mail: _Claimed, error: DeliveryError | None) -> None:
        """Write the row's fate; if that fails, write the bare status, and if
        even that fails, leave this row to its lease and go on with the batch."""
        try:
            self._settle(mail, error)
            return
        except Exception:  # noqa: BLE001 - the other rows of the batch still get settled
            log.exception("outbox #%d (%s): recording the delivery result failed; recording the status only",
                          mail.id, mail.kind)
        try:
            with self.db.transaction() as tx:
                row = outbox.get(tx, mail.id)
                if row is not None:
                    row.status = "sent" if error is None else "failed" if self._final(mail, error) else "queued"
                    row.last_error = None if error is None else _printable(f"{error} (not written on the ticket)")
        except Exception:  # noqa: BLE001
            log.exception("outbox #%d (%s): status not recorded; it is tried again when its lease ends",
                          mail.id, mail.kind)

    def _settle(self, mail: _Claimed, error: DeliveryError | None) -> None:
        now = self.clock.now()
        with self.db.transaction() as tx:
            row = outbox.get(tx, mail.id)
            if row is None:
                return
            if error is None:
                row.status, row.sent_at, row.last_error = "sent", now, None
                return
            row.status, row.last_error = "queued", _printable(str(error))
            if self._final(mail, error):
                row.status = "failed"
                ticket = tickets.by_id(tx, row.ticket_id) if row.ticket_id else None
                if ticket is not None:
                    tickets.add_event(tx, ticket, at=now, actor="gateway", kind=EventKind.DELIVERY_FAILED.value,
                                      note=_printable(f"{mail.kind} to {', '.join(mail.rcpt_tos)} "
                                                      f"not delivered: {error}"))
                return
            row.next_attempt_at = now + timedelta(seconds=self._delay(mail))

    def _delay(self, mail: _Claimed) -> float:
        """Seconds until the next attempt after a temporary failure: doubling, up to ``retry_max``."""
        return float(min(self.config.retry_initial * 2 ** (mail.attempts - 1), self.config.retry_max))

    def _final(self, mail: _Claimed, error: DeliveryError) -> bool:
        """Whether this failure ends the row's tries (a queued row is retried)."""
        return isinstance(error, PermanentDeliveryError) or mail.attempts >= self.config.max_attempts

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


def _smtp_code(error: DeliveryError) -> int | None:
    """The relay's reply code behind ``error``, when it answered one."""
    cause = error.__cause__
    code = getattr(cause, "code", None)
    if code is None and getattr(cause, "recipients", None):  # every recipient refused: the first one's
        code = getattr(cause.recipients[0], "code", None)  # type: ignore[union-attr]
    return code if isinstance(code, int) else None


def _printable(text: str, limit: int = 2000) -> str:
    """``text`` with control characters written as escapes (``\\x00``), cut at ``limit``."""
    return _UNPRINTABLE.sub(lambda found: f"\\x{ord(found.group()):02x}", text)[:limit]
