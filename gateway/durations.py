"""Durations as service desks and the config write them: ``30min``, ``2h``, ``5d``, ``3bd``.

Limits and SLA targets come from people editing TOML files, so the text
form is the interface: one integer and one unit, nothing else.  Whether a
duration counts business time matters more than its size (``3d`` and
``3bd`` are a week apart around Carnaval), so the unit is kept as written
and only :class:`gateway.calendar.business.BusinessCalendar` turns it into
a moment.

=========  ======================  ===================================
 text       unit                    meaning
=========  ======================  ===================================
 ``30min``  ``MINUTES`` (``30m``)   elapsed minutes
 ``2h``     ``HOURS``               elapsed hours ("horas corridas")
 ``5d``     ``DAYS``                calendar days, same local clock time
 ``3bd``    ``BUSINESS_DAYS``       business days ("dias úteis")
 ``4bh``    ``BUSINESS_HOURS``      working hours ("horas úteis")
=========  ======================  ===================================
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from gateway.errors import DurationError

_VALID_FORMS: Final = "use a number followed by min, h, d, bd or bh (e.g. 30min, 2h, 5d, 3bd, 4bh)"

# Spaces between number and unit and any case are tolerated ("3 BD"); a sign,
# a fraction or a word ("3 dias") is not, so a typo never becomes a limit.
_PATTERN: Final = re.compile(r"\s*(\d+)\s*([a-z]+)\s*", re.IGNORECASE)


class Unit(enum.Enum):
    """What one step of a duration is; the value is the canonical suffix."""

    MINUTES = "min"
    HOURS = "h"
    DAYS = "d"
    BUSINESS_DAYS = "bd"
    BUSINESS_HOURS = "bh"


_SUFFIXES: Final[dict[str, Unit]] = {
    "min": Unit.MINUTES,
    "m": Unit.MINUTES,
    "h": Unit.HOURS,
    "d": Unit.DAYS,
    "bd": Unit.BUSINESS_DAYS,
    "bh": Unit.BUSINESS_HOURS,
}


@dataclass(frozen=True)
class Duration:
    """A positive whole number of one unit, e.g. ``Duration(3, Unit.BUSINESS_DAYS)``.

    Zero is refused: a limit of nothing is a configuration mistake, and
    "no limit" is expressed by leaving the key out.
    """

    amount: int
    unit: Unit

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"Duration amount must be an int, got {self.amount!r}")
        if not isinstance(self.unit, Unit):
            raise TypeError(f"Duration unit must be a Unit, got {self.unit!r}")
        if self.amount < 1:
            raise DurationError(str(self.amount) + self.unit.value, "the amount must be at least 1")

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Read ``30min``, ``30m``, ``2h``, ``5d``, ``3bd`` or ``4bh``.

        Spaces and case are tolerated: ``"3 bd"`` and ``"2H"`` are fine.

        >>> Duration.parse("3 BD")
        Duration(amount=3, unit=<Unit.BUSINESS_DAYS: 'bd'>)
        """
        if not isinstance(text, str):
            raise DurationError(str(text), _VALID_FORMS)  # e.g. `limit = 5` in TOML: a number without a unit
        match = _PATTERN.fullmatch(text)
        if match is None:
            raise DurationError(text, _VALID_FORMS)
        unit = _SUFFIXES.get(match.group(2).lower())
        if unit is None:
            raise DurationError(text, _VALID_FORMS)
        amount = int(match.group(1))
        if amount < 1:
            raise DurationError(text, "the amount must be at least 1")
        return cls(amount, unit)

    def __str__(self) -> str:
        return f"{self.amount}{self.unit.value}"

    @property
    def is_business(self) -> bool:
        """True when the calendar's working days or hours decide the length."""
        return self.unit in (Unit.BUSINESS_DAYS, Unit.BUSINESS_HOURS)

    def to_timedelta(self) -> timedelta:
        """The elapsed time of a MINUTES or HOURS duration.

        DAYS and the business units have no fixed length (a DST change makes
        a day 23 or 25 hours), so they need a calendar and are refused here.
        """
        if self.unit is Unit.MINUTES:
            return timedelta(minutes=self.amount)
        if self.unit is Unit.HOURS:
            return timedelta(hours=self.amount)
        raise ValueError(
            f"{self} has no fixed length; use BusinessCalendar.add() for d, bd and bh durations"
        )


def parse_duration(text: str) -> Duration:
    """Parse a duration text; see :meth:`Duration.parse`."""
    return Duration.parse(text)
