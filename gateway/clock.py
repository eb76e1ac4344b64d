"""The one place that reads the wall clock.

Everything that needs "now" takes a ``Clock``: deadlines, rate limits and
retries can then be tested by setting the time instead of sleeping, and
``gateway sweep --now`` runs the code as it would run at that instant.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock that only moves when told to (tests, ``sweep --now``)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError(f"FixedClock needs an aware datetime, got naive {at.isoformat()}")
        self._at = at.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        with self._lock:
            self._at = at.astimezone(timezone.utc)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._at += delta
