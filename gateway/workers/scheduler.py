"""APScheduler wiring, and nothing else: it only wakes the work.

Inside ``gateway run`` an ``AsyncIOScheduler`` (APScheduler 3.x) on the
gateway's event loop runs two jobs every ``[schedule] interval`` seconds:
the deadline sweep, in a thread (``asyncio.to_thread``) so the listener
keeps answering, and a nudge to the outbox sender so retries whose backoff
ran out go now rather than at the sender's next poll.  The first sweep runs
at start: whatever fell due while the gateway was down is caught up at
once.  ``max_instances=1`` and ``coalesce`` keep a slow sweep from piling
up behind itself.  When a mailbox has a ``digest`` time, a third job wakes the digest
step (workers.digests) every minute (or ``interval``, if shorter); when one has
``report_to``, a fourth wakes the monthly report step (workers.monthly_reports) as often.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from gateway.config import ScheduleConfig
from gateway.workers.digests import DigestStep
from gateway.workers.monthly_reports import MonthlyReportStep
from gateway.workers.retention import RetentionStep
from gateway.workers.sweeps import Sweeper

log = logging.getLogger("gateway.scheduler")


class Scheduler:
    def __init__(self, config: ScheduleConfig, sweeper: Sweeper, sender_wake: threading.Event | None = None,
                 retention: RetentionStep | None = None, digests: DigestStep | None = None,
                 monthly: MonthlyReportStep | None = None) -> None:
        self.config, self.sweeper, self.sender_wake = config, sweeper, sender_wake
        self.retention = retention  # [retention], at most once a day (workers.retention)
        self.digests = digests  # [[mailbox]] digest: once per business day and mailbox (workers.digests)
        self.digest_runs = 0  # completed digest steps, for tests
        self.monthly = monthly  # [[mailbox]] report_to: once per month and mailbox (workers.monthly_reports)
        self.monthly_runs = 0  # completed monthly report steps, for tests
        self._scheduler: AsyncIOScheduler | None = None
        self.sweeps = 0  # completed sweeps, for tests and logs

    def start(self) -> None:
        """Start on the running event loop; the first sweep runs right away."""
        scheduler = AsyncIOScheduler(timezone=timezone.utc, event_loop=asyncio.get_running_loop())
        every = {"trigger": "interval", "seconds": self.config.interval, "max_instances": 1, "coalesce": True,
                 "misfire_grace_time": None}
        scheduler.add_job(self._sweep, id="catch-up")  # no trigger: once, now
        scheduler.add_job(self._sweep, id="deadline-sweep", **every)
        if self.sender_wake is not None:
            scheduler.add_job(self.sender_wake.set, id="outbox-retries", **every)
        if self.retention is not None and self.retention.enabled:
            scheduler.add_job(self._retain, id="retention", **every)
        if self.digests is not None and self.digests.enabled:
            scheduler.add_job(self._digest, id="digest-catch-up")  # due while the gateway was down: now
            scheduler.add_job(self._digest, id="digest", **{**every, "seconds": min(60.0, self.config.interval)})
        if self.monthly is not None and self.monthly.enabled:
            scheduler.add_job(self._monthly, id="monthly-report-catch-up")
            scheduler.add_job(self._monthly, id="monthly-report",
                              **{**every, "seconds": min(60.0, self.config.interval)})
        scheduler.start()
        self._scheduler = scheduler
        log.info("scheduler started: deadline sweep every %ss", self.config.interval)

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    async def _retain(self) -> None:
        assert self.retention is not None
        try:
            await asyncio.to_thread(self.retention.run_if_due)
        except Exception:  # the database went away: tried again at the next wake-up
            log.exception("retention pass failed; trying again at the next interval")

    async def _digest(self) -> None:
        assert self.digests is not None
        if await self._mail_step(self.digests.run_once, "digest"):
            self.digest_runs += 1

    async def _monthly(self) -> None:
        assert self.monthly is not None
        if await self._mail_step(self.monthly.run_once, "monthly report"):
            self.monthly_runs += 1

    async def _mail_step(self, run_once: Callable[[], int], name: str) -> bool:
        """Run a step that queues team mails (digests, monthly reports); wake
        the sender when it queued any.  False when it failed: the database
        went away, nothing was claimed, and the next wake-up sends it."""
        try:
            queued = await asyncio.to_thread(run_once)
        except Exception:
            log.exception("%s step failed; trying again at the next interval", name)
            return False
        if queued and self.sender_wake is not None:
            self.sender_wake.set()
        return True

    async def _sweep(self) -> None:
        try:
            result = await asyncio.to_thread(self.sweeper.run_once)
        except Exception:  # the database went away: the next wake-up tries again
            log.exception("deadline sweep failed; trying again at the next interval")
            return
        self.sweeps += 1
        if result.acted and self.sender_wake is not None:
            self.sender_wake.set()  # the reminders just queued go out now
