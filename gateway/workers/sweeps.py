"""The deadline sweep: find what is due, act on each ticket in its own transaction.

Deadlines live in ``ticket.due_at`` (never in memory), so a sweep is the
same whether APScheduler woke it, cron ran ``gateway sweep``, or a test set
the clock: one indexed query for the due tickets, soonest first, then for
each ticket a lock, a re-check that it is still due, the action
(``services.due``) and ``due_at`` moved on.  Tickets share a transaction
by groups (``group_size``, :func:`gateway.workers.groups.run_in_groups`):
a commit, an fsync on SQLite, was most of an action's cost; a group with a
failing ticket is redone a ticket at a time, so the others still happen.
Running it twice, or on two nodes at once, acts once: the second finds
``due_at`` moved, or (PostgreSQL) skips the row another node holds.

A sweep takes at most ``batch_size`` tickets; after downtime the backlog
is worked off a batch per wake-up, oldest deadline first.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gateway.clock import Clock
from gateway.metrics import Metrics
from gateway.services.due import DueActions
from gateway.store import due
from gateway.store.db import Database, Transaction
from gateway.store.models import TicketRow
from gateway.workers.groups import run_in_groups

log = logging.getLogger("gateway.sweep")


@dataclass
class SweepResult:
    now: datetime
    found: int = 0  # tickets due when the sweep looked
    acted: int = 0  # tickets this sweep changed
    skipped: int = 0  # another sweep had them, or they were no longer due
    failed: int = 0
    done: Counter[str] = field(default_factory=Counter)  # what was done, by due kind
    find_seconds: float = 0.0
    seconds: float = 0.0

    def add(self, outcome: SweepResult) -> None:
        """Count in what a group (or a ticket alone) did."""
        self.acted += outcome.acted
        self.skipped += outcome.skipped
        self.failed += outcome.failed
        self.done.update(outcome.done)

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.done.items())) or "nothing"
        return (f"sweep at {self.now.isoformat()}: {self.found} due, acted on {self.acted} "
                f"({kinds}), skipped {self.skipped}, failed {self.failed}")


class Sweeper:
    def __init__(self, db: Database, service: DueActions, clock: Clock, *, batch_size: int = 1000,
                 group_size: int = 32, metrics: Metrics | None = None) -> None:
        self.db, self.service, self.clock, self.batch_size = db, service, clock, batch_size
        self.metrics = metrics or Metrics()
        self.group_size = max(1, group_size)

    def run_once(self, now: datetime | None = None, *, limit: int | None = None) -> SweepResult:
        """Act on everything due at ``now`` (default: the clock), at most ``limit`` tickets."""
        result = SweepResult(now or self.clock.now())
        started = time.perf_counter()
        with self.db.transaction() as tx:
            ids = due.due_ids(tx, result.now, limit=limit or self.batch_size)
        result.find_seconds = time.perf_counter() - started
        result.found = len(ids)
        for outcome in run_in_groups(ids, self.group_size, together=lambda group: [self._group(group, result.now)],
                                     alone=lambda ticket_id: self._alone(ticket_id, result.now), log=log,
                                     what="due tickets", redo="acting on them"):
            result.add(outcome)
        result.seconds = time.perf_counter() - started
        for kind, count in result.done.items():  # committed: run_in_groups adds only what went through
            self.metrics.sweep_actions.labels(kind).inc(count)
        if result.found:
            log.info(result.summary())
        return result

    def _group(self, ticket_ids: Sequence[int], now: datetime) -> SweepResult:
        """Lock the group's tickets that are still due and act on each, in
        one transaction; what was done, once it is committed."""
        outcome = SweepResult(now)
        with self.db.transaction() as tx, tx.no_autoflush:
            # One statement locks the group (see _act for no autoflush).
            locked = due.lock_many(tx, list(ticket_ids), now, skip_locked=self.db.is_postgres)
            outcome.skipped += len(ticket_ids) - len(locked)
            for ticket in locked:
                self._act(tx, ticket, outcome)
        return outcome

    def _alone(self, ticket_id: int, now: datetime) -> SweepResult:
        """One ticket in its own transaction; if it fails, it stays due for
        the next sweep and the others still happen."""
        try:
            return self._group([ticket_id], now)
        except Exception:
            log.exception("deadline sweep failed on ticket #%d", ticket_id)
            return SweepResult(now, failed=1)

    def _act(self, tx: Transaction, ticket: TicketRow, result: SweepResult) -> None:
        # No autoflush (set by _group): an action reads only rows written by
        # plain INSERTs and its own ticket, so the tickets' changes wait for
        # the commit instead of costing an UPDATE or two per ticket at each
        # query.
        done = self.service.act(tx, ticket, result.now)
        result.acted += 1
        result.done.update(done)
        log.debug("ticket %s: %s", ticket.protocol, ", ".join(done) or "nothing due any more")
