"""A mailbox's business calendar: when the desk works, and when a limit ends.

Mails tell citizens "será encerrado após 3 dias úteis"; this module is what
makes the gateway keep that promise.  Business days are the configured
weekdays minus the national holidays and those of the mailbox's UF (from
the ``holidays`` package), minus ``extra_closed``, plus ``extra_open``.

Holidays are the package's ``public`` category only.  Carnaval, Ash
Wednesday, Corpus Christi, Servidor Público (28/10) and the afternoons of
24/12 and 31/12 are *pontos facultativos* (the package's ``optional``
category): each body decides whether it closes, so they are business days
unless a mailbox lists them in ``extra_closed``.  Consciência Negra (20/11)
is national since Lei 14.759/2023 and the package has it.

All arithmetic happens on local dates and wall-clock times in the
calendar's zone (``zoneinfo``), then converts to UTC, so a DST change (none
in Brazil since 2019, but the zone is configurable) never shifts a deadline
off the end of the working day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.durations import Duration, Unit

_WEEKDAYS_PT: Final = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira",
                       "sexta-feira", "sábado", "domingo")
_WEEKDAYS_EN: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS_EN: Final = ("January", "February", "March", "April", "May", "June", "July",
                     "August", "September", "October", "November", "December")


@dataclass(frozen=True)
class CalendarConfig:
    """One mailbox's working time.  Weekdays are 0 (Monday) to 6 (Sunday);
    ``subdivision`` is a UF such as ``"SP"``; ``extra_open`` wins over
    weekends and holidays (a Saturday mutirão), ``extra_closed`` adds days off."""

    timezone: str = "America/Sao_Paulo"
    workday_start: time = time(8, 0)
    workday_end: time = time(18, 0)
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    country: str = "BR"
    subdivision: str | None = None
    extra_closed: frozenset[date] = frozenset()
    extra_open: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if self.workday_start.tzinfo or self.workday_end.tzinfo:
            raise ValueError("workday_start/workday_end must be local times without tzinfo; "
                             "the zone comes from `timezone`")
        if not self.workday_start < self.workday_end:
            raise ValueError(f"workday_start {self.workday_start:%H:%M} must be before "
                             f"workday_end {self.workday_end:%H:%M}")
        if not self.weekdays or not set(self.weekdays) <= set(range(7)):
            raise ValueError(f"weekdays {sorted(self.weekdays)} must be a non-empty set of "
                             "0 (Monday) to 6 (Sunday)")
        if both := self.extra_closed & self.extra_open:
            raise ValueError(f"dates both in extra_closed and extra_open: "
                             f"{', '.join(map(str, sorted(both)))}; keep each in one list")


class BusinessCalendar:
    """Business days and hours of one mailbox, and deadline arithmetic over them.

    Every method taking a datetime needs an aware one (naive raises
    ValueError) and every returned datetime is in UTC.
    """

    def __init__(self, config: CalendarConfig | None = None) -> None:
        self.config = config or CalendarConfig()
        try:
            self.zone = ZoneInfo(self.config.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"calendar timezone {self.config.timezone!r} is not an IANA zone; "
                             "use e.g. 'America/Sao_Paulo'") from exc
        self._holidays_by_year: dict[int, frozenset[date]] = {}
        self._check_region()

    def is_business_day(self, day: date) -> bool:
        """Whether the desk works on this local date (a datetime is taken at its local date)."""
        if isinstance(day, datetime):
            day = self.local(day).date()
        if day in self.config.extra_open:
            return True
        if day in self.config.extra_closed or day.weekday() not in self.config.weekdays:
            return False
        return day not in self._holidays(day.year)

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` falls in working hours, ``[workday_start, workday_end)``, of a business day."""
        local = self.local(at)
        return (self.is_business_day(local.date())
                and self.config.workday_start <= local.time() < self.config.workday_end)

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself when open, else the next start of working hours."""
        local = self.local(at)
        if self.is_business_day(local.date()):
            if local.time() < self.config.workday_start:
                return self._moment(local.date(), self.config.workday_start)
            if local.time() < self.config.workday_end:
                return at.astimezone(UTC)
        return self._moment(self._shift(local.date(), 1), self.config.workday_start)

    def business_days_between(self, a: date | datetime, b: date | datetime) -> int:
        """Business days after ``a``'s local date up to and including ``b``'s.

        Counted as :meth:`add` counts, so ``business_days_between(at,
        add(at, Nbd)) == N``; negative when ``b`` is before ``a``.
        """
        start, end = (self.local(x).date() if isinstance(x, datetime) else x for x in (a, b))
        sign = 1 if end >= start else -1
        low, high = min(start, end), max(start, end)
        days = (low + timedelta(days=offset) for offset in range(1, (high - low).days + 1))
        return sign * sum(1 for day in days if self.is_business_day(day))

    def add(self, at: datetime, duration: Duration) -> datetime:
        """The moment ``duration`` after ``at``, in UTC.

        - ``min``/``h``: elapsed time.  ``d``: calendar days, same local clock time.
        - ``bd``: the end of working hours (``workday_end``) on the N-th
          business day *after* the local date of ``at``; that date itself
          never counts, whatever the hour, open or not.  This is how a
          citizen reads "encerrado após 3 dias úteis" and how Brazilian law
          counts deadlines in dias úteis (CPC arts. 219 and 224: "excluindo
          o dia do começo e incluindo o dia do vencimento").  A solution sent on
          Friday 2026-11-20 (Consciência Negra) at 10:00 counts Mon 23,
          Tue 24, Wed 25 and ends at 18:00 local on Wed 2026-11-25; one sent
          on Monday 2026-11-23 at 10:00 ends at 18:00 on Thu 2026-11-26.
        - ``bh``: working time only, starting from :meth:`next_open`; a limit
          that uses a day's last minute ends at that day's ``workday_end``,
          not at the next morning.
        """
        local = self.local(at)
        unit = duration.unit
        if unit in (Unit.MINUTES, Unit.HOURS):
            return at.astimezone(UTC) + duration.to_timedelta()
        if unit is Unit.DAYS:
            return (local + timedelta(days=duration.amount)).astimezone(UTC)
        if unit is Unit.BUSINESS_DAYS:
            return self._moment(self._shift(local.date(), duration.amount), self.config.workday_end)
        return self._add_working_time(at, timedelta(hours=duration.amount))

    def subtract(self, at: datetime, duration: Duration) -> datetime:
        """The moment ``duration`` before ``at``, in UTC: "remind 1bd before the limit".

        - ``min``/``h``/``d``: as :meth:`add`, backwards.
        - ``bd``: the N-th business day *before* the local date of ``at``, at
          the same local clock time moved into working hours.  For the limit
          of 18:00 on Wed 2026-11-25, ``1bd`` before is 18:00 on Tue 24: the
          citizen still has a whole working day when the reminder arrives.
        - ``bh``: working time only, backwards from the last moment the desk
          was open at or before ``at``.
        """
        local = self.local(at)
        unit = duration.unit
        if unit in (Unit.MINUTES, Unit.HOURS):
            return at.astimezone(UTC) - duration.to_timedelta()
        if unit is Unit.DAYS:
            return (local - timedelta(days=duration.amount)).astimezone(UTC)
        if unit is Unit.BUSINESS_DAYS:
            clock = min(max(local.time(), self.config.workday_start), self.config.workday_end)
            return self._moment(self._shift(local.date(), -duration.amount), clock)
        return self._subtract_working_time(at, timedelta(hours=duration.amount))

    def local(self, at: datetime) -> datetime:
        """``at`` in the calendar's zone; refuses naive datetimes."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"naive datetime {at.isoformat()} given to the business calendar; "
                             "pass an aware one (e.g. tzinfo=datetime.UTC) so the moment is unambiguous")
        return at.astimezone(self.zone)

    def _moment(self, day: date, clock: time) -> datetime:
        """Local ``day`` at wall-clock ``clock``, as UTC."""
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)

    def _shift(self, day: date, count: int) -> date:
        """The |count|-th business day after (count > 0) or before (count < 0) ``day``."""
        step = timedelta(days=1 if count > 0 else -1)
        remaining = abs(count)
        while remaining:
            day += step
            if self.is_business_day(day):
                remaining -= 1
        return day

    def _add_working_time(self, at: datetime, remaining: timedelta) -> datetime:
        # Each day's window is measured in elapsed time between its local
        # opening and closing, so a DST night inside a window is handled too.
        current = self.next_open(at)
        while True:
            closing = self._moment(self.local(current).date(), self.config.workday_end)
            if remaining <= closing - current:
                return current + remaining
            remaining -= closing - current
            current = self.next_open(closing)

    def _subtract_working_time(self, at: datetime, remaining: timedelta) -> datetime:
        current = self._last_open(at)
        while True:
            opening = self._moment(self.local(current).date(), self.config.workday_start)
            if remaining <= current - opening:
                return current - remaining
            remaining -= current - opening
            current = self._last_open(opening)

    def _last_open(self, at: datetime) -> datetime:
        """Mirror of :meth:`next_open` over ``(workday_start, workday_end]``:
        ``at`` when the desk was working just before it, else the previous closing."""
        local = self.local(at)
        if self.is_business_day(local.date()):
            if local.time() > self.config.workday_end:
                return self._moment(local.date(), self.config.workday_end)
            if local.time() > self.config.workday_start:
                return at.astimezone(UTC)
        return self._moment(self._shift(local.date(), -1), self.config.workday_end)

    def _holidays(self, year: int) -> frozenset[date]:
        # Computed per year on first use: a calendar lives as long as the
        # process and only ever needs the years its deadlines touch.
        if year not in self._holidays_by_year:
            import holidays  # 30 ms of imports: paid by the first deadline, not by every command

            found = holidays.country_holidays(self.config.country, subdiv=self.config.subdivision,
                                              years=year)
            self._holidays_by_year[year] = frozenset(found.keys())
        return self._holidays_by_year[year]

    def _check_region(self) -> None:
        import holidays

        try:
            holidays.country_holidays(self.config.country, subdiv=self.config.subdivision, years=[])
        except NotImplementedError as exc:
            known = holidays.list_supported_countries().get(self.config.country)
            hint = f"use one of {', '.join(known)}" if known else "use an ISO 3166 code such as 'BR'"
            where = f"{self.config.country!r}" + (f" subdivision {self.config.subdivision!r}"
                                                  if self.config.subdivision else "")
            raise ValueError(f"no holiday data for {where}; {hint}") from exc


def format_date_ptbr(day: date) -> str:
    """``27/11/2026``: the date as Brazilians write it."""
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def format_deadline(at: datetime, tz: str | tzinfo, language: str = "pt_BR") -> str:
    """A deadline in words for a mail, in the mailbox's zone.

    ``pt_BR``: "sexta-feira, 27/11/2026, às 18h" ("às 18h30", "à 0h");
    ``en``: "Friday, 27 November 2026, at 18:00".
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()} given to format_deadline; pass an aware one")
    local = at.astimezone(ZoneInfo(tz) if isinstance(tz, str) else tz)
    wanted = language.replace("-", "_").lower()
    if wanted in ("pt_br", "pt"):
        clock = f"{local.hour}h" + (f"{local.minute:02d}" if local.minute else "")
        article = "à" if local.hour in (0, 1) else "às"  # "à 1h", "às 2h"
        return f"{_WEEKDAYS_PT[local.weekday()]}, {format_date_ptbr(local)}, {article} {clock}"
    if wanted.split("_")[0] == "en":
        return (f"{_WEEKDAYS_EN[local.weekday()]}, {local.day} {_MONTHS_EN[local.month - 1]} "
                f"{local.year}, at {local:%H:%M}")
    raise ValueError(f"no deadline wording for language {language!r}; use 'pt_BR' or 'en'")
