"""Business calendar: hand-counted deadlines around Brazilian holidays, UFs and DST.

Every expected value is worked out in the comment above it, in local time
and then in UTC (São Paulo is UTC-3 all year since 2019).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import holidays
import pytest

from gateway.calendar.business import (
    BusinessCalendar,
    CalendarConfig,
    format_date_ptbr,
    format_deadline,
)
from gateway.durations import parse_duration

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NEW_YORK = ZoneInfo("America/New_York")
LISBON = ZoneInfo("Europe/Lisbon")


def sp(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SAO_PAULO)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def national() -> BusinessCalendar:
    return BusinessCalendar(CalendarConfig())


@pytest.fixture
def sao_paulo_state() -> BusinessCalendar:
    return BusinessCalendar(CalendarConfig(subdivision="SP"))


# -- which days are business days ---------------------------------------


def test_package_marks_consciencia_negra_2026_as_national():
    assert date(2026, 11, 20) in holidays.country_holidays("BR", years=2026)


def test_national_holidays_and_weekends_are_closed(national):
    assert not national.is_business_day(date(2026, 11, 20))  # Fri, Consciência Negra
    assert not national.is_business_day(date(2026, 11, 21))  # Sat
    assert not national.is_business_day(date(2026, 11, 22))  # Sun
    assert not national.is_business_day(date(2026, 4, 3))  # Good Friday
    assert not national.is_business_day(date(2026, 12, 25))  # Fri, Christmas
    assert not national.is_business_day(date(2027, 1, 1))  # Fri, New Year, next year's table
    assert national.is_business_day(date(2026, 11, 19))  # Thu
    assert national.is_business_day(date(2026, 11, 23))  # Mon


def test_pontos_facultativos_are_business_days_unless_configured(national):
    # Carnaval Mon/Tue 16-17/02/2026, Ash Wednesday, 24/12 and 31/12 are optional.
    for day in (date(2026, 2, 16), date(2026, 2, 17), date(2026, 2, 18),
                date(2026, 12, 24), date(2026, 12, 31)):
        assert national.is_business_day(day), day
    closed = BusinessCalendar(CalendarConfig(extra_closed=frozenset({date(2026, 2, 16), date(2026, 2, 17)})))
    assert not closed.is_business_day(date(2026, 2, 17))


def test_uf_holiday_counts_only_for_that_uf(national, sao_paulo_state):
    # 09/07/2026, Thursday: Revolução Constitucionalista, São Paulo only.
    assert "Constitutionalist" in holidays.country_holidays("BR", subdiv="SP", years=2026)[date(2026, 7, 9)]
    rio = BusinessCalendar(CalendarConfig(subdivision="RJ"))
    assert not sao_paulo_state.is_business_day(date(2026, 7, 9))
    assert national.is_business_day(date(2026, 7, 9))
    assert rio.is_business_day(date(2026, 7, 9))


def test_extra_open_wins_over_weekend_and_holiday():
    calendar = BusinessCalendar(CalendarConfig(extra_open=frozenset({date(2026, 11, 21), date(2026, 11, 20)})))
    assert calendar.is_business_day(date(2026, 11, 21))
    assert calendar.is_business_day(date(2026, 11, 20))


def test_datetime_is_taken_at_its_local_date(national):
    # 2026-11-21 01:00 UTC is still Friday 20/11 22:00 in São Paulo: the holiday.
    assert not national.is_business_day(utc(2026, 11, 21, 1))
    # 2026-11-23 02:00 UTC is Sunday 22/11 23:00 locally.
    assert not national.is_business_day(utc(2026, 11, 23, 2))


# -- is_open / next_open ------------------------------------------------


def test_is_open_is_working_hours_start_inclusive_end_exclusive(national):
    assert national.is_open(sp(2026, 11, 24, 8))
    assert national.is_open(sp(2026, 11, 24, 17, 59))
    assert not national.is_open(sp(2026, 11, 24, 18))
    assert not national.is_open(sp(2026, 11, 24, 7, 59))
    assert not national.is_open(sp(2026, 11, 21, 10))  # Saturday
    assert national.is_open(utc(2026, 11, 24, 11))  # 08:00 local
    assert not national.is_open(utc(2026, 11, 24, 10, 59))  # 07:59 local


def test_next_open(national):
    assert national.next_open(sp(2026, 11, 24, 10)) == utc(2026, 11, 24, 13)  # open: itself
    assert national.next_open(sp(2026, 11, 24, 7, 59)) == utc(2026, 11, 24, 11)  # 08:00 same day
    assert national.next_open(sp(2026, 11, 24, 18)) == utc(2026, 11, 25, 11)  # Wed 08:00
    # Friday holiday, then weekend: Monday 23/11 08:00 = 11:00 UTC.
    assert national.next_open(sp(2026, 11, 20, 10)) == utc(2026, 11, 23, 11)


# -- business days: the citizen's "após 3 dias úteis" ----------------------


def test_solution_on_friday_holiday_closes_end_of_wednesday(national):
    # Fri 20/11 is a holiday; count Mon 23, Tue 24, Wed 25 -> Wed 25/11 18:00 = 21:00 UTC.
    deadline = national.add(sp(2026, 11, 20, 10), parse_duration("3bd"))
    assert deadline == utc(2026, 11, 25, 21)
    assert deadline.utcoffset().total_seconds() == 0


def test_the_day_of_sending_never_counts(national):
    # Mon 23/11 10:00: count Tue 24, Wed 25, Thu 26 -> Thu 26/11 18:00 = 21:00 UTC.
    assert national.add(sp(2026, 11, 23, 10), parse_duration("3bd")) == utc(2026, 11, 26, 21)
    # Same day before opening or after closing: still not counted.
    assert national.add(sp(2026, 11, 23, 6), parse_duration("3bd")) == utc(2026, 11, 26, 21)
    assert national.add(sp(2026, 11, 23, 23), parse_duration("3bd")) == utc(2026, 11, 26, 21)


def test_deadline_across_christmas(national):
    # Wed 23/12 10:00: Thu 24 (1), Fri 25 Christmas, weekend, Mon 28 (2), Tue 29 (3)
    # -> Tue 29/12/2026 18:00 = 21:00 UTC.
    assert national.add(sp(2026, 12, 23, 10), parse_duration("3bd")) == utc(2026, 12, 29, 21)


def test_deadline_across_new_year(national):
    # Wed 30/12 10:00: Thu 31 (1), Fri 01/01 holiday, weekend, Mon 04 (2), Tue 05 (3)
    # -> Tue 05/01/2027 18:00 = 21:00 UTC.
    assert national.add(sp(2026, 12, 30, 10), parse_duration("3bd")) == utc(2027, 1, 5, 21)


def test_deadline_across_month_end(national):
    # Fri 31/07 10:00 + 1bd: weekend -> Mon 03/08/2026 18:00 = 21:00 UTC.
    assert national.add(sp(2026, 7, 31, 10), parse_duration("1bd")) == utc(2026, 8, 3, 21)
    # Thu 30/04 + 2bd: Fri 01/05 Worker's Day, weekend, Mon 04 (1), Tue 05 (2).
    assert national.add(sp(2026, 4, 30, 10), parse_duration("2bd")) == utc(2026, 5, 5, 21)


def test_uf_holiday_shifts_deadline_only_in_that_uf(national, sao_paulo_state):
    # Wed 08/07 + 2bd. SP: Thu 09 closed, Fri 10 (1), Mon 13 (2) -> 13/07 18:00.
    assert sao_paulo_state.add(sp(2026, 7, 8, 10), parse_duration("2bd")) == utc(2026, 7, 13, 21)
    # National only: Thu 09 (1), Fri 10 (2) -> 10/07 18:00.
    assert national.add(sp(2026, 7, 8, 10), parse_duration("2bd")) == utc(2026, 7, 10, 21)


def test_extra_closed_and_extra_open_dates():
    closed = BusinessCalendar(CalendarConfig(extra_closed=frozenset({date(2026, 11, 24)})))
    # Fri 20 + 3bd: Mon 23 (1), Tue 24 closed, Wed 25 (2), Thu 26 (3).
    assert closed.add(sp(2026, 11, 20, 10), parse_duration("3bd")) == utc(2026, 11, 26, 21)
    opened = BusinessCalendar(CalendarConfig(extra_open=frozenset({date(2026, 11, 21)})))
    # Fri 20 + 3bd: Sat 21 open (1), Sun, Mon 23 (2), Tue 24 (3).
    assert opened.add(sp(2026, 11, 20, 10), parse_duration("3bd")) == utc(2026, 11, 24, 21)


def test_remind_one_business_day_before_the_limit(national):
    # Limit Wed 25/11 18:00 -> reminder Tue 24/11 18:00 = 21:00 UTC.
    assert national.subtract(utc(2026, 11, 25, 21), parse_duration("1bd")) == utc(2026, 11, 24, 21)
    # Limit Mon 23/11 18:00 -> Fri 20 holiday -> Thu 19/11 18:00.
    assert national.subtract(utc(2026, 11, 23, 21), parse_duration("1bd")) == utc(2026, 11, 19, 21)
    # Limit Sat 28/11 23:00 (from a 5d limit) -> Fri 27, clock moved into hours: 18:00.
    assert national.subtract(sp(2026, 11, 28, 23), parse_duration("1bd")) == utc(2026, 11, 27, 21)
    # Limit Thu 26/11 06:00 -> Wed 25, clock moved up to 08:00 = 11:00 UTC.
    assert national.subtract(sp(2026, 11, 26, 6), parse_duration("1bd")) == utc(2026, 11, 25, 11)


def test_business_days_between(national):
    assert national.business_days_between(sp(2026, 11, 20, 10), utc(2026, 11, 25, 21)) == 3
    assert national.business_days_between(utc(2026, 11, 25, 21), sp(2026, 11, 20, 10)) == -3
    assert national.business_days_between(date(2026, 11, 23), date(2026, 11, 23)) == 0
    # After 23/12 up to 05/01: 24, 28, 29, 30, 31, 04, 05.
    assert national.business_days_between(date(2026, 12, 23), date(2027, 1, 5)) == 7


# -- business hours ------------------------------------------------------


def test_business_hours_within_a_day_end_at_closing_not_next_morning(national):
    # Tue 24/11 14:00 + 4bh = 18:00 exactly = 21:00 UTC.
    assert national.add(sp(2026, 11, 24, 14), parse_duration("4bh")) == utc(2026, 11, 24, 21)
    # A full 10h day from opening ends at closing; one more hour is Wed 09:00.
    assert national.add(sp(2026, 11, 24, 8), parse_duration("10bh")) == utc(2026, 11, 24, 21)
    assert national.add(sp(2026, 11, 24, 8), parse_duration("11bh")) == utc(2026, 11, 25, 12)


def test_business_hours_start_at_next_opening(national):
    assert national.add(sp(2026, 11, 24, 6, 30), parse_duration("1bh")) == utc(2026, 11, 24, 12)  # 09:00
    assert national.add(sp(2026, 11, 24, 19), parse_duration("1bh")) == utc(2026, 11, 25, 12)  # Wed 09:00


def test_business_hours_across_weekend_and_holiday(national):
    # Fri 27/11 15:00 + 4bh: 3h Friday, weekend, Mon 30 08:00 + 1h = 09:00 = 12:00 UTC.
    assert national.add(sp(2026, 11, 27, 15), parse_duration("4bh")) == utc(2026, 11, 30, 12)
    # Thu 19/11 17:00 + 12bh: 1h Thu, Fri 20 holiday, 10h Mon 23, 1h Tue 24 -> 09:00.
    assert national.add(sp(2026, 11, 19, 17), parse_duration("12bh")) == utc(2026, 11, 24, 12)


def test_business_hours_backwards(national):
    # Mon 23/11 10:00 - 4bh: 2h Monday, Fri 20 holiday, Thu 19 18:00 - 2h = 16:00.
    assert national.subtract(sp(2026, 11, 23, 10), parse_duration("4bh")) == utc(2026, 11, 19, 19)
    # From Monday's opening exactly: the previous working hour is Thu 19 17:00.
    assert national.subtract(sp(2026, 11, 23, 8), parse_duration("1bh")) == utc(2026, 11, 19, 20)
    # From Sun 22/11: Sat closed, Fri 20 holiday -> last open Thu 19 18:00, - 1h = 17:00.
    assert national.subtract(sp(2026, 11, 22, 12), parse_duration("1bh")) == utc(2026, 11, 19, 20)


# -- wall-clock units ----------------------------------------------------


def test_wall_clock_units(national):
    at = sp(2026, 11, 20, 10)  # a holiday does not matter for these
    assert national.add(at, parse_duration("30min")) == utc(2026, 11, 20, 13, 30)
    assert national.add(at, parse_duration("2h")) == utc(2026, 11, 20, 15)
    assert national.add(at, parse_duration("5d")) == utc(2026, 11, 25, 13)
    assert national.subtract(at, parse_duration("5d")) == utc(2026, 11, 15, 13)
    assert national.subtract(at, parse_duration("30m")) == utc(2026, 11, 20, 12, 30)


# -- zones with daylight saving time -------------------------------------


@pytest.fixture
def new_york() -> BusinessCalendar:
    return BusinessCalendar(CalendarConfig(timezone="America/New_York", country="US"))


def test_business_days_across_spring_forward(new_york):
    # Clocks go 02:00 -> 03:00 on Sun 08/03/2026. Fri 06/03 10:00 EST + 1bd
    # -> Mon 09/03 18:00 EDT (UTC-4) = 22:00 UTC (not 23:00).
    at = datetime(2026, 3, 6, 10, tzinfo=NEW_YORK)
    assert new_york.add(at, parse_duration("1bd")) == utc(2026, 3, 9, 22)
    assert new_york.subtract(utc(2026, 3, 9, 22), parse_duration("1bd")) == utc(2026, 3, 6, 23)


def test_business_days_across_fall_back(new_york):
    # Clocks go back on Sun 01/11/2026. Fri 30/10 10:00 EDT + 1bd
    # -> Mon 02/11 18:00 EST (UTC-5) = 23:00 UTC.
    at = datetime(2026, 10, 30, 10, tzinfo=NEW_YORK)
    assert new_york.add(at, parse_duration("1bd")) == utc(2026, 11, 2, 23)


def test_business_hours_across_spring_forward(new_york):
    # Fri 06/03 16:00 EST + 4bh: 2h Friday, Mon 09/03 08:00 EDT + 2h = 10:00 EDT = 14:00 UTC.
    at = datetime(2026, 3, 6, 16, tzinfo=NEW_YORK)
    assert new_york.add(at, parse_duration("4bh")) == utc(2026, 3, 9, 14)


def test_calendar_days_keep_the_local_clock_across_dst(new_york):
    # Fri 06/03 10:00 EST + 5d = Wed 11/03 10:00 EDT = 14:00 UTC (119 elapsed hours).
    at = datetime(2026, 3, 6, 10, tzinfo=NEW_YORK)
    assert new_york.add(at, parse_duration("5d")) == utc(2026, 3, 11, 14)
    # Hours are elapsed: Sun 08/03 01:30 EST (06:30 UTC) + 2h = 08:30 UTC.
    assert new_york.add(datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK), parse_duration("2h")) == utc(2026, 3, 8, 8, 30)


def test_business_hours_in_lisbon_across_dst():
    lisbon = BusinessCalendar(CalendarConfig(timezone="Europe/Lisbon", country="PT"))
    # DST starts Sun 29/03/2026. Fri 27/03 17:00 WET (UTC+0) + 2bh: 1h Friday,
    # Mon 30/03 08:00 WEST + 1h = 09:00 WEST = 08:00 UTC.
    at = datetime(2026, 3, 27, 17, tzinfo=LISBON)
    assert lisbon.add(at, parse_duration("2bh")) == utc(2026, 3, 30, 8)
    # Mon 30/03 09:00 WEST - 2bh: 1h Monday, Fri 27 18:00 WET - 1h = 17:00 UTC.
    assert lisbon.subtract(utc(2026, 3, 30, 8), parse_duration("2bh")) == utc(2026, 3, 27, 17)


def test_working_window_containing_the_dst_gap_counts_elapsed_hours():
    # A night desk working 01:00-04:00 every day; on Sun 08/03/2026 the window
    # 01:00 EST (06:00 UTC) - 04:00 EDT (08:00 UTC) lasts only 2 real hours.
    night = BusinessCalendar(CalendarConfig(timezone="America/New_York", country="US",
                                            workday_start=time(1), workday_end=time(4),
                                            weekdays=frozenset(range(7))))
    at = datetime(2026, 3, 8, 1, tzinfo=NEW_YORK)
    assert night.add(at, parse_duration("2bh")) == utc(2026, 3, 8, 8)
    # One more hour: Mon 09/03 01:00 EDT + 1h = 02:00 EDT = 06:00 UTC.
    assert night.add(at, parse_duration("3bh")) == utc(2026, 3, 9, 6)


# -- errors --------------------------------------------------------------


def test_naive_datetimes_are_refused_by_name(national):
    naive = datetime(2026, 11, 20, 10)
    calls = [
        lambda: national.add(naive, parse_duration("3bd")),
        lambda: national.subtract(naive, parse_duration("1bd")),
        lambda: national.is_open(naive),
        lambda: national.next_open(naive),
        lambda: national.is_business_day(naive),
        lambda: national.business_days_between(naive, date(2026, 11, 25)),
        lambda: format_deadline(naive, "America/Sao_Paulo"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="naive datetime 2026-11-20T10:00:00"):
            call()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (dict(workday_start=time(18), workday_end=time(8)), "workday_start 18:00 must be before workday_end 08:00"),
        (dict(weekdays=frozenset()), "weekdays"),
        (dict(weekdays=frozenset({7})), "0 \\(Monday\\) to 6 \\(Sunday\\)"),
        (dict(extra_closed=frozenset({date(2026, 1, 2)}), extra_open=frozenset({date(2026, 1, 2)})),
         "both in extra_closed and extra_open: 2026-01-02"),
    ],
)
def test_config_mistakes_are_named(config, message):
    with pytest.raises(ValueError, match=message):
        CalendarConfig(**config)


def test_unknown_zone_and_uf_are_named():
    with pytest.raises(ValueError, match="'Mars/Olympus' is not an IANA zone"):
        BusinessCalendar(CalendarConfig(timezone="Mars/Olympus"))
    with pytest.raises(ValueError, match="'BR' subdivision 'ZZ'; use one of AC, AL"):
        BusinessCalendar(CalendarConfig(subdivision="ZZ"))


# -- formatting ----------------------------------------------------------


def test_format_date_ptbr():
    assert format_date_ptbr(date(2026, 11, 27)) == "27/11/2026"
    assert format_date_ptbr(date(2027, 1, 5)) == "05/01/2027"


def test_format_deadline_in_portuguese_and_english():
    deadline = utc(2026, 11, 27, 21)  # 18:00 in São Paulo
    assert format_deadline(deadline, "America/Sao_Paulo") == "sexta-feira, 27/11/2026, às 18h"
    assert format_deadline(utc(2026, 11, 27, 21, 30), SAO_PAULO) == "sexta-feira, 27/11/2026, às 18h30"
    assert format_deadline(utc(2026, 11, 28, 4), SAO_PAULO) == "sábado, 28/11/2026, à 1h"
    assert format_deadline(deadline, SAO_PAULO, "en") == "Friday, 27 November 2026, at 18:00"
    with pytest.raises(ValueError, match="'fr'.*use 'pt_BR' or 'en'"):
        format_deadline(deadline, SAO_PAULO, "fr")
