"""The worker that empties the outbox: claim, deliver, settle at once, back off.

It knows no templates: every row already holds the final bytes.  Rows are
claimed in one short transaction, delivered with no transaction open, and
each one's fate written as soon as its SMTP transaction ends: a slow relay
never holds the database lock the listener needs, and a crash re-sends at
most the one mail that was in flight.

A claimed row is ``sending`` under a short lease (``_LEASE``) held by this
process (``owner``: ``host:pid:token``), renewed by a heartbeat while a
batch is really in flight.  What the batch did not try is given back at
once when anything goes wrong (an error, a settle that could not be
written, SIGTERM).  A sender starting takes back straight away the rows of
a dead process of its host; a dead sender elsewhere loses its rows when
their lease runs out, a minute later, not ten.

A delivery whose result cannot be written (the database went away between
the relay's ``250`` and the write) is not delivered again: its result is
kept in memory and written first thing when the database answers, before
anything else is claimed.  4xx and connection errors are retried with
exponential backoff; 5xx, or a 4xx once the mail was queued
``give_up_after`` ago (5 days: RFC 5321 4.5.4.1) or had ``max_attempts``,
mark the row failed and write an event on the ticket so an analyst sees
the citizen never got it.
A relay that cannot be reached or refuses the session itself
(``RelayUnavailable``: a 421/554 greeting, EHLO and HELO, STARTTLS or AUTH refused, 530)
is no mail's failure: the pass ends, the mail in hand and the rest go back
uncharged, and ``loop`` waits longer each time.

Results are per recipient (``rcpt_results``): a relay that takes a team
notice for one address and refuses the other at ``RCPT`` leaves the first
delivered; only an address refused for now (4xx) is tried again, and the
ticket's event names only the addresses that were refused for good.

Every row is on its own: whatever one row raises in delivery (but a relay
unavailable to all of them), the rest of the batch is still delivered and
settled.  A single poisoned address once
raised out of the loop, left every claimed row ``sending``, and after the
lease came first again, for ever.

The connection itself is ``outbound.delivery``'s (a ``Deliverer``): this
worker only claims, hands over and settles.  The deliverer keeps one SMTP
session for the mails of a pass (every batch claimed until the queue is
empty), and the pass ends it: connect, EHLO and QUIT once per pass, not
once per mail.  Acknowledgements and other mails to citizens are claimed
before team notices (``outbox.claim``): under load the citizen gets
the protocol first, and the team's copy follows.

Each attempt is logged once (``delivery``: outbox id, the recipients'
domains, never their addresses, result sent/deferred/failed, SMTP code,
attempt, ms) and counted in ``gateway_deliveries_total{result}``.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final

from gateway.clock import Clock
from gateway.config import OutboundConfig
from gateway.errors import DeliveryError, PermanentDeliveryError, RelayUnavailable, StorageUnavailable
from gateway.metrics import Metrics
from gateway.outbound import compose
from gateway.outbound.delivery import Deliverer
from gateway.store import outbox, tickets
from gateway.store.db import Database
from gateway.store.faults import storage_fault
from gateway.tickets.kinds import EventKind

log = logging.getLogger("gateway.sender")

#: Attempts a mail gets before its age alone makes a refusal for now final:
#: 30 s, 1, 2, 4 and 8 minutes after the first (greylisting asks ~5).
_RETRIES_BEFORE_GIVING_UP: Final = 5

#: How long a claimed row stays this sender's without a heartbeat.
_LEASE: Final = timedelta(seconds=60)
_HEARTBEAT: Final = _LEASE.total_seconds() / 4
_BATCH: Final = 50
#: Mails tried in one pass of the loop; a full pass starts the next at once (issue 19: a send-only
#: node with a backlog waited poll_interval after every 1,000 mails: 236 mails/s against 339).
_PASS: Final = 1000
_MAX_PAUSE: Final = 30.0
#: Characters kept out of the reasons we store: PostgreSQL refuses NUL in
#: text, and a line break would forge lines in the timeline and the logs.
_UNPRINTABLE: Final = re.compile(r"[\x00-\x1f\x7f]")
#: An address in a relay's words, for the log: only its domain is kept.
_ADDRESS: Final = re.compile(r"[^\s<>()\[\]'\",;:@]+@(?=[A-Za-z0-9\[])")
_HOST: Final = socket.gethostname()
#: The tokens of the senders alive in this process: a lease of this pid with
#: another token is a previous life's (a container restarted as PID 1).
_LIVE_TOKENS: set[str] = set()

#: One attempt's result: each recipient tried, and its error (None: delivered).
Outcome = Mapping[str, DeliveryError | None]


@dataclass(frozen=True)
class _Claimed:
    id: int
    kind: str
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    attempts: int
    #: Each recipient's result so far ("sent", "failed: ...", "deferred: ...").
    results: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None  # when it was queued: a refusal for now is final past give_up_after
    #: Whether a refusal for now is final for this attempt, decided when it
    #: was made (a result owed to the database is written later).
    final: bool = False

    @property
    def pending(self) -> list[str]:
        """The recipients this attempt is for: not yet delivered, not refused for good."""
        return _pending(self.rcpt_tos, self.results)


class Sender:
    def __init__(self, db: Database, config: OutboundConfig, deliverer: Deliverer, clock: Clock, *,
                 metrics: Metrics | None = None) -> None:
        self.db, self.config, self.deliverer, self.clock = db, config, deliverer, clock
        self.metrics = metrics or Metrics()
        self.wake = threading.Event()
        token = uuid.uuid4().hex[:12]
        _LIVE_TOKENS.add(token)
        self.owner = f"{_HOST}:{os.getpid()}:{token}"
        self._took_back = False
        # Delivered (or refused) but not yet written: written before anything else is claimed.
        self._owed: list[tuple[_Claimed, Outcome]] = []
        # Claimed, not tried, and not yet given back (the database was away).
        self._owed_back: list[int] = []
        # Each mail's fate is one self-committing UPDATE on a connection kept for the pass.
        self._writes = db.autocommit()

    def run_once(self, limit: int = _PASS, stop: threading.Event | None = None) -> int:
        """Deliver what is due now (until ``stop`` is set); returns how many mails were tried.

        Raises StorageUnavailable, having delivered nothing more, while a
        result already obtained cannot be written."""
        if not self._took_back:
            self.take_back_dead_leases()
            self._took_back = True
        tried = 0
        try:
            self._pay_debts()  # may settle on self._writes: the finally gives its connection back
            while tried < limit and not (stop is not None and stop.is_set()):
                claimed = self._claim(min(_BATCH, limit - tried))
                if not claimed:
                    break
                with self._heartbeat():
                    tried += self._deliver(claimed, stop)
        finally:
            self._writes.close()
            self._hang_up()
        return tried

    def _hang_up(self) -> None:
        """End the relay session the pass kept open: the queue is empty (or
        the pass failed), and a relay should not hold an idle connection."""
        hang_up = getattr(self.deliverer, "hang_up", None)  # a Deliverer written before sessions has none
        if hang_up is None:
            return
        try:
            hang_up()
        except Exception as error:  # noqa: BLE001 - nothing is owed to a relay we are leaving
            log.warning("closing the relay session failed: %s: %s", type(error).__name__, error)

    def _deliver(self, claimed: list[_Claimed], stop: threading.Event | None) -> int:
        """Deliver and settle each row of a batch in turn; give back what was not tried."""
        done = 0
        try:
            for mail in claimed:
                if stop is not None and stop.is_set():
                    break
                started = time.perf_counter()
                mail = replace(mail, final=self._last_attempt(mail))
                outcome = self._try(mail)
                down = next((e for e in outcome.values() if isinstance(e, RelayUnavailable)), None)
                if down is not None:
                    # Not this mail's failure: it and the rest go back
                    # uncharged (the finally), and the pass ends; the loop
                    # waits longer each time.  One attempt per mail had
                    # failed a whole queue behind a relay that was down.
                    raise down
                done += 1
                self._attempted(mail, outcome, time.perf_counter() - started)
                if not self._settle_alone(mail, outcome):
                    self._owed.append((mail, outcome))
                    break  # the database is away: deliver nothing more that could not be recorded
        finally:
            self._give_back([mail.id for mail in claimed[done:]])
        return done

    def _claim(self, limit: int) -> list[_Claimed]:
        now = self.clock.now()
        with self.db.transaction() as tx:
            rows = outbox.claim(tx, now, limit, owner=self.owner, until=now + _LEASE)
        return [_Claimed(row_id, kind, mail_from, list(rcpt_tos), raw, attempts, dict(results or {}), created_at)
                for row_id, kind, mail_from, rcpt_tos, raw, attempts, results, created_at in rows]

    @contextmanager
    def _heartbeat(self) -> Iterator[None]:
        """Renew this sender's leases every ``_HEARTBEAT`` seconds while a batch is in flight."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(_HEARTBEAT):
                try:
                    with self.db.transaction() as tx:
                        outbox.renew_leases(tx, self.owner, self.clock.now() + _LEASE)
                except Exception as error:  # noqa: BLE001 - the lease then runs out; nothing is lost
                    log.warning("outbox leases of %s not renewed: %s: %s", self.owner, type(error).__name__, error)

        thread = threading.Thread(target=beat, name="sender heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=60)

    def _try(self, mail: _Claimed) -> Outcome:
        """Deliver one row to its pending recipients; what goes wrong is this row's
        alone, but RelayUnavailable, which ``_deliver`` stops the pass for.

        A DeliveryError says itself whether to retry.  Anything else (a NUL
        in an address, UnicodeEncodeError, a bug in a library) would happen
        again on every attempt, so the row fails for good, with the reason.
        """
        recipients = mail.pending
        if not recipients:  # every one settled already (a result written just before a crash)
            return {}
        try:
            refused = self.deliverer.deliver(mail.mail_from, recipients, compose.sendable(mail.raw)) or {}
        except DeliveryError as error:
            return {rcpt: error for rcpt in recipients}
        except Exception as error:  # noqa: BLE001 - one row must not stop the others
            log.exception("outbox #%d (%s): delivery raised %s", mail.id, mail.kind, type(error).__name__)
            failed = PermanentDeliveryError(f"cannot be delivered: {type(error).__name__}: {error}")
            return {rcpt: failed for rcpt in recipients}
        return {rcpt: refused.get(rcpt) for rcpt in recipients}

    def _attempted(self, mail: _Claimed, outcome: Outcome, seconds: float) -> None:
        """The ``delivery`` log line and counter of one attempt."""
        errors = [error for error in outcome.values() if error is not None]
        final = mail.final
        retried = [e for e in errors if not isinstance(e, PermanentDeliveryError) and not final]
        result = "sent" if not errors else "deferred" if retried else "failed"
        self.metrics.deliveries.labels(result).inc()
        error = (retried or errors or [None])[0]
        code = _smtp_code(error) if error is not None else 250 if self.config.mode == "smtp" else None
        domains = ",".join(sorted({rcpt.rpartition("@")[2].lower() for rcpt in outcome}))
        ms = round(seconds * 1000, 1)
        level, after = logging.INFO, ""
        partly = f" ({len(outcome) - len(errors)} of {len(outcome)} recipients took it)" \
            if errors and len(errors) < len(outcome) else ""
        if result == "failed":
            level, after = logging.ERROR, f" for good{partly}: {_ADDRESS.sub('…@', str(error))}"
        elif result == "deferred":
            level, after = logging.WARNING, (f", retry in {self._delay(mail):.0f}s{partly}: "
                                             f"{_ADDRESS.sub('…@', str(error))}")
        log.log(level, "delivery outbox #%d (%s to %s) attempt %d %s%s, %.1f ms%s", mail.id, mail.kind, domains,
                mail.attempts, result, f" (SMTP {code})" if code else "", ms, after,
                extra={"event": "delivery", "outbox_id": mail.id, "kind": mail.kind, "to_domain": domains,
                       "result": result, "smtp_code": code, "attempt": mail.attempts, "ms": ms})

    def _settle_alone(self, mail: _Claimed, outcome: Outcome) -> bool:
        """Write the row's fate; if that fails, write the bare status.  False
        if nothing could be written (the caller keeps the result and retries)."""
        try:
            self._settle(mail, outcome)
            return True
        except Exception as error:  # noqa: BLE001 - the other rows of the batch still get settled
            self._storage_error(error, mail)
            log.exception("outbox #%d (%s): recording the delivery result failed; recording the status only",
                          mail.id, mail.kind)
        try:
            with self.db.transaction() as tx:
                row = outbox.get(tx, mail.id)
                if row is not None:
                    status, results, _failed = self._fate(mail, outcome)
                    row.status, row.rcpt_results, row.lease_owner = status, results, None
                    errors = _errors(outcome)
                    row.last_error = _printable(f"{errors} (not written on the ticket)") if errors else None
                    if status == "queued":
                        row.next_attempt_at = self.clock.now() + timedelta(seconds=self._delay(mail))
            return True
        except Exception as error:  # noqa: BLE001
            self._storage_error(error, mail)
            log.error("outbox #%d (%s): its delivery result is not recorded (%s: %s); kept to be written when "
                      "the database answers, and nothing more is sent until then", mail.id, mail.kind,
                      type(error).__name__, error)
            return False

    def _settle(self, mail: _Claimed, outcome: Outcome) -> None:
        now = self.clock.now()
        status, results, failed = self._fate(mail, outcome)
        if not failed and status in ("sent", "queued"):  # nothing to write on the ticket: one UPDATE
            errors = _errors(outcome)
            outbox.settle(self._writes, mail.id, status=status, results=results,
                          last_error=_printable(errors) if errors else None,
                          at=now if status == "sent" else now + timedelta(seconds=self._delay(mail)))
            return
        with self.db.transaction() as tx:
            row = outbox.get(tx, mail.id)
            if row is None or row.status == "failed":  # given up by an erasure meanwhile (store.outbox._settled)
                return
            status, results, failed = self._fate(mail, outcome)
            row.status, row.rcpt_results, row.lease_owner = status, results, None
            errors = _errors(outcome)
            row.last_error = _printable(errors) if errors else None
            if status == "sent":
                row.sent_at = now
            elif status == "queued":
                row.next_attempt_at = now + timedelta(seconds=self._delay(mail))
            if failed and row.ticket_id:
                ticket = tickets.by_id(tx, row.ticket_id)
                if ticket is not None:  # only the addresses refused for good: the others got it, or will
                    tickets.add_event(tx, ticket, at=now, actor="gateway", kind=EventKind.DELIVERY_FAILED.value,
                                      note=_printable(f"{mail.kind} to {', '.join(failed)} not delivered: "
                                                      f"{_errors({r: outcome[r] for r in failed})}"))

    def _last_attempt(self, mail: _Claimed) -> bool:
        """Whether a refusal for now (4xx) in this attempt is final: after
        ``max_attempts``, or once the mail was queued ``give_up_after`` ago
        (RFC 5321 4.5.4.1: "at least 4-5 days"; ten attempts at most an hour
        apart gave up on a citizen whose mailbox was full for three hours)
        and was tried a few times (``_RETRIES_BEFORE_GIVING_UP``: a mail
        that waited days for a relay that was down still gets past
        greylisting, which refuses every first attempt)."""
        if mail.attempts >= self.config.max_attempts:
            return True
        return (mail.created_at is not None and mail.attempts > _RETRIES_BEFORE_GIVING_UP
                and (self.clock.now() - mail.created_at).total_seconds() >= self.config.give_up_after)

    def _fate(self, mail: _Claimed, outcome: Outcome) -> tuple[str, dict[str, str], list[str]]:
        """The row's status after this attempt, every recipient's result, and
        the recipients this attempt refused for good."""
        results, failed = dict(mail.results), []
        final = mail.final
        for rcpt, error in outcome.items():
            if error is None:
                results[rcpt] = "sent"
            elif isinstance(error, PermanentDeliveryError) or final:
                results[rcpt] = _printable(f"failed: {error}", 500)
                failed.append(rcpt)
            else:
                results[rcpt] = _printable(f"deferred: {error}", 500)
        if _pending(mail.rcpt_tos, results):
            return "queued", results, failed
        return ("sent" if "sent" in results.values() else "failed"), results, failed

    def _give_back(self, outbox_ids: list[int]) -> None:
        """Rows claimed and not tried go back to the queue now (or when the database answers)."""
        if not outbox_ids:
            return
        try:
            with self.db.transaction() as tx:
                outbox.give_back(tx, outbox_ids, self.owner, self.clock.now())
        except Exception as error:  # noqa: BLE001 - kept and given back on the next pass
            self._storage_error(error, None)
            log.warning("%d claimed outbox row(s) not given back (%s: %s); trying again on the next pass",
                        len(outbox_ids), type(error).__name__, error)
            self._owed_back.extend(outbox_ids)

    def _pay_debts(self) -> None:
        """Write the results kept while the database was away, and give back
        the rows kept; raise StorageUnavailable while it still cannot be done."""
        while self._owed:
            mail, outcome = self._owed[0]
            if not self._settle_alone(mail, outcome):
                raise StorageUnavailable(f"{len(self._owed)} delivery result(s) wait for the database")
            self._owed.pop(0)
            log.info("outbox #%d (%s): its delivery result is recorded now", mail.id, mail.kind)
        if self._owed_back:
            with self.db.transaction() as tx:
                outbox.give_back(tx, self._owed_back, self.owner, self.clock.now())
            self._owed_back.clear()

    def _storage_error(self, error: BaseException, mail: _Claimed | None) -> None:
        kind = storage_fault(error)
        if kind is not None:
            self.metrics.storage_error(kind, "sending" if mail is None else f"sending outbox #{mail.id}", error)

    def _delay(self, mail: _Claimed) -> float:
        """Seconds until the next attempt after a temporary failure: doubling, up to ``retry_max``."""
        return float(min(self.config.retry_initial * 2 ** (mail.attempts - 1), self.config.retry_max))

    def take_back_dead_leases(self) -> int:
        """Rows a dead sender of this host was delivering go back to the queue
        now instead of when their lease runs out (and, on SQLite, rows
        claimed before leases had owners)."""
        with self.db.transaction() as tx:
            dead = [owner for owner in outbox.lease_owners(tx)
                    if (owner is None and self.db.is_sqlite) or (owner is not None and _dead(owner))]
            released = outbox.release_leases(tx, self.clock.now(), dead) if dead else 0
        if released:
            log.warning("%d mail(s) were being delivered by a sender that died (%s); sending them again",
                        released, ", ".join(sorted(owner or "unknown" for owner in dead)))
        return released

    def loop(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set, waking on ``wake`` or the poll interval;
        after a failed pass, waiting longer each time (up to ``_MAX_PAUSE``)."""
        pause = self.config.poll_interval
        while not stop.is_set():
            try:
                tried = self.run_once(limit=_PASS, stop=stop)
            except Exception as error:  # the database or the relay went away: keep the worker alive
                expected = isinstance(error, (StorageUnavailable, RelayUnavailable)) or storage_fault(error) is not None
                log.error("sender pass failed (%s: %s); trying again in %.1f s", type(error).__name__, error, pause,
                          exc_info=not expected)
                stop.wait(pause)
                pause = min(max(pause, 0.25) * 2, _MAX_PAUSE)
                continue
            pause = self.config.poll_interval
            if tried >= _PASS:  # a full pass: more is queued, and nothing would wake a send-only node for it
                continue
            self.wake.wait(self.config.poll_interval)
            self.wake.clear()


def _pending(rcpt_tos: list[str], results: Mapping[str, str]) -> list[str]:
    return [rcpt for rcpt in rcpt_tos if results.get(rcpt, "deferred").startswith("deferred")]


def _errors(outcome: Outcome) -> str:
    """The distinct errors of an attempt, in one line."""
    return "; ".join(dict.fromkeys(str(error) for error in outcome.values() if error is not None))


def _dead(owner: str) -> bool:
    """Whether the sender process ``owner`` (``host:pid:token``) is known dead.

    Only a process of this host can be known dead; elsewhere its lease
    runs out instead."""
    host, _, rest = owner.partition(":")
    pid_text, _, token = rest.partition(":")
    if host != _HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return token not in _LIVE_TOKENS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


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
