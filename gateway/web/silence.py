"""Mailboxes that stopped receiving mail: ``/healthz``'s ``silence <mailbox>``
checks and the ``gateway_mailbox_silent_business_seconds`` gauge.

A changed MX record, an MTA in front that queues for ever, an IMAP
password that expired: each stops a mailbox's mail without an error the
gateway could see, and the desk only notices when citizens phone
(PITFALLS 10; osTicket#6455 fetched nothing for ten days).  What does show
is the silence.  ``[[mailbox]] max_silence = "4h"`` watches a mailbox:
``/healthz`` fails once it has had no mail for that long *in business
time*, on the mailbox's own calendar (working hours, weekends, holidays,
``closed_dates``), so a quiet weekend or Carnaval is no alarm and Monday
morning starts where Friday evening left off.

``4h``, ``4bh`` and ``240min`` are the same limit: working hours.  ``1bd``
is one whole working day (``workday_end - workday_start``).  ``d``
(calendar days) is refused at load: it has no meaning in working time.

A mailbox that has had no mail since the gateway started counts from the
start of this admin listener: a new mailbox is given its limit to receive
the first one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from gateway.calendar.business import BusinessCalendar
from gateway.calendar.mailboxes import calendar_for
from gateway.config import MailboxConfig
from gateway.durations import Duration, Unit
from gateway.reports import WorkingHours
from gateway.store.arrivals import LastArrivals
from gateway.store.tx import Tx


@dataclass(frozen=True)
class Silence:
    """How long one watched mailbox has gone without mail, in business seconds."""

    mailbox: MailboxConfig
    last_mail: datetime | None  # None: none since the gateway started
    since: datetime  # last_mail, or when this admin listener started
    seconds: float  # working time from `since` to now
    limit: float  # max_silence in working seconds

    @property
    def ok(self) -> bool:
        return self.seconds <= self.limit

    def check(self) -> dict[str, Any]:
        """The ``silence <mailbox>`` entry of ``/healthz``."""
        check: dict[str, Any] = {"ok": self.ok, "seconds": round(self.seconds, 1), "limit": self.limit,
                                 "last_mail": self.last_mail.isoformat() if self.last_mail else None}
        if not self.ok:
            check["message"] = self.message()
        return check

    def message(self) -> str:
        """What is wrong and where to look, for the operator reading ``/healthz``."""
        mailbox = self.mailbox
        calendar = calendar_for(mailbox)
        since = f"{calendar.local(self.since):%Y-%m-%d %H:%M} ({mailbox.timezone})"
        when = f"since {since}" if self.last_mail else f"since the gateway started at {since} (nor before)"
        return (f"no mail to {mailbox.address} {when}: {self.seconds / 3600:.1f} business hours, more than "
                f'max_silence = "{mailbox.max_silence}"; check {_where_to_look(mailbox)}')


class SilenceWatch:
    """The mailboxes with ``max_silence`` set, and when each last had mail."""

    def __init__(self, mailboxes: Sequence[MailboxConfig], started: datetime) -> None:
        self.mailboxes = tuple(mailbox for mailbox in mailboxes if mailbox.max_silence is not None)
        self.started = started
        self._arrivals = LastArrivals(mailbox.address for mailbox in self.mailboxes)

    def measure(self, tx: Tx, now: datetime) -> list[Silence]:
        """Each watched mailbox's silence at ``now`` (no query when none is watched)."""
        if not self.mailboxes:
            return []
        last = self._arrivals.read(tx)
        silences = []
        for mailbox in self.mailboxes:
            last_mail = last.get(mailbox.address)
            since = last_mail or self.started
            calendar = calendar_for(mailbox)
            silences.append(Silence(mailbox, last_mail, since, office_seconds(calendar, since, now),
                                    limit_seconds(mailbox.max_silence, calendar)))
        return silences


def gauges(silences: Sequence[Silence]) -> Iterator[Metric]:
    if not silences:
        return
    silent = GaugeMetricFamily("gateway_mailbox_silent_business_seconds",
                               "Working time since the last mail to each mailbox with max_silence set "
                               "(on its business calendar: nights, weekends and holidays do not count).",
                               labels=["mailbox"])
    limit = GaugeMetricFamily("gateway_mailbox_max_silence_business_seconds",
                              "Each mailbox's max_silence, in working seconds: /healthz fails beyond it.",
                              labels=["mailbox"])
    for silence in silences:
        silent.add_metric([silence.mailbox.address], silence.seconds)
        limit.add_metric([silence.mailbox.address], silence.limit)
    yield silent
    yield limit


def office_seconds(calendar: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Seconds of working time between ``start`` and ``end`` on ``calendar``
    (0 when ``end`` is not after ``start``), as ``gateway report`` counts them."""
    if end <= start:
        return 0.0
    return WorkingHours(calendar, start, end).hours(start, end) * 3600


def limit_seconds(limit: Duration | None, calendar: BusinessCalendar) -> float:
    """``max_silence`` as working seconds: ``4h`` and ``4bh`` are 14400, ``1bd``
    one working day; ``d`` raises (it is refused at load)."""
    if limit is None:
        raise ValueError("limit_seconds needs a max_silence; unwatched mailboxes have none")
    if limit.unit is Unit.BUSINESS_DAYS:
        config = calendar.config
        day = datetime.combine(date.min, config.workday_end) - datetime.combine(date.min, config.workday_start)
        return limit.amount * day.total_seconds()
    if limit.unit is Unit.BUSINESS_HOURS:
        return limit.amount * 3600.0
    return limit.to_timedelta().total_seconds()


def _where_to_look(mailbox: MailboxConfig) -> str:
    if mailbox.imap is not None:
        imap = mailbox.imap
        return (f"the IMAP account {imap.user} on {imap.host} (its password or token, the folder "
                f"{imap.folder!r}, the `imap {mailbox.address}` check) and that mail still reaches it "
                f"(the MX records of {mailbox.domain})")
    return (f"the MX records of {mailbox.domain} (dig MX {mailbox.domain}), the MTA in front of the gateway "
            "(its queue and its log: mail deferred to us?) and its route to the gateway's SMTP listener")
