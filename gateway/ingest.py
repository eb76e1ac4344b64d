"""The one door transports call: accept durably, then process.

Two commits.  *Acceptance* writes the raw bytes and envelope to
the inbox and commits (fsync'd) before the transport answers ``250``; a
single writer thread commits every mail that arrived meanwhile in one
transaction (group commit), so sixteen clients cost one fsync, not
sixteen.  *Processing* runs the pipeline over accepted mails, oldest
first, each in its own transaction, or with a backlog a group of them in
one transaction, redone a mail at a time if one fails
(:func:`gateway.workers.groups.run_in_groups`); a crash between the two
loses nothing, because processing resumes from the inbox at start.

A step that raises does not lose the mail: the transaction rolls back and
a fresh one records a quarantine row naming the step and the error.  A
storage error (disk full, database unavailable, lock timeout, conflict:
:mod:`gateway.store.faults`) is not the mail's fault: the mail stays
accepted, the error is logged and counted
(``gateway_storage_errors_total{kind}``, ``/healthz``), and
:class:`StorageUnavailable` stops the pass so that the worker backs off and
tries again; only what fails on its own content is quarantined.

Processing stops between groups when asked (``stop``, set on SIGTERM): the
group in hand is finished and committed, the rest stays accepted for the
next start.

Each accepted mail is logged once (``accepted``: transport, peer, inbox id,
Message-ID, size, ms) after its peer has its answer, and each processed
mail once (``processed``: inbox id, Message-ID, mailbox, outcome, protocol,
ms), with the fields in ``extra=`` for the JSON log; the same events count
in :class:`gateway.metrics.Metrics`.  Every accepted mail is counted
processed exactly once, so accepted minus processed is the backlog.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from gateway import logs
from gateway.clock import Clock
from gateway.config import Settings
from gateway.delivery import PROCESSED_LINE, Delivery, Receipt, ReceiptStatus, inbox_row, log_accepted
from gateway.errors import StorageUnavailable
from gateway.metrics import Metrics
from gateway.pipeline import runner
from gateway.pipeline.context import MailContext, Outcome, Stop
from gateway.store import inbox
from gateway.store.db import Database, Transaction
from gateway.store.faults import storage_fault
from gateway.workers.groups import run_in_groups

log = logging.getLogger("gateway.ingest")

_MAX_GROUP: Final = 256
# Group commit's linger (PostgreSQL's commit_delay, with commit_siblings as
# "mail arrived while the last group was committing"): under concurrent load
# a group was ~2 mails, and each commit costs ~6 WAL pages and an fdatasync,
# ~0.2 ms of the writer's CPU a mail, the whole gap to the bare sink.  Then
# the writer sleeps _LINGER once, unless _LINGER_GROUP mails wait already,
# and takes what came; a lone client (no arrivals during the commit) is never
# kept waiting.  Waiting on the queue instead woke the writer for every mail
# that arrived, a switch of threads each on the core the event loop needs
# (bench/results/ingest.md: 0.88x -> 0.96x the bare sink at c16).  Nor
# does it linger when every peer in a session with a listener already waits
# for this commit (``count_senders``): no one is left to join the group, and
# the event loop would idle through the sleep (0.89x -> 0.94x, six pairs).
_LINGER: Final = 0.002
_LINGER_GROUP: Final = 8


@dataclass(frozen=True)
class _LoopWaiter:
    """A receipt awaited on an event loop (``Ingest.stored``)."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Receipt]


def _answer(receipts: list[tuple[Future[Receipt] | _LoopWaiter, Receipt]]) -> None:
    """Resolve a group's waiters: thread futures at once, loop futures with
    one call per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Receipt], Receipt]]] = {}
    for waiter, receipt in receipts:
        if isinstance(waiter, _LoopWaiter):
            by_loop.setdefault(waiter.loop, []).append((waiter.future, receipt))
        elif not waiter.done():  # a cancelled one must not keep the others from their answer
            waiter.set_result(receipt)
    for loop, pairs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, pairs)
        except RuntimeError:  # the loop closed meanwhile: the mail is stored (or not); the peer saw no answer
            log.warning("%d receipt(s) not delivered: their event loop is closed", len(pairs))


def _resolve(pairs: list[tuple[asyncio.Future[Receipt], Receipt]]) -> None:
    for future, receipt in pairs:
        if not future.done():  # cancelled: the client went away before the commit
            future.set_result(receipt)


@dataclass(frozen=True)
class Processed:
    inbox_id: int
    outcome: Outcome
    reason: str
    ticket_id: int | None
    # For the log line: what an operator searches for.
    message_id: str | None = None
    mailbox: str | None = None
    protocol: str | None = None
    seconds: float = 0.0


class Ingest:
    def __init__(self, db: Database, settings: Settings, clock: Clock, pipeline: tuple[runner.Step, ...], *,
                 metrics: Metrics | None = None) -> None:
        self.db, self.settings, self.clock, self.pipeline = db, settings, clock, pipeline
        self.metrics = metrics or Metrics()
        self.metrics.outcomes(outcome.value for outcome in Outcome)
        self.accepted = threading.Event()  # set after each commit; wakes the processors
        self.on_processed: list[Callable[[Processed], None]] = []
        # (mail, who waits for its receipt, perf_counter() when it was handed over)
        self._queue: queue.Queue[tuple[Delivery, Future[Receipt] | _LoopWaiter, float] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._inbox_writer = inbox.InboxWriter(db.engine)  # used by the writer thread only
        self._senders: list[Callable[[], int]] = []  # the listeners' open sessions (count_senders)
        self._lock = threading.Lock()

    # -- acceptance -------------------------------------------------------

    def accept(self, delivery: Delivery) -> Receipt:
        """Store the mail; return only after the commit (or a TEMPFAIL)."""
        return self.submit(delivery).result()

    def submit(self, delivery: Delivery) -> Future[Receipt]:
        future: Future[Receipt] = Future()
        self._enqueue(delivery, future)
        return future

    async def stored(self, delivery: Delivery) -> Receipt:
        """Await the commit on the running loop.  The writer hands a group's
        receipts to each loop in one call: a thread-safe call per mail woke
        the loop once per mail, a cost paid on the writer and again on the
        loop."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Receipt] = loop.create_future()
        self._enqueue(delivery, _LoopWaiter(loop, waiter))
        return await waiter

    def _enqueue(self, delivery: Delivery, waiter: Future[Receipt] | _LoopWaiter) -> None:
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
                self._writer.start()
        self._queue.put((delivery, waiter, time.perf_counter()))

    def hold(self, delivery: Delivery, *, step: str, reason: str, key: str | None = None) -> Receipt:
        """Store a mail that a transport already judged, straight into quarantine.

        One transaction: the inbox row and its quarantine row, so
        ``gateway quarantine list`` shows it with the transport's reason.
        ``key`` names what is held (an IMAP account, folder and UID): held
        once already, nothing more is stored and the first one's id comes
        back, so a transport that must try again (a move it could not
        make) does not fill the quarantine with copies.
        """
        started, row = time.perf_counter(), inbox_row(delivery)
        try:
            with self.db.transaction() as tx:
                owner = inbox.key_owner(tx, key) if key is not None else None
                if owner is not None:
                    return Receipt(ReceiptStatus.ACCEPTED, inbox_id=owner)
                [inbox_id] = inbox.add_accepted(tx, [row])
                inbox.quarantine(tx, inbox_id, step=step, reason=reason[:4000], at=self.clock.now())
                if key is not None:
                    inbox.add_key(tx, key, inbox_id)
        except Exception as error:  # the database is down or full: the peer must retry
            log.error("could not store a quarantined mail (%s): %s", step, error)
            self.metrics.refused("storage_unavailable")
            return Receipt(ReceiptStatus.TEMPFAIL, reason=f"storage unavailable: {error}")
        seconds = time.perf_counter() - started
        self._accepted(delivery, row, inbox_id, seconds)
        # Judged by the transport: it never waits for the pipeline, and is counted done at once.
        self._announce(Processed(inbox_id, Outcome.QUARANTINED, reason, None, message_id=row["message_id"],
                                 mailbox=delivery.mailbox_hint, seconds=seconds))
        return Receipt(ReceiptStatus.ACCEPTED, inbox_id=inbox_id)

    def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(None)
            writer.join(timeout=30)
        self._inbox_writer.close()

    def _write_loop(self) -> None:
        crowded = False  # whether mail arrived while the last group was being committed
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            if crowded and self._company_may_come(1 + self._queue.qsize()):
                time.sleep(_LINGER)
            while len(batch) < _MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(more)
            try:
                self._commit(batch)
            except Exception:  # a bug of ours: the writer must live, and no peer wait for ever
                log.exception("acceptance writer failed on a group of %d mail(s); answering 451 to those "
                              "not answered yet", len(batch))
                failed = Receipt(ReceiptStatus.TEMPFAIL, reason="internal error while storing; try again later")
                _answer([(waiter, failed) for _, waiter, _ in batch])  # the answered ones keep their answer
                self.accepted.set()  # some may have been stored before it failed: the processors look
            crowded = not self._queue.empty()

    def count_senders(self, open_sessions: Callable[[], int]) -> None:
        self._senders.append(open_sessions)

    def _company_may_come(self, waiting: int) -> bool:
        """Whether lingering may gather more than the ``waiting`` mails: fewer
        than _LINGER_GROUP, and not every peer of the listeners waiting
        already (with none counted, as for IMAP or the pipe, it may)."""
        if waiting >= _LINGER_GROUP:
            return False
        return not self._senders or waiting < sum(count() for count in self._senders)

    def _commit(self, batch: list[tuple[Delivery, Future[Receipt] | _LoopWaiter, float]]) -> None:
        rows = [inbox_row(delivery) for delivery, _, _ in batch]
        try:
            ids = self._inbox_writer.insert(rows)
        except Exception as error:  # the database is down or full: the peer must retry
            log.error("could not store %d mail(s): %s", len(batch), error)
            self.metrics.storage_error(storage_fault(error) or "unavailable", "acceptance", error)
            failed = Receipt(ReceiptStatus.TEMPFAIL, reason=f"storage unavailable: {error}")
            _answer([(waiter, failed) for _, waiter, _ in batch])
            self.metrics.mails_refused.labels("storage_unavailable").inc(len(batch))
            return
        committed = time.perf_counter()
        _answer([(waiter, Receipt(ReceiptStatus.ACCEPTED, inbox_id=inbox_id))
                 for (_, waiter, _), inbox_id in zip(batch, ids)])
        # After the answers: the peers do not wait for the log.  Before the
        # processors wake: a mail's accepted line comes before its processed one.
        with logs.together():
            for (delivery, _, handed_over), row, inbox_id in zip(batch, rows, ids):
                self._accepted(delivery, row, inbox_id, committed - handed_over)
        self.accepted.set()

    def _accepted(self, delivery: Delivery, row: dict[str, object], inbox_id: int, seconds: float) -> None:
        """The ``accepted`` log line and metrics of one stored mail."""
        self.metrics.mails_accepted.labels(delivery.via).inc()
        self.metrics.acceptance_seconds.observe(seconds)
        log_accepted(log, delivery, row, inbox_id, seconds)

    # -- processing -------------------------------------------------------

    def iter_pending(self, limit: int | None = None, stop: threading.Event | None = None) -> Iterator[Processed]:
        """Process accepted mails, oldest first, until none is left (or
        ``limit``, or ``stop`` is set), yielding each result once it is
        committed.  ``stop`` is looked at between groups: a group begun is
        finished, and the next one is not begun."""
        done, after = 0, 0
        while (limit is None or done < limit) and not (stop is not None and stop.is_set()):
            with self.db.transaction() as tx:
                ids = inbox.pending_ids(tx, self.settings.processing.batch_size, after=after)
            if not ids:
                return
            if limit is not None:
                ids = ids[:limit - done]
            groups = run_in_groups(ids, self.settings.processing.group_size, together=self._process_group,
                                   alone=self.process_one, log=log, what="mails", redo="processing them")
            for result in groups:  # lazily: the next group starts only when its first result is asked for
                if result is not None:
                    done += 1
                    yield result
                if stop is not None and stop.is_set():
                    log.info("processing stopped: %d mail(s) processed in this pass, the rest stays accepted", done)
                    return
            after = ids[-1]

    def has_pending(self) -> bool:
        """Whether any accepted mail waits (or is in another worker's hands)."""
        with self.db.transaction() as tx:
            return bool(inbox.pending_ids(tx, 1))

    def process_pending(self, limit: int | None = None) -> list[Processed]:
        """All the results, for callers that look at them (tests, small batches)."""
        return list(self.iter_pending(limit))

    def drain(self, limit: int | None = None, stop: threading.Event | None = None) -> int:
        """Process the backlog keeping nothing per mail (memory stays flat)."""
        return sum(1 for _ in self.iter_pending(limit, stop))

    def process_one(self, inbox_id: int) -> Processed | None:
        """Run the pipeline for one accepted mail in its own transaction."""
        started: list[MailContext] = []
        try:
            with self.db.transaction() as tx:
                done = self._run(tx, inbox_id, started)
            if done is None:
                return None  # done meanwhile, or another node has it
            result = done
        except Exception as error:
            step = runner.current_step(started[0], self.pipeline) if started else "claim"
            kind = storage_fault(error)
            if kind is not None:
                # The storage's fault, not the mail's: it stays accepted and
                # the pass stops, so that the worker backs off and retries.
                self.metrics.storage_error(kind, "processing", error)
                log.error("storage error (%s) processing inbox #%d in step %s: %s: %s; the mail stays accepted "
                          "and is tried again", kind, inbox_id, step, type(error).__name__, error,
                          extra={"event": "storage_error", "kind": kind, "inbox_id": inbox_id, "step": step})
                raise StorageUnavailable(f"storage error ({kind}) processing inbox #{inbox_id}: {error}") from error
            # A bug in a step must not lose the mail: keep the raw bytes and
            # the reason in a fresh transaction; `gateway quarantine list`
            # is where a person picks it up.
            log.exception("pipeline failed in step %s; quarantining inbox #%d", step, inbox_id)
            reason = f"{type(error).__name__} in step {step}: {error}"
            with self.db.transaction() as tx:
                inbox.quarantine(tx, inbox_id, step=step, reason=reason[:4000], at=self.clock.now())
            result = Processed(inbox_id, Outcome.QUARANTINED, reason, None,
                               message_id=started[0].inbox.message_id if started else None,
                               mailbox=_mailbox_of(started[0]) if started else None)
        self._announce(result)
        return result

    def _process_group(self, inbox_ids: Sequence[int]) -> list[Processed | None]:
        """Several mails in one transaction (``run_in_groups`` redoes them
        one by one if this raises); their results are announced after the
        commit."""
        results: list[Processed | None] = []
        with self.db.transaction() as tx:
            for inbox_id in inbox_ids:
                results.append(self._run(tx, inbox_id))
        for result in results:
            if result is not None:
                self._announce(result)
        return results

    def _run(self, tx: Transaction, inbox_id: int, started: list[MailContext] | None = None) -> Processed | None:
        """The pipeline for one mail in ``tx``; None if it is no longer
        waiting.  ``started`` receives the mail's context, so that a caller
        can name the step that raised."""
        began = time.perf_counter()
        row = inbox.claim(tx, inbox_id, skip_locked=self.db.is_postgres)
        if row is None:
            return None
        ctx = MailContext(inbox=row, settings=self.settings, tx=tx, clock=self.clock)
        if started is not None:
            started.append(ctx)
        stop = runner.run(ctx, self.pipeline) or Stop(Outcome.QUARANTINED, "no step decided")
        self._record(ctx, stop)
        return Processed(inbox_id, stop.outcome, stop.reason, ctx.ticket_id, message_id=row.message_id,
                         mailbox=_mailbox_of(ctx), protocol=ctx.protocol,
                         seconds=time.perf_counter() - began)

    def _announce(self, result: Processed) -> None:
        """Once the result is committed: the ``processed`` log line, the metrics, the callbacks."""
        outcome = result.outcome.value
        self.metrics.mails_processed.labels(outcome).inc()
        self.metrics.processing_seconds.observe(result.seconds)
        ms = round(result.seconds * 1000, 1)
        log.info(PROCESSED_LINE, result.inbox_id, result.message_id or "-",
                 result.mailbox or "-", outcome, f" {result.protocol}" if result.protocol else "", ms,
                 extra={"event": "processed", "inbox_id": result.inbox_id, "message_id": result.message_id,
                        "mailbox": result.mailbox, "outcome": outcome, "protocol": result.protocol, "ms": ms})
        for callback in self.on_processed:
            callback(result)

    def _record(self, ctx: MailContext, stop: Stop) -> None:
        now = self.clock.now()
        if stop.outcome is Outcome.QUARANTINED:
            step = ctx.trace[-1].step if ctx.trace else "pipeline"
            inbox.quarantine(ctx.tx, ctx.inbox.id, step=step, reason=stop.reason, at=now)
            return
        status = "duplicate" if stop.outcome is Outcome.DUPLICATE else "processed"
        inbox.finish(ctx.tx, ctx.inbox, status=status, outcome=stop.outcome.value, reason=stop.reason,
                     ticket_id=ctx.ticket_id, at=now)


def _mailbox_of(ctx: MailContext) -> str | None:
    """The service address the mail was routed to (or meant for, if routing never ran)."""
    return ctx.mailbox.address if ctx.mailbox is not None else ctx.inbox.mailbox_hint
