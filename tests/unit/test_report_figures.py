"""The report's arithmetic: periods, weeks, percentiles, working hours, buckets, the total row."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from gateway.calendar.business import BusinessCalendar, CalendarConfig
from gateway.reports import (
    Period,
    SlaShare,
    WorkingHours,
    backlog_bucket,
    percentile,
    rows,
    spread,
    week_index,
)


def test_percentiles_interpolate_between_the_nearest_values():
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([1, 2, 3, 4], 0.9) == pytest.approx(3.7)
    assert percentile([7], 0.9) == 7
    assert spread([]).median is None and spread([]).count == 0
    assert spread([4, 0.5, 2]) == spread([0.5, 2, 4]) and spread([0.5, 2, 4]).p90 == 3.6
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_a_month_is_read_in_the_desks_zone():
    period = Period.month("2026-12", "America/Sao_Paulo")
    assert (period.start, period.end) == (datetime(2026, 12, 1, 3, tzinfo=UTC), datetime(2027, 1, 1, 3, tzinfo=UTC))
    with pytest.raises(ValueError, match="YYYY-MM"):
        Period.month("2026-13", "America/Sao_Paulo")
    days = Period.days(date(2026, 11, 16), date(2026, 11, 22), "America/Sao_Paulo")
    assert days.end == datetime(2026, 11, 23, 3, tzinfo=UTC), "the last day is included"
    with pytest.raises(ValueError, match="before it starts"):
        Period.days(date(2026, 11, 22), date(2026, 11, 16), "America/Sao_Paulo")


def test_weeks_start_on_monday_before_the_period():
    period = Period.month("2026-11", "America/Sao_Paulo")  # 1 November 2026 is a Sunday
    assert period.week_label(0) == "2026-10-26"
    monday = datetime(2026, 11, 23, 3, tzinfo=UTC)
    assert period.week_label(week_index(monday, period.week_anchor)) == "2026-11-23"
    assert period.week_label(week_index(monday.replace(hour=2, minute=59), period.week_anchor)) == "2026-11-16"


def test_working_hours_skip_nights_weekends_and_holidays():
    calendar = BusinessCalendar(CalendarConfig(workday_start=time(8), workday_end=time(18)))
    friday_holiday = datetime(2026, 11, 20, 13, tzinfo=UTC)  # 10:00 in Brasília, Consciência Negra
    clock = WorkingHours(calendar, friday_holiday, datetime(2026, 12, 1, tzinfo=UTC))
    assert clock.hours(friday_holiday, datetime(2026, 11, 23, 15, tzinfo=UTC)) == 4  # Monday 08-12
    assert clock.hours(datetime(2026, 11, 23, 20, tzinfo=UTC), datetime(2026, 11, 24, 12, tzinfo=UTC)) == 2  # 17-18, 8-9
    assert clock.hours(datetime(2026, 11, 23, 23, tzinfo=UTC), datetime(2026, 11, 24, 12, tzinfo=UTC)) == 1  # from 20:00
    assert clock.hours(datetime(2026, 11, 23, 12, tzinfo=UTC), datetime(2026, 11, 23, 12, 30, tzinfo=UTC)) == 0.5
    wall = WorkingHours(None, friday_holiday, friday_holiday)
    assert not wall.business and wall.hours(friday_holiday, datetime(2026, 11, 23, 15, tzinfo=UTC)) == 74


def test_backlog_buckets_and_sla_shares():
    assert [backlog_bucket(age) for age in (0, 0.99, 1, 2.6, 3, 6.9, 7, 29, 30, 400)] == \
        ["<1d", "<1d", "1-3d", "1-3d", "3-7d", "3-7d", "7-30d", "7-30d", ">=30d", ">=30d"]
    assert SlaShare(met=1, missed=2, pending=5).percent == 33.3
    assert SlaShare(met=0, missed=0, pending=3).percent is None, "nothing decided yet is no 0%"


def test_the_total_row_takes_every_duration_not_the_groups_medians():
    found = rows("category", {"a": {"opened": 2}, "b": {"opened": 1, "closed": 1}},
                 {"a": [1, 2], "b": [10]}, {}, {"a": {5: 1}, "b": {1: 1, 3: 1}})
    assert [row.key for row in found] == ["a", "b", "total"]
    total = found[-1]
    assert total.counts == {"opened": 3, "closed": 1, "returned": 0, "reopened": 0}
    assert total.first_response.median == 2 and total.resolution.count == 0
    assert (total.satisfaction_mean, total.satisfaction_answers) == (3.0, 3)
