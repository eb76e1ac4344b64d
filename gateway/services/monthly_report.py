"""Use case: a mailbox's monthly report, by mail to ``report_to``.

The heads of a desk ask "how did we do last month?" and read the answer
where they read everything else: their mail (issue 18).  On the first
business day on or after ``[[mailbox]] report_day`` of each month, at
``report_time`` in the mailbox's zone, the previous calendar month's
figures of ``gateway report`` (services.report.gather, the same numbers
as ``gateway report --json``) go to the ``report_to`` addresses, with two
charts drawn as table cells and text bars (outbound.charts).

Why a business day: the report is read at work; sent on a Sunday or on a
holiday it is read, if at all, under the weekend's mail.  Every mailbox
has a calendar (national holidays, ``uf``, ``closed_dates``), so the day
always moves; ``report_day`` is 1-28 so that every month has it.

Why also an empty month: "nothing came in" is a figure, and the backlog
may still hold tickets.  A gateway that was down on the day sends the
report when it comes back, until the month is over (the month is
claimed, not the day).

Once per mailbox and month, whatever the number of nodes and restarts:
the month is claimed (store.monthly_report.claim_month) in the
transaction that queues the mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from gateway import reports
from gateway.calendar.mailboxes import calendar_for
from gateway.config import MailboxConfig, Settings
from gateway.outbound import report_mail
from gateway.outbound.render import Renderer, Rendered
from gateway.reports import Period
from gateway.services import team_mail
from gateway.services.report import gather
from gateway.store import monthly_report as store
from gateway.store.db import Transaction

TEMPLATE: Final = "monthly_report"
#: The outbox kind: "team_" puts it in the team's lane, behind the citizens' mails (store.outbox.lane_of).
KIND: Final = "team_monthly_report"


@dataclass(frozen=True)
class MonthlyMail:
    """One monthly report, rendered, and the figures it shows."""

    to: tuple[str, ...]
    month: str  # YYYY-MM
    figures: dict[str, object]  # gateway.reports.as_dict of the month, grouped by week
    parts: Rendered


def previous_month(day: date) -> str:
    """``YYYY-MM`` of the month before ``day``'s."""
    return (day.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


class MonthlyReports:
    def __init__(self, settings: Settings, renderer: Renderer) -> None:
        self.settings, self.renderer = settings, renderer

    def send_day(self, mailbox: MailboxConfig, year: int, month: int) -> date:
        """The local day the report goes out in that month: the first
        business day on or after ``report_day``; ``report_day`` itself if
        the rest of the month is closed (no desk closes a whole fortnight,
        but the loop must end)."""
        calendar = calendar_for(mailbox)
        wanted = day = date(year, month, mailbox.report_day)
        while day.month == month:
            if calendar.is_business_day(day):
                return day
            day += timedelta(days=1)
        return wanted

    def due_month(self, mailbox: MailboxConfig, now: datetime) -> str | None:
        """The month (``YYYY-MM``) whose report is due at ``now``: the one
        before the current local month, once its send day and time have
        come; None before that, or when the mailbox has no ``report_to``."""
        if not mailbox.report_to:
            return None
        local = now.astimezone(ZoneInfo(mailbox.timezone))
        send_on = self.send_day(mailbox, local.year, local.month)
        if (local.date(), local.time()) < (send_on, time.fromisoformat(mailbox.report_time)):
            return None
        return previous_month(local.date())

    def send_due(self, tx: Transaction, mailbox: MailboxConfig, now: datetime, *, month: str | None = None,
                 force: bool = False) -> MonthlyMail | None:
        """Queue the report that is due at ``now`` if not yet sent; with
        ``force``, the report of ``month`` (default: the previous one) now,
        whether due or sent (by hand).  The mail queued, or None."""
        local = now.astimezone(ZoneInfo(mailbox.timezone)).date()
        wanted = (month or previous_month(local)) if force else self.due_month(mailbox, now)
        if wanted is None or not mailbox.report_to:
            return None
        sent = None if force else store.last_month(tx, mailbox.address)
        if sent is not None and sent >= wanted:
            return None  # a read, not a locking upsert, on each wake-up of the rest of the month
        if not store.claim_month(tx, mailbox.address, wanted, at=now, force=force):
            return None
        mail = self.compose(tx, mailbox, wanted, now)
        self.queue(tx, mailbox, mail, now)
        return mail

    def compose(self, tx: Transaction, mailbox: MailboxConfig, month: str, now: datetime) -> MonthlyMail:
        """The report of ``month`` (``YYYY-MM``, in the mailbox's zone) as of ``now``, rendered, not queued."""
        period = Period.month(month, mailbox.timezone)
        found = gather(tx, self.settings, mailbox=mailbox.address, period=period, by="week", now=now)
        figures = reports.as_dict(found)
        context = {"report": report_mail.context(figures, period, mailbox.language),
                   "mailbox_name": mailbox.display_name, "mailbox_address": mailbox.address}
        parts = self.renderer.render(TEMPLATE, language=mailbox.language, mailbox=mailbox.address, context=context)
        return MonthlyMail(tuple(mailbox.report_to), period.label, figures, parts)

    def queue(self, tx: Transaction, mailbox: MailboxConfig, mail: MonthlyMail, now: datetime) -> str:
        """Queue one report; its Message-ID."""
        return team_mail.queue(tx, mailbox, kind=KIND, to=mail.to, parts=mail.parts, now=now)
