"""Dates and durations in the words a citizen reads."""

from __future__ import annotations

from datetime import datetime

from gateway.calendar.business import format_deadline
from gateway.durations import Duration, Unit

_UNITS = {
    "pt_BR": {Unit.MINUTES: ("minuto", "minutos"), Unit.HOURS: ("hora", "horas"), Unit.DAYS: ("dia", "dias"),
              Unit.BUSINESS_DAYS: ("dia útil", "dias úteis"), Unit.BUSINESS_HOURS: ("hora útil", "horas úteis")},
    "en": {Unit.MINUTES: ("minute", "minutes"), Unit.HOURS: ("hour", "hours"), Unit.DAYS: ("day", "days"),
           Unit.BUSINESS_DAYS: ("business day", "business days"),
           Unit.BUSINESS_HOURS: ("business hour", "business hours")},
}


def duration(value: Duration, language: str) -> str:
    """``3bd`` → "3 dias úteis"; ``1d`` → "1 dia"."""
    singular, plural = _UNITS.get(language, _UNITS["pt_BR"])[value.unit]
    return f"{value.amount} {singular if value.amount == 1 else plural}"


def deadline(at: datetime, timezone: str, language: str) -> str:
    """"sexta-feira, 27/11/2026, às 18h" (or the English form)."""
    return format_deadline(at, timezone, "en" if language == "en" else "pt_BR")


def short_date(at: datetime, timezone: str) -> str:
    """"27/11/2026" in the mailbox's zone."""
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(timezone)).strftime("%d/%m/%Y")
