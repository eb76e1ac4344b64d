"""The daily retention step: ``[retention]`` applied by the running gateway.

The scheduler wakes it with the sweeps; it acts at most once a calendar
day (UTC) per process, the first time it is woken that day, so a restart
or several nodes cost at most an extra pass that finds nothing left to do
(store.retention is idempotent).  Nothing happens while both keeping
times are 0, the default: deleting citizens' data is the operator's choice.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from gateway.clock import Clock
from gateway.config.settings import RetentionConfig
from gateway.store import retention
from gateway.store.db import Database

log = logging.getLogger("gateway.retention")


class RetentionStep:
    def __init__(self, db: Database, config: RetentionConfig, clock: Clock) -> None:
        self.db, self.config, self.clock = db, config, clock
        self.last_day: date | None = None  # the day of the last pass, in this process

    @property
    def enabled(self) -> bool:
        return self.config.raw_mail_days > 0 or self.config.closed_ticket_days > 0

    def run_if_due(self) -> retention.Counts | None:
        """One pass if none ran today; the counts of what it changed, or None."""
        now = self.clock.now()
        if not self.enabled or self.last_day == now.date():
            return None
        raw_days, closed_days = self.config.raw_mail_days, self.config.closed_ticket_days
        counts = retention.purge(
            self.db, at=now, why=f"retenção de {closed_days} dias após o fechamento",
            raw_before=now - timedelta(days=raw_days) if raw_days else None,
            closed_before=now - timedelta(days=closed_days) if closed_days else None)
        self.last_day = now.date()  # after success: a failed pass is tried again at the next wake-up
        log.info("retention pass: %s", ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) or "nothing due",
                 extra={"raw_mail_days": raw_days, "closed_ticket_days": closed_days})
        return counts
