"""The monthly report step: each mailbox's report of last month, sent by the running gateway.

The scheduler wakes it with the digest, every minute; a mailbox with
``report_to`` gets the previous month's report the first time it is woken
on or after its send day and time (services.monthly_report).  Whether a
month's report went out is in the database, not in this process: a
restart, or a second node with the ``schedule`` role, finds the month
claimed and sends nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from gateway.clock import Clock
from gateway.services.monthly_report import MonthlyReports
from gateway.store.db import Database

log = logging.getLogger("gateway.monthly_report")


class MonthlyReportStep:
    def __init__(self, db: Database, reports: MonthlyReports, clock: Clock) -> None:
        self.db, self.reports, self.clock = db, reports, clock

    @property
    def enabled(self) -> bool:
        return any(mailbox.report_to for mailbox in self.reports.settings.mailboxes)

    def run_once(self, now: datetime | None = None) -> int:
        """Queue the reports that are due; how many were queued.  A failing
        mailbox is logged and tried again at the next wake-up (its month
        was not claimed: the transaction rolled back)."""
        now = now or self.clock.now()
        queued = 0
        for mailbox in self.reports.settings.mailboxes:
            if self.reports.due_month(mailbox, now) is None:
                continue
            try:
                with self.db.transaction() as tx:
                    mail = self.reports.send_due(tx, mailbox, now)
            except Exception:
                log.exception("monthly report of %s failed; trying again at the next wake-up", mailbox.address)
                continue
            if mail is not None:
                log.info("monthly report of %s for %s queued to %s", mailbox.address, mail.month, ", ".join(mail.to),
                         extra={"mailbox": mailbox.address, "month": mail.month})
                queued += 1
        return queued
