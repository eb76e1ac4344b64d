"""The monthly report mail's variables: ``gateway report``'s figures, worded.

The mail shows the very numbers of ``gateway report --json`` for the month
(:func:`gateway.reports.as_dict`, the same dict): this module only writes
them as a reader reads them (``2,5`` in pt_BR, categories and ages in
words) and lays out its two charts (:mod:`gateway.outbound.charts`):
tickets opened and closed in each week of the month, and the share of SLA
targets met per category.  Nothing here reads the clock or the database;
the templates (``monthly_report.*.j2``) hold the sentences.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from gateway import reports
from gateway.outbound import charts
from gateway.reports import Period

#: Survey comments the mail quotes; the rest are in `gateway report`.
COMMENTS: Final = 5
#: Longest comment quoted, in characters.
COMMENT_CHARS: Final = 300
#: Categories in the SLA chart; the others are counted ("e mais 3").
SLA_CATEGORIES: Final = 12

_MONTHS: Final = {
    "pt_BR": ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro",
              "outubro", "novembro", "dezembro"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}
_WORDS: Final = {
    "pt_BR": {"none": "sem categoria", "<1d": "menos de 1 dia", "1-3d": "1 a 3 dias", "3-7d": "3 a 7 dias",
              "7-30d": "7 a 30 dias", ">=30d": "30 dias ou mais", "to": "a", "of": "de"},
    "en": {"none": "no category", "<1d": "under 1 day", "1-3d": "1 to 3 days", "3-7d": "3 to 7 days",
           "7-30d": "7 to 30 days", ">=30d": "30 days or more", "to": "to", "of": ""},
}


def month_name(period: Period, language: str) -> str:
    """"novembro de 2026" / "November 2026"."""
    first = period.start.astimezone(ZoneInfo(period.zone)).date()
    name = _MONTHS[_language(language)][first.month - 1]
    return f"{name} de {first.year}" if _language(language) == "pt_BR" else f"{name} {first.year}"


def decimal(value: float | None, language: str, digits: int = 1) -> str:
    """``2.5`` as the language writes it (``2,5`` in pt_BR); None: ``-``."""
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    return text if _language(language) == "en" else text.replace(".", ",")


def context(data: Mapping[str, Any], period: Period, language: str) -> dict[str, Any]:
    """The ``report`` variable of the templates, from ``gateway report``'s
    data for ``period`` grouped by week (its total row is the month's)."""
    language = _language(language)
    words = _WORDS[language]
    rows = {row["key"]: row for row in data["rows"]}
    total = rows[reports.TOTAL_KEY]
    survey = data["satisfaction"]
    zone = ZoneInfo(period.zone)
    first = period.start.astimezone(zone).date()
    last = period.end.astimezone(zone).date() - timedelta(days=1)
    backlog_at = datetime.fromisoformat(data["backlog"]["at"])
    return {
        "month": month_name(period, language),
        "label": period.label,
        "first_day": first.strftime("%d/%m/%Y"),
        "last_day": last.strftime("%d/%m/%Y"),
        "business_hours": data["time_unit"] == "business_hours",
        "counts": {name: total[name] for name in reports.COUNTED},
        "first_response": _spread(total["first_response"], language),
        "resolution": _spread(total["resolution"], language),
        "sla": [{"category": _category(row["category"], words),
                 "first_response": _share(row["first_response"], language),
                 "resolution": _share(row["resolution"], language)} for row in data["sla"]],
        "satisfaction": {
            "surveyed": survey["surveyed"], "answers": survey["answers"],
            "rate": _percent(survey["response_rate_percent"], language), "mean": decimal(survey["mean"], language),
            "distribution": [(int(score), count) for score, count in survey["distribution"].items()],
            "comments": [{"protocol": c["protocol"], "score": c["score"], "text": _one_line(c["comment"])}
                         for c in survey["comments"][:COMMENTS]],
            "more_comments": max(0, len(survey["comments"]) - COMMENTS)},
        "backlog": {"total": data["backlog"]["total"],
                    "ages": [(words[label], count) for label, count in data["backlog"]["by_age"].items()],
                    "at_end": backlog_at >= period.end,
                    "at": backlog_at.astimezone(zone).strftime("%d/%m/%Y %H:%M")},
        "weeks_chart": weeks_chart(rows, period, first, last, words, language),
        "sla_chart": sla_chart(data["sla"], words, language),
    }


def weeks_chart(rows: Mapping[str, Any], period: Period, first: date, last: date,
                words: Mapping[str, str], language: str) -> dict[str, Any]:
    """Tickets opened and closed in each week (Monday to Sunday) of the
    month, the first and last cut at the month's edges; weeks with nothing
    are shown too (an empty week is news)."""
    found = []
    index = 0
    monday = first - timedelta(days=first.weekday())
    while monday <= last and index < 7:  # a month spans at most 6 weeks
        row = rows.get(period.week_label(index), {})
        start, end = max(monday, first), min(monday + timedelta(days=6), last)
        label = start.strftime("%d/%m") if start == end else f"{start:%d/%m} {words['to']} {end:%d/%m}"
        found.append((label, (row.get("opened", 0), row.get("closed", 0))))
        index, monday = index + 1, monday + timedelta(weeks=1)
    groups = charts.groups(found)
    return {"groups": [_drawn(group, lambda value: _whole(value, language)) for group in groups],
            "empty": not any(b.value for g in groups for b in g.bars)}


def sla_chart(sla: list[Mapping[str, Any]], words: Mapping[str, str], language: str) -> dict[str, Any]:
    """Per category, the % of first-response and resolution targets met
    (over those decided: met or missed), on a 0-100 scale."""
    shown = [(_category(row["category"], words),
              (row["first_response"]["met_percent"], row["resolution"]["met_percent"]))
             for row in sla[:SLA_CATEGORIES]]
    groups = charts.groups(shown, top=100.0)
    return {"groups": [_drawn(group, lambda value: _percent(value, language)) for group in groups],
            "more": max(0, len(sla) - SLA_CATEGORIES),
            "empty": all(b.value is None for g in groups for b in g.bars)}


def _drawn(group: charts.Group, shown: Callable[[Any], str]) -> dict[str, Any]:
    """A chart's row as the templates draw it: each bar's widths, its
    text bar and its value as written (None: nothing to measure)."""
    return {"label": group.label,
            "bars": [{"width": bar.width, "rest": bar.rest, "text": bar.text,
                      "shown": None if bar.value is None else shown(bar.value)} for bar in group.bars]}


def _language(language: str) -> str:
    return "en" if language == "en" else "pt_BR"


def _category(name: str, words: Mapping[str, str]) -> str:
    return words["none"] if name == reports.NONE_KEY else name


def _spread(value: Mapping[str, Any], language: str) -> dict[str, Any]:
    return {"count": value["count"], "median": decimal(value["median"], language),
            "p90": decimal(value["p90"], language)}


def _whole(value: float, language: str) -> str:
    grouped = f"{int(value):,}"
    return grouped if language == "en" else grouped.replace(",", ".")


def _percent(value: float | None, language: str) -> str:
    return "-" if value is None else f"{decimal(value, language)}%"


def _share(value: Mapping[str, Any], language: str) -> dict[str, Any]:
    return {"met": value["met"], "missed": value["missed"], "pending": value["pending"],
            "percent": _percent(value["met_percent"], language)}


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= COMMENT_CHARS else flat[:COMMENT_CHARS - 1].rstrip() + "…"


def sample(language: str = "pt_BR") -> dict[str, Any]:
    """A month as ``gateway report`` gives it, for ``gateway check-config``
    and the notice tests (``outbound.render.sample_context``)."""
    period = Period.month("2026-11", "America/Sao_Paulo")
    spread = {"count": 3, "median": 2.0, "p90": 3.6}
    share = {"met": 1, "missed": 1, "pending": 0, "met_percent": 50.0}
    data = {
        "time_unit": "business_hours",
        "rows": [{"key": "2026-11-16", "opened": 1, "closed": 0, "returned": 0, "reopened": 0},
                 {"key": "2026-11-23", "opened": 2, "closed": 1, "returned": 1, "reopened": 1},
                 {"key": reports.TOTAL_KEY, "opened": 3, "closed": 1, "returned": 1, "reopened": 1,
                  "first_response": spread, "resolution": {"count": 2, "median": 7.0, "p90": 9.4}}],
        "sla": [{"category": reports.NONE_KEY, "first_response": share, "resolution": {"met": 0, "missed": 0, "pending": 1, "met_percent": None}},
                {"category": "Cadastro", "first_response": {**share, "met_percent": 100.0}, "resolution": share}],
        "satisfaction": {"surveyed": 1, "answers": 1, "response_rate_percent": 100.0, "mean": 4.0,
                         "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0},
                         "comments": [{"protocol": "ATD-2026-000042-5", "score": 4,
                                       "comment": "bom atendimento, meu CPF ***.533.447-**"}]},
        "backlog": {"at": period.end.isoformat(), "total": 1,
                    "by_age": {label: int(label == "<1d") for label in reports.BACKLOG_LABELS}},
    }
    return context(data, period, language)
