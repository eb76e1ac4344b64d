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
a fresh one records a quarantine row naming the step and the error.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import queue
import re
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from gateway.clock import Clock
from gateway.config import Settings
from gateway.delivery import Delivery, Receipt, ReceiptStatus
from gateway.pipeline import runner
from gateway.pipeline.context import MailContext, Outcome, Stop
from gateway.store import inbox
from gateway.store.db import Database, Transaction
from gateway.workers.groups import run_in_groups

log = logging.getLogger("gateway.ingest")

_MAX_GROUP: Final = 256
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID = re.compile(rb"message-id:[ \t]*(?:\r?\n[ \t]+)?<?([^\s<>]{1,900})>?", re.IGNORECASE)


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


class Ingest:
    def __init__(self, db: Database, settings: Settings, clock: Clock, pipeline: tuple[runner.Step, ...]) -> None:
        self.db, self.settings, self.clock, self.pipeline = db, settings, clock, pipeline
        self.accepted = threading.Event()  # set after each commit; wakes the processors
        self.on_processed: list[Callable[[Processed], None]] = []
        self._queue: queue.Queue[tuple[Delivery, Future[Receipt] | _LoopWaiter] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._inbox_writer = inbox.InboxWriter(db.engine)  # used by the writer thread only
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
        self._queue.put((delivery, waiter))

    def hold(self, delivery: Delivery, *, step: str, reason: str) -> Receipt:
        """Store a mail that a transport already judged, straight into quarantine.

        One transaction: the inbox row and its quarantine row, so
        ``gateway quarantine list`` shows it with the transport's reason.
        """
        try:
            with self.db.transaction() as tx:
                [inbox_id] = inbox.add_accepted(tx, [_row(delivery)])
                inbox.quarantine(tx, inbox_id, step=step, reason=reason[:4000], at=self.clock.now())
        except Exception as error:  # the database is down or full: the peer must retry
            log.error("could not store a quarantined mail (%s): %s", step, error)
            return Receipt(ReceiptStatus.TEMPFAIL, reason=f"storage unavailable: {error}")
        return Receipt(ReceiptStatus.ACCEPTED, inbox_id=inbox_id)

    def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(None)
            writer.join(timeout=30)
        self._inbox_writer.close()

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < _MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: list[tuple[Delivery, Future[Receipt] | _LoopWaiter]]) -> None:
        try:
            ids = self._inbox_writer.insert([_row(delivery) for delivery, _ in batch])
        except Exception as error:  # the database is down or full: the peer must retry
            log.error("could not store %d mail(s): %s", len(batch), error)
            failed = Receipt(ReceiptStatus.TEMPFAIL, reason=f"storage unavailable: {error}")
            _answer([(waiter, failed) for _, waiter in batch])
            return
        self.accepted.set()
        _answer([(waiter, Receipt(ReceiptStatus.ACCEPTED, inbox_id=inbox_id))
                 for (_, waiter), inbox_id in zip(batch, ids)])

    # -- processing -------------------------------------------------------

    def iter_pending(self, limit: int | None = None) -> Iterator[Processed]:
        """Process accepted mails, oldest first, until none is left (or
        ``limit``), yielding each result once it is committed."""
        done, after = 0, 0
        while limit is None or done < limit:
            with self.db.transaction() as tx:
                ids = inbox.pending_ids(tx, self.settings.processing.batch_size, after=after)
            if not ids:
                return
            if limit is not None:
                ids = ids[:limit - done]
            for result in run_in_groups(ids, self.settings.processing.group_size, together=self._process_group,
                                        alone=self.process_one, log=log, what="mails", redo="processing them"):
                if result is not None:
                    done += 1
                    yield result
            after = ids[-1]

    def process_pending(self, limit: int | None = None) -> list[Processed]:
        """All the results, for callers that look at them (tests, small batches)."""
        return list(self.iter_pending(limit))

    def drain(self, limit: int | None = None) -> int:
        """Process the backlog keeping nothing per mail (memory stays flat)."""
        return sum(1 for _ in self.iter_pending(limit))

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
            # A bug in a step must not lose the mail: keep the raw bytes and
            # the reason in a fresh transaction; `gateway quarantine list`
            # is where a person picks it up.
            log.exception("pipeline failed in step %s; quarantining inbox #%d", step, inbox_id)
            reason = f"{type(error).__name__} in step {step}: {error}"
            with self.db.transaction() as tx:
                inbox.quarantine(tx, inbox_id, step=step, reason=reason[:4000], at=self.clock.now())
            result = Processed(inbox_id, Outcome.QUARANTINED, reason, None)
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
        row = inbox.claim(tx, inbox_id, skip_locked=self.db.is_postgres)
        if row is None:
            return None
        ctx = MailContext(inbox=row, settings=self.settings, tx=tx, clock=self.clock)
        if started is not None:
            started.append(ctx)
        stop = runner.run(ctx, self.pipeline) or Stop(Outcome.QUARANTINED, "no step decided")
        self._record(ctx, stop)
        return Processed(inbox_id, stop.outcome, stop.reason, ctx.ticket_id)

    def _announce(self, result: Processed) -> None:
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


def _row(delivery: Delivery) -> dict[str, object]:
    return {
        "received_at": delivery.received_at,
        "via": delivery.via,
        "peer": delivery.peer[:255],
        "mail_from": delivery.mail_from[:512],
        "rcpt_tos": list(delivery.rcpt_tos),
        "authenticated_as": delivery.authenticated_as,
        "mailbox_hint": delivery.mailbox_hint,
        "sha256": hashlib.sha256(delivery.raw).hexdigest(),
        "message_id": quick_message_id(delivery.raw),
        "size": len(delivery.raw),
        "raw": delivery.raw,
    }


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
