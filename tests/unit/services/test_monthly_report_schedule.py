"""When the monthly report goes, and its keys (issue 18, item 2).  Its
content from real mails is in tests/integration/test_monthly_report.py."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from gateway.errors import ConfigError
from gateway.outbound.render import Renderer
from gateway.services.monthly_report import MonthlyReports, previous_month


def mailbox(make_settings, **keys):
    settings = make_settings(mailbox=[{"address": "atendimento@example.gov.br", "protocol_prefix": "ATD", **keys}])
    return MonthlyReports(settings, Renderer()), settings.mailboxes[0]


def brasilia(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo("America/Sao_Paulo"))


def test_no_report_without_report_to_and_the_defaults(make_settings):
    reports, box = mailbox(make_settings)
    assert (box.report_to, box.report_day, box.report_time) == ((), 1, "08:00")
    assert reports.due_month(box, brasilia(date(2026, 12, 15), 12)) is None


def test_addresses_are_kept_lowercase_and_checked(make_settings):
    _, box = mailbox(make_settings, report_to=[" Chefia@Example.gov.br", "diretoria@example.gov.br"])
    assert box.report_to == ("chefia@example.gov.br", "diretoria@example.gov.br")
    with pytest.raises(ConfigError) as error:
        mailbox(make_settings, report_to=["chefia"])
    assert "mailbox[0].report_to" in str(error.value)


@pytest.mark.parametrize(("key", "value", "hint"), [("report_day", 0, "1 to 28"), ("report_day", 29, "1 to 28"),
                                                    ("report_time", "8h", "08:00"), ("report_time", "24:00", "08:00")])
def test_a_day_or_time_that_is_not_one_is_refused_naming_the_key(make_settings, key, value, hint):
    with pytest.raises(ConfigError) as error:
        mailbox(make_settings, report_to=["chefia@example.gov.br"], **{key: value})
    assert f"mailbox[0].{key}" in str(error.value) and hint in str(error.value)


def test_the_send_day_is_the_first_business_day_on_or_after_report_day(make_settings):
    reports, box = mailbox(make_settings, report_to=["chefia@example.gov.br"])
    # November 2026: Sunday 1, Monday 2 is Finados (a national holiday)
    assert reports.send_day(box, 2026, 11) == date(2026, 11, 3)
    assert reports.send_day(box, 2026, 12) == date(2026, 12, 1)  # a Tuesday
    assert reports.send_day(box, 2027, 1) == date(2027, 1, 4)  # Friday 1 is New Year's day, then a weekend
    reports, box = mailbox(make_settings, report_to=["chefia@example.gov.br"], report_day=5,
                           closed_dates=["2027-01-05"])
    assert reports.send_day(box, 2027, 1) == date(2027, 1, 6)


def test_the_previous_month_is_due_from_its_day_and_time_to_the_end_of_the_month(make_settings):
    reports, box = mailbox(make_settings, report_to=["chefia@example.gov.br"], report_time="09:30")
    assert reports.due_month(box, brasilia(date(2026, 11, 1), 12)) is None, "Sunday"
    assert reports.due_month(box, brasilia(date(2026, 11, 2), 12)) is None, "Finados"
    assert reports.due_month(box, brasilia(date(2026, 11, 3), 9, 29)) is None, "before 09:30"
    assert reports.due_month(box, brasilia(date(2026, 11, 3), 9, 30)) == "2026-10"
    assert reports.due_month(box, brasilia(date(2026, 11, 30), 23, 59)) == "2026-10", "a gateway down on the day"
    assert reports.due_month(box, brasilia(date(2027, 1, 4), 10)) == "2026-12"


def test_the_local_month_decides_not_utc(make_settings):
    reports, box = mailbox(make_settings, report_to=["chefia@example.gov.br"], report_time="00:00")
    # 2026-12-01 02:00 UTC is still 30 November, 23:00, in Brasília
    assert reports.due_month(box, datetime(2026, 12, 1, 2, tzinfo=timezone.utc)) == "2026-10"
    assert reports.due_month(box, datetime(2026, 12, 1, 3, tzinfo=timezone.utc)) == "2026-11"


def test_previous_month_across_the_year():
    assert previous_month(date(2027, 1, 4)) == "2026-12" and previous_month(date(2026, 3, 31)) == "2026-02"
