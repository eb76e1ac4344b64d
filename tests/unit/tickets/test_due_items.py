"""What is due next, and what a sweep does at a given instant (catch-up rules)."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.tickets.deadlines import (
    AUTO_ACCEPT,
    FIRST_RESPONSE,
    NO_RESPONSE,
    REMIND_SOLVED,
    REMIND_WAITING,
    RESOLUTION,
    SLA_BREACH,
    SLA_WARNING,
    SURVEY_REMINDER,
    DueItem,
    Moments,
    SlaTarget,
    due_now,
    next_due,
    overdue,
)
from gateway.tickets.states import Status


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


# Asked on Friday 20/11 10:00 in Brasília (a holiday), 5d limit: Wed 25 10:00 local (13:00 UTC);
# reminder one business day before: Tue 24 10:00 local.
WAITING = Moments(Status.WAITING, limit_at=utc(25, 13), remind_at=utc(24, 13))


def test_waiting_is_due_for_its_reminder_first_then_the_limit():
    assert next_due(WAITING) == DueItem(REMIND_WAITING, utc(24, 13))
    reminded = Moments(Status.WAITING, limit_at=utc(25, 13), remind_at=None)
    assert next_due(reminded) == DueItem(NO_RESPONSE, utc(25, 13))


def test_nothing_is_done_before_its_time():
    assert due_now(WAITING, utc(24, 12, 59)) == []


def test_the_reminder_is_done_when_due_and_only_it():
    assert due_now(WAITING, utc(24, 13)) == [DueItem(REMIND_WAITING, utc(24, 13))]


def test_catch_up_after_both_passed_does_only_the_final_action():
    # The gateway was down from Monday to Thursday: no reminder about a deadline already gone.
    assert due_now(WAITING, utc(26, 12)) == [DueItem(NO_RESPONSE, utc(25, 13))]
    solved = Moments(Status.SOLVED, limit_at=utc(25, 21), remind_at=utc(24, 21))
    assert due_now(solved, utc(30, 12)) == [DueItem(AUTO_ACCEPT, utc(25, 21))]


def test_a_reminder_not_before_the_limit_is_ignored():
    odd = Moments(Status.SOLVED, limit_at=utc(25, 21), remind_at=utc(25, 21))
    assert next_due(odd) == DueItem(AUTO_ACCEPT, utc(25, 21))


def test_open_and_new_tickets_have_no_requester_deadline():
    for status in (Status.NEW, Status.OPEN, Status.REJECTED):
        assert next_due(Moments(status, limit_at=utc(25, 13), remind_at=utc(24, 13))) is None


def test_survey_reminder_once_while_the_survey_is_open():
    closed = Moments(Status.CLOSED, remind_at=utc(25, 21), survey_open=True, survey_until=utc(30, 12))
    assert next_due(closed) == DueItem(SURVEY_REMINDER, utc(25, 21))
    assert due_now(closed, utc(26, 12)) == [DueItem(SURVEY_REMINDER, utc(25, 21))]
    answered = Moments(Status.CLOSED, remind_at=utc(25, 21), survey_open=False, survey_until=utc(30, 12))
    assert next_due(answered) is None


def test_survey_reminder_after_the_survey_closed_is_dropped():
    closed = Moments(Status.CLOSED, remind_at=utc(25, 21), survey_open=True, survey_until=utc(27, 12))
    assert due_now(closed, utc(28, 12)) == []


def _sla(**overrides: object) -> Moments:
    # Created Fri 20/11 10:00 local (13:00 UTC). First response 1h (warn 15 min before), resolution 2h.
    targets = (SlaTarget(FIRST_RESPONSE, utc(20, 14), utc(20, 13, 45)),
               SlaTarget(RESOLUTION, utc(20, 15), utc(20, 14, 30)))
    targets = tuple(SlaTarget(**{**t.__dict__, **overrides}) for t in targets)  # type: ignore[arg-type]
    return Moments(Status.NEW, sla=targets)


def test_sla_warning_comes_before_the_breach():
    assert next_due(_sla()) == DueItem(SLA_WARNING, utc(20, 13, 45), FIRST_RESPONSE)
    assert due_now(_sla(), utc(20, 13, 50)) == [DueItem(SLA_WARNING, utc(20, 13, 45), FIRST_RESPONSE)]
    assert next_due(_sla(warned=True)) == DueItem(SLA_BREACH, utc(20, 14), FIRST_RESPONSE)


def test_sla_catch_up_gives_the_breach_without_the_stale_warning():
    assert due_now(_sla(), utc(20, 16)) == [DueItem(SLA_BREACH, utc(20, 14), FIRST_RESPONSE),
                                           DueItem(SLA_BREACH, utc(20, 15), RESOLUTION)]


def test_met_or_breached_targets_are_done():
    assert next_due(_sla(met=True)) is None
    assert next_due(_sla(breached=True)) is None


def test_overdue_names_the_missed_targets():
    assert overdue(_sla().sla, utc(20, 14, 30)) == [FIRST_RESPONSE]
    assert overdue(_sla(met=True).sla, utc(21, 0)) == []


def test_lifecycle_and_sla_items_are_both_done_in_one_sweep():
    moments = Moments(Status.WAITING, limit_at=utc(25, 13), remind_at=utc(24, 13),
                      sla=(SlaTarget(RESOLUTION, utc(21, 13), utc(21, 7)),))
    assert due_now(moments, utc(24, 14)) == [DueItem(REMIND_WAITING, utc(24, 13)),
                                             DueItem(SLA_BREACH, utc(21, 13), RESOLUTION)]
    assert next_due(moments) == DueItem(SLA_WARNING, utc(21, 7), RESOLUTION)
