"""``[[mailbox]] closed_calendar``: days off read from an iCalendar file
(PITFALLS 6, holiday feeds).  A city's holiday, a desk's recess and a
yearly event close their days in every deadline of the mailbox; what cannot
be read as whole days stops start-up and check-config, naming the file, the
mailbox and the event."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.calendar.feeds import FeedError, closed_days
from gateway.calendar.mailboxes import calendar_for, deadline
from gateway.config import load_settings
from gateway.durations import parse_duration
from gateway.errors import ConfigError
from tests.helpers.process import run, write_config

SP = ZoneInfo("America/Sao_Paulo")
FEED = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Prefeitura de Exemplo//Feriados//PT
BEGIN:VEVENT
UID:consciencia@example.gov.br
SUMMARY:Dia da Consciência Negra (municipal)
DTSTART;VALUE=DATE:20251120
DTEND;VALUE=DATE:20251121
RRULE:FREQ=YEARLY
EXDATE;VALUE=DATE:20271120
END:VEVENT
BEGIN:VEVENT
UID:recesso@example.gov.br
SUMMARY:Recesso de fim de ano
DTSTART;VALUE=DATE:20261228
DTEND;VALUE=DATE:20261231
END:VEVENT
BEGIN:VEVENT
UID:aniversario@example.gov.br
SUMMARY:Aniversário da cidade
DTSTART;VALUE=DATE:20260310
RRULE:FREQ=YEARLY;COUNT=2
END:VEVENT
END:VCALENDAR
"""


def _feed(tmp_path: Path, text: str = FEED) -> Path:
    path = tmp_path / "feriados.ics"
    path.write_text(text.replace("\n", "\r\n"), encoding="utf-8")
    return path


def test_one_day_several_days_and_yearly_events_close_their_days(tmp_path):
    days = set(closed_days(_feed(tmp_path)))
    assert {date(2025, 11, 20), date(2026, 11, 20), date(2028, 11, 20)} <= days
    assert date(2027, 11, 20) not in days, "EXDATE"
    assert {date(2026, 12, 28), date(2026, 12, 29), date(2026, 12, 30)} <= days and date(2026, 12, 31) not in days
    assert {date(2026, 3, 10), date(2027, 3, 10)} <= days and date(2028, 3, 10) not in days, "COUNT=2"


@pytest.mark.parametrize(("event", "words"), [
    ("DTSTART:20261120T140000\nDTEND:20261120T180000", "starts at a time"),
    ("DTSTART;VALUE=DATE:20261120\nRRULE:FREQ=MONTHLY", "only FREQ=YEARLY"),
    ("DTSTART;VALUE=DATE:20261120\nDTEND;VALUE=DATE:20281120", "lasts 731 days"),
    ("DTEND;VALUE=DATE:20261120", "has no DTSTART"),
    ("DTSTART;VALUE=DATE:amanha", "Ponto facultativo"),  # whatever icalendar makes of it: a FeedError, no crash
])
def test_what_is_not_whole_days_is_refused_naming_the_event(tmp_path, event, words):
    text = FEED.replace("END:VCALENDAR", f"BEGIN:VEVENT\nUID:x@example.gov.br\nSUMMARY:Ponto facultativo\n{event}\n"
                                          "END:VEVENT\nEND:VCALENDAR")
    with pytest.raises(FeedError) as error:
        closed_days(_feed(tmp_path, text))
    assert words in str(error.value) and ("Ponto facultativo" in str(error.value) or "DTSTART" in str(error.value))


def test_the_mailbox_deadlines_skip_the_fed_days(tmp_path):
    """Two business days from Wednesday 23/12 (each ending at 18:00): the
    24th and, after Christmas and the weekend, the 28th; with the city's
    recess (28-30/12) fed in, the 24th and the 31st.  The municipal
    holiday of 20/11 is no business day either."""
    config = tmp_path / "gateway.toml"
    _feed(tmp_path)
    config.write_text('[[mailbox]]\naddress = "a@example.gov.br"\nprotocol_prefix = "ATD"\n'
                      'closed_calendar = "feriados.ics"\n', encoding="utf-8")
    [fed] = load_settings(config).mailboxes
    [plain] = load_settings(overrides={"mailbox": [{"address": "a@example.gov.br", "protocol_prefix": "ATD"}]}).mailboxes
    two = parse_duration("2bd")
    started = datetime(2026, 12, 23, 10, 0, tzinfo=SP)
    assert deadline(plain, started, two) == datetime(2026, 12, 28, 18, 0, tzinfo=SP)
    assert deadline(fed, started, two) == datetime(2026, 12, 31, 18, 0, tzinfo=SP)
    assert calendar_for(fed).is_business_day(date(2026, 11, 20)) is False
    assert fed.closed_calendar == str(tmp_path / "feriados.ics")


def test_a_bad_feed_stops_check_config_naming_the_file_the_mailbox_and_the_event(tmp_path):
    _feed(tmp_path, FEED.replace("DTSTART;VALUE=DATE:20261228", "DTSTART:20261228T080000"))
    config = write_config(tmp_path, extra='closed_calendar = "feriados.ics"\n')
    done = run(config, "check-config")
    assert done.returncode == 2
    said = done.stderr.decode()
    assert "feriados.ics" in said and "atendimento@example.gov.br" in said and "Recesso de fim de ano" in said
    assert "Traceback" not in said


def test_a_missing_feed_names_the_key(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text('[[mailbox]]\naddress = "a@example.gov.br"\nprotocol_prefix = "ATD"\n'
                      'closed_calendar = "nao-existe.ics"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(config)
    assert error.value.key == "mailbox[0].closed_calendar" and "is not a file" in str(error.value)


def _one(tmp_path: Path, *events: str) -> set[date]:
    body = "".join(f"BEGIN:VEVENT\nUID:{index}@example.gov.br\n{event}\nEND:VEVENT\n" for index, event in enumerate(events))
    return set(closed_days(_feed(tmp_path, f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\n{body}END:VCALENDAR\n")))


def test_rfc_5545_cases_desks_publish_are_read_as_they_mean(tmp_path):
    # COUNT counts occurrences before EXDATE takes one out: 2026 only, not 2026 and 2028.
    assert _one(tmp_path, "SUMMARY:A\nDTSTART;VALUE=DATE:20260310\nRRULE:FREQ=YEARLY;COUNT=2\n"
                          "EXDATE;VALUE=DATE:20270310") == {date(2026, 3, 10)}
    # DURATION instead of DTEND.
    assert _one(tmp_path, "SUMMARY:Recesso\nDTSTART;VALUE=DATE:20261228\nDURATION:P3D") == \
        {date(2026, 12, 28), date(2026, 12, 29), date(2026, 12, 30)}
    # Outlook's yearly holiday, and RDATE's extra day.
    days = _one(tmp_path, "SUMMARY:Consciência\nDTSTART;VALUE=DATE:20261120\n"
                          "RRULE:FREQ=YEARLY;BYMONTH=11;BYMONTHDAY=20;WKST=SU;COUNT=2\nRDATE;VALUE=DATE:20261121")
    assert days == {date(2026, 11, 20), date(2027, 11, 20), date(2026, 11, 21)}
    # A cancelled event closes nothing.
    assert _one(tmp_path, "SUMMARY:Cancelado\nSTATUS:CANCELLED\nDTSTART;VALUE=DATE:20261120") == set()


def test_an_occurrence_moved_on_its_own_leaves_its_series(tmp_path):
    series = "SUMMARY:Servidor\nDTSTART;VALUE=DATE:20261028\nRRULE:FREQ=YEARLY;COUNT=3"
    moved = "SUMMARY:Servidor (2027, na segunda)\nRECURRENCE-ID;VALUE=DATE:20271028\nDTSTART;VALUE=DATE:20271101"
    text = (f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nBEGIN:VEVENT\nUID:s@example.gov.br\n{series}\nEND:VEVENT\n"
            f"BEGIN:VEVENT\nUID:s@example.gov.br\n{moved}\nEND:VEVENT\nEND:VCALENDAR\n")
    assert set(closed_days(_feed(tmp_path, text))) == {date(2026, 10, 28), date(2027, 11, 1), date(2028, 10, 28)}


@pytest.mark.parametrize("event", [
    "SUMMARY:Mensal\nDTSTART;VALUE=DATE:20261120\nRRULE:FREQ=YEARLY;BYMONTH=12",  # a yearly rule on another day
    "SUMMARY:Zero\nDTSTART;VALUE=DATE:20261120\nRRULE:FREQ=YEARLY;INTERVAL=0",
    "SUMMARY:Meia\nDTSTART;VALUE=DATE:20261120\nDURATION:PT4H",
    "SUMMARY:Longe\nDTSTART;VALUE=DATE:99991231",  # no day after it: OverflowError, read as a FeedError
])
def test_more_that_cannot_be_whole_days_is_refused(tmp_path, event):
    with pytest.raises(FeedError):
        _one(tmp_path, event)
