"""The monthly report's bars (issue 18, item 2): widths a mail client
draws as table cells, and the same bars in block characters for the text
part.  Proportional, visible when not zero, nothing when zero or unknown."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from gateway import reports
from gateway.outbound import charts, report_mail
from gateway.outbound.render import Renderer
from gateway.reports import Period, Report, Satisfaction

EIGHTHS = {char: index for index, char in enumerate(" ▏▎▍▌▋▊▉")}


def eighths(text: str) -> int:
    """A text bar's length in eighths of a character cell."""
    return sum(8 if char == "█" else EIGHTHS[char] for char in text)


def test_widths_are_proportional_to_the_values_over_the_largest():
    group = charts.groups([("a", (3, 6)), ("b", (0, 1.5))])
    widths = [bar.width for g in group for bar in g.bars]
    assert widths == [50, 100, 0, 25]
    assert [bar.rest for g in group for bar in g.bars] == [50, 0, 100, 75]
    lengths = [eighths(bar.text) for g in group for bar in g.bars]
    assert lengths == [120, 240, 0, 60], "30 cells of 8 eighths for the largest, in proportion for the others"
    assert group[0].bars[1].text == "█" * charts.TEXT_WIDTH


@pytest.mark.parametrize("values", [(1, 7, 13, 29, 64, 100), (2, 3, 5, 8, 13, 21, 34)])
def test_any_values_keep_their_proportions_within_rounding(values):
    [group] = charts.groups([("x", values)])
    top = max(values)
    for value, bar in zip(values, group.bars):
        assert abs(bar.width - 100 * value / top) <= 0.5
        assert abs(eighths(bar.text) - 240 * value / top) <= 0.5


def test_a_fixed_top_for_percentages_and_values_above_it_are_capped():
    [group] = charts.groups([("x", (50.0, 100.0, 0.0, 12.5))], top=100.0)
    assert [bar.width for bar in group.bars] == [50, 100, 0, 12]  # 12.5 rounds half to even
    assert eighths(group.bars[3].text) == 30
    assert charts.bar(120.0, 100.0).width == 100


def test_one_among_thousands_is_still_seen_and_zero_draws_nothing():
    [group] = charts.groups([("x", (1, 5000, 0))])
    small, large, zero = group.bars
    assert (small.width, large.width, zero.width) == (1, 100, 0)
    assert small.text == "▏" and zero.text == "" and zero.rest == 100


def test_an_all_zero_or_empty_chart_draws_no_bar():
    assert [bar.width for g in charts.groups([("a", (0, 0)), ("b", (0, 0))]) for bar in g.bars] == [0, 0, 0, 0]
    assert charts.groups([]) == []
    assert charts.scale_of([]) == 1.0 and charts.scale_of([0, None]) == 1.0


def test_an_unknown_value_is_no_bar_and_a_negative_one_an_error():
    nothing = charts.bar(None, 100.0)
    assert (nothing.value, nothing.width, nothing.rest, nothing.text) == (None, 0, 100, "")
    with pytest.raises(ValueError, match="negative"):
        charts.bar(-1, 10)
    with pytest.raises(ValueError, match="top"):
        charts.scale_of([1], top=0)


def empty_month(month: str) -> dict:
    """``gateway report``'s data for a month with nothing in it, built as the service builds it."""
    period = Period.month(month, "America/Sao_Paulo")
    found = Report(period=period, mailbox="atendimento@example.gov.br", by="week", business_hours=True,
                   rows=reports.rows("week", {}, {}, {}, {}), sla=[],
                   satisfaction=Satisfaction(0, {score: 0 for score in reports.SCORES}),
                   backlog={label: 0 for label in reports.BACKLOG_LABELS}, backlog_at=period.end,
                   generated_at=datetime(2027, 3, 1, 12, tzinfo=timezone.utc))
    return reports.as_dict(found), period


@pytest.mark.parametrize("language", ["pt_BR", "en"])
def test_an_empty_month_says_so_and_draws_no_bar(language):
    data, period = empty_month("2027-02")
    context = report_mail.context(data, period, language)
    weeks = context["weeks_chart"]
    assert weeks["empty"] and context["sla_chart"]["empty"]
    # February 2027 runs Monday 1 to Sunday 28: four whole weeks
    expected = ["01/02 a 07/02", "08/02 a 14/02", "15/02 a 21/02", "22/02 a 28/02"]
    if language == "en":
        expected = [label.replace(" a ", " to ") for label in expected]
    assert [group["label"] for group in weeks["groups"]] == expected
    rendered = Renderer().render("monthly_report", language=language, mailbox="atendimento@example.gov.br",
                                 context={"report": context, "mailbox_name": "Central",
                                          "mailbox_address": "atendimento@example.gov.br"})
    assert "data-bar" not in rendered.html and "█" not in rendered.text
    said = {"pt_BR": ("Nenhum chamado aberto ou encerrado no mês.", "Nenhuma pesquisa enviada no mês.",
                      "Relatório mensal de fevereiro de 2027, Central: 0 abertos, 0 encerrados, 0 em aberto"),
            "en": ("No request opened or closed in the month.", "No survey sent in the month.",
                   "Monthly report for February 2027, Central: 0 opened, 0 closed, 0 still open")}[language]
    assert said[0] in rendered.text and said[1] in rendered.text and rendered.subject == said[2]


def test_the_weeks_of_a_month_are_cut_at_its_edges():
    data, period = empty_month("2026-11")  # Sunday 1 to Monday 30
    labels = [g["label"] for g in report_mail.context(data, period, "pt_BR")["weeks_chart"]["groups"]]
    assert labels == ["01/11", "02/11 a 08/11", "09/11 a 15/11", "16/11 a 22/11", "23/11 a 29/11", "30/11"]


def test_the_html_bars_are_table_cells_with_their_widths_and_colours():
    context = report_mail.sample()
    html = Renderer().render("monthly_report", language="pt_BR", mailbox="atendimento@example.gov.br",
                             context={"report": context, "mailbox_name": "Central",
                                      "mailbox_address": "atendimento@example.gov.br"}).html
    weeks, sla = html.split('data-chart="weeks"')[1].split('data-chart="sla"')
    assert re.findall(r'data-bar="(\d+)"', weeks) == ["50", "100", "50"]  # 1 opened; 2 opened and 1 closed
    assert re.findall(r'data-bar="(\d+)"', sla) == ["50", "100", "50"]  # 50%; 100% and 50%
    assert '<td width="50%" bgcolor="#1f6feb" style="width: 50%; background: #1f6feb;' in weeks
    assert "<svg" not in html and "<script" not in html and "<img" not in html
