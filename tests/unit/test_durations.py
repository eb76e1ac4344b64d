"""Durations as written in seeds and config: every accepted form, and the typos we refuse."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.durations import Duration, DurationError, Unit, parse_duration


@pytest.mark.parametrize(
    ("text", "amount", "unit", "canonical"),
    [
        ("30min", 30, Unit.MINUTES, "30min"),
        ("30m", 30, Unit.MINUTES, "30min"),
        ("2h", 2, Unit.HOURS, "2h"),
        ("5d", 5, Unit.DAYS, "5d"),
        ("3bd", 3, Unit.BUSINESS_DAYS, "3bd"),
        ("1bh", 1, Unit.BUSINESS_HOURS, "1bh"),
        ("4bh", 4, Unit.BUSINESS_HOURS, "4bh"),
        ("24h", 24, Unit.HOURS, "24h"),
        # tolerated spelling: spaces and case
        ("3 bd", 3, Unit.BUSINESS_DAYS, "3bd"),
        ("2H", 2, Unit.HOURS, "2h"),
        (" 30 MIN ", 30, Unit.MINUTES, "30min"),
        ("3BD", 3, Unit.BUSINESS_DAYS, "3bd"),
        ("010d", 10, Unit.DAYS, "10d"),
    ],
)
def test_each_form_parses_and_prints_back_canonically(text, amount, unit, canonical):
    duration = parse_duration(text)
    assert duration == Duration(amount, unit)
    assert str(duration) == canonical
    assert Duration.parse(canonical) == duration


@pytest.mark.parametrize(
    "text", ["5x", "", "   ", "-1d", "3 dias", "1.5h", "h", "3", "2 h 30min", "+2h", "3 b d", "3dd"]
)
def test_bad_forms_are_refused_with_the_text_and_the_valid_forms(text):
    with pytest.raises(DurationError) as refused:
        parse_duration(text)
    message = str(refused.value)
    assert message.startswith(f"{text!r} is not a duration;")
    assert "30min, 2h, 5d, 3bd" in message


def test_message_for_5x_reads_as_a_sentence():
    with pytest.raises(ValueError, match=r"^'5x' is not a duration; use a number followed by min, h, d, bd"):
        parse_duration("5x")


def test_zero_is_refused_as_a_limit():
    with pytest.raises(DurationError, match="'0d' is not a duration; the amount must be at least 1"):
        parse_duration("0d")
    with pytest.raises(DurationError):
        Duration(0, Unit.HOURS)


def test_a_number_without_unit_from_toml_is_refused():
    with pytest.raises(DurationError, match="^'5' is not a duration"):
        parse_duration(5)  # type: ignore[arg-type]


def test_constructor_checks_types():
    with pytest.raises(TypeError):
        Duration("3", Unit.DAYS)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Duration(3, "bd")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Duration(True, Unit.DAYS)


def test_is_business_only_for_business_units():
    assert parse_duration("3bd").is_business
    assert parse_duration("4bh").is_business
    assert not parse_duration("5d").is_business
    assert not parse_duration("2h").is_business
    assert not parse_duration("30min").is_business


def test_durations_are_hashable_values():
    assert {parse_duration("30m"), parse_duration("30min")} == {Duration(30, Unit.MINUTES)}


def test_only_minutes_and_hours_have_a_fixed_length():
    assert parse_duration("30min").to_timedelta() == timedelta(seconds=1800)
    assert parse_duration("2h").to_timedelta() == timedelta(seconds=7200)
    for text in ("5d", "3bd", "4bh"):
        with pytest.raises(ValueError, match="BusinessCalendar.add"):
            parse_duration(text).to_timedelta()
