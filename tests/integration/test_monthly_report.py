"""The monthly report mail (issue 18, item 2) over tickets made by mail
through the real listener, with the clock moved by hand: queued once per
month at the right local time, and showing the very figures of ``gateway
report --json`` for that month, with both charts in HTML and in text.

The story is tests/integration/test_report.py's (times in Brasília,
UTC-3; the desk works 08-18, Monday to Friday; Friday 20/11 is Consciência
Negra): B opened on the holiday and returned Monday; A answered, solved,
accepted and scored 4 with a comment holding a CPF; C closed and reopened.
The report of November goes on Tuesday 1 December at 08:00.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.services.monthly_report import MonthlyReports
from gateway.workers.monthly_reports import MonthlyReportStep
from tests.helpers.notices import doubled_dates, english_words
from tests.helpers.servers import wait_until
from tests.integration.lifecycle.conftest import (  # noqa: F401 - fixtures
    ANALYST,
    TEAM,
    Desk,
    desk_settings,
    open_desk,
    text_of,
)

CHEFIA = "chefia@example.gov.br"
SLA = {"first_response": "3bh", "resolution": "2bd"}
SENT_AT = "2026-12-01T08:00-03:00"
#: What each language calls the figures the test reads back from the mail.
WORDS = {
    "pt_BR": {"opened": "Abertos", "closed": "Encerrados", "returned": "Devolvidos", "reopened": "Reabertos",
              "first_response": "Primeira resposta", "resolution": "Resolução", "median": "mediana",
              "weeks": "== Abertos e encerrados por semana ==", "sla": "== Prazos cumpridos por categoria ==",
              "series": ("abertos", "encerrados"), "targets": ("1ª resposta", "resolução"), "none": "sem categoria",
              "month": "novembro de 2026", "to": "a", "backlog": "== Em aberto no fim do mês: "},
    "en": {"opened": "Opened", "closed": "Closed", "returned": "Returned", "reopened": "Reopened",
           "first_response": "First response", "resolution": "Resolution", "median": "median",
           "weeks": "== Opened and closed per week ==", "sla": "== SLA targets met per category ==",
           "series": ("opened", "closed"), "targets": ("1st response", "resolution"), "none": "no category",
           "month": "November 2026", "to": "to", "backlog": "== Still open at the end of the month: "},
}


def utc(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=timezone.utc)


def tell_story(desk: Desk) -> dict[str, str]:
    b = desk.opens_at(utc(11, 20, 13), "Pedido de certidão")
    a = desk.opens_at(utc(11, 23, 12), "Erro ao incluir profissional no CNES")
    desk.analyst_at(a, utc(11, 23, 14), "#categoria Cadastro\nBom dia, estamos verificando o cadastro.")
    desk.analyst_at(b, utc(11, 23, 15), "#devolver Fora do escopo: procure o cartório.")
    desk.analyst_at(a, utc(11, 24, 12), "#solucao\nO cadastro foi corrigido.")
    for at, answer in ((utc(11, 24, 13), "Sim, resolvido"), (utc(11, 24, 14), "4 bom atendimento, meu CPF 390.533.447-05")):
        desk.clock.set(at)
        desk.citizen_replies(answer, a)
    c = desk.opens_at(utc(11, 25, 20), "Dúvida sobre o sistema")
    desk.analyst_at(c, utc(11, 25, 20, 30), "#fechar Resolvido por telefone.")
    desk.analyst_at(c, utc(11, 26, 11, 30), "#reabrir")
    return {"A": a, "B": b, "C": c}


@pytest.fixture(params=["pt_BR", "en"])
def desk(request: pytest.FixtureRequest, open_desk: Callable[..., Desk]) -> Desk:  # noqa: F811
    desk = open_desk(schedule={"enabled": False}, sla_default=SLA, report_to=[CHEFIA], language=request.param)
    desk.story = tell_story(desk)  # type: ignore[attr-defined]
    desk.language = request.param  # type: ignore[attr-defined]
    return desk


def step(desk: Desk) -> MonthlyReportStep:
    """The scheduler's monthly report step on this desk's database (another one is another node)."""
    gateway = desk.running.gateway
    return MonthlyReportStep(gateway.db, MonthlyReports(gateway.settings, gateway.renderer), desk.clock)


def reports_sent(desk: Desk) -> list[Any]:
    return desk.running.outbox(kind="team_monthly_report", to=CHEFIA)


def body(mail: Any) -> str:
    return text_of(mail).replace("\r\n", "\n")


def gateway_cli(desk: Desk, tmp_path: Path, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "monthly.toml"
    config.write_text(f'[storage]\nurl = "{desk.running.settings.storage.url}"\n'
                      f'[outbound]\npath = "{tmp_path / "cli-outbox"}"\n'
                      '[[mailbox]]\naddress = "atendimento@example.gov.br"\nname = "Central de Atendimento"\n'
                      f'protocol_prefix = "ATD"\nteam = ["{TEAM}"]\nanalysts = ["{ANALYST}"]\n'
                      f'report_to = ["{CHEFIA}"]\nlanguage = "{getattr(desk, "language", "pt_BR")}"\n'
                      '[mailbox.sla_default]\nfirst_response = "3bh"\nresolution = "2bd"\n')
    done = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), command, *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def report_json(desk: Desk, tmp_path: Path, *args: str) -> dict[str, Any]:
    return json.loads(gateway_cli(desk, tmp_path, "report", "--json", "--month", "2026-11", "--now", SENT_AT,
                                  "--mailbox", "atendimento@example.gov.br", *args).stdout)


def eighths(bar: str) -> int:
    """A text bar's length in eighths of a character cell."""
    return sum(8 if char == "█" else " ▏▎▍▌▋▊▉".index(char) for char in bar)


def decimal(value: float | None, language: str) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if language == "en" else f"{value:.1f}".replace(".", ",")


def chart_lines(text: str, heading: str) -> list[tuple[str, str, str, str]]:
    """A text chart's rows as (group, series, value, bar): the group is
    carried down from the row that names it."""
    section = text.split(heading + "\n", 1)[1].split("\n\n", 1)[0]
    rows, group = [], ""
    for line in section.splitlines():
        found = re.match(r"^(.{16})  (\S+(?: \S+)?)\s+(\S+)(?: (\S+))?$", line)
        if not found:
            break  # the detail lines after the chart
        group = found.group(1).strip() or group
        rows.append((group, found.group(2), found.group(3), found.group(4) or ""))
    return rows


def test_the_story_stands_as_told(desk):
    states = {name: desk.running.ticket(protocol) for name, protocol in desk.story.items()}
    assert [states[name]["status"] for name in "ABC"] == ["closed", "rejected", "open"]
    assert states["A"]["survey"]["score"] == 4


def test_queued_once_per_month_at_its_local_time_whatever_the_nodes(desk):
    first, other_node = step(desk), step(desk)
    # report_to was set on 20/11, after October's report day: October's goes at the first wake-up (catch-up)
    assert first.run_once(utc(11, 30, 12)) == 1
    [october] = reports_sent(desk)
    assert ("outubro de 2026" if desk.language == "pt_BR" else "October 2026") in october["Subject"]
    assert first.run_once(utc(12, 1, 10, 59)) == 0, "Tuesday 1/12, 07:59 in Brasília: not yet"
    assert other_node.run_once(utc(12, 1, 11)) == 1, "08:00: November's"
    assert first.run_once(utc(12, 1, 11)) == 0 and other_node.run_once(utc(12, 1, 12)) == 0, "once per month"
    assert first.run_once(utc(12, 31, 20)) == 0
    assert first.run_once(utc(1, 1, 12, year=2027)) == 0, "1/1/2027 is a holiday, then a weekend"
    assert first.run_once(utc(1, 4, 11, year=2027)) == 1, "Monday 4/1/2027, 08:00: December's"
    subjects = [mail["Subject"] for mail in reports_sent(desk)]
    assert len(subjects) == 3 and WORDS[desk.language]["month"] in subjects[1]
    mail = reports_sent(desk)[1]
    assert mail["To"] == CHEFIA and mail["Reply-To"] == TEAM and mail["Auto-Submitted"] == "auto-generated"
    assert parsedate_to_datetime(mail["Date"]) == utc(12, 1, 11)


def test_the_figures_are_those_of_gateway_report_json(desk, tmp_path):
    language, words = desk.language, WORDS[desk.language]
    assert step(desk).run_once(utc(12, 1, 11)) == 1  # November's; October's was never due in December
    mail = next(m for m in reports_sent(desk) if words["month"] in m["Subject"])
    text = body(mail)
    data = report_json(desk, tmp_path)
    [total] = data["rows"]
    for figure in ("opened", "closed", "returned", "reopened"):
        assert f"\n{words[figure]}: {total[figure]}\n" in text
    assert (total["opened"], total["closed"], total["returned"], total["reopened"]) == (3, 1, 1, 1)
    for wait in ("first_response", "resolution"):
        spread = total[wait]
        assert f"{words[wait]}: {words['median']} {decimal(spread['median'], language)}, " \
               f"p90 {decimal(spread['p90'], language)}; {spread['count']} " in text
    survey = data["satisfaction"]
    assert f"{survey['answers']} " in text and f"{decimal(survey['response_rate_percent'], language)}%" in text
    assert ": " + " · ".join(f"{score}: {count}" for score, count in survey["distribution"].items()) in text
    assert "***.533.447-**" in text and "390.533.447-05" not in text
    assert "390.533.447-05" not in mail.get_body(("html",)).get_content()
    backlog = data["backlog"]
    assert f"{words['backlog']}{backlog['total']} ==" in text
    ages = text.split(f"{words['backlog']}{backlog['total']} ==\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [int(line.rsplit(": ", 1)[1]) for line in ages] == list(backlog["by_age"].values())
    assert backlog["by_age"]["3-7d"] == 1, "C, opened on 25/11, still open at the month's end"

    # chart 1: opened and closed per week, each week of the month, against --by week
    weeks = {row["key"]: row for row in report_json(desk, tmp_path, "--by", "week")["rows"]}
    drawn = chart_lines(text, words["weeks"])
    assert [group for group, series, _, _ in drawn if series == words["series"][0]] == \
        ["01/11", f"02/11 {words['to']} 08/11", f"09/11 {words['to']} 15/11", f"16/11 {words['to']} 22/11",
         f"23/11 {words['to']} 29/11", "30/11"]
    mondays = {"01/11": "2026-10-26", "16/11": "2026-11-16", "23/11": "2026-11-23"}
    for group, series, value, bar in drawn:
        week = weeks.get(mondays.get(group.split(" ")[0], ""), {})
        figure = "opened" if series == words["series"][0] else "closed"
        assert int(value) == week.get(figure, 0), (group, series)
        assert (bar != "") == (int(value) > 0)
    assert (weeks["2026-11-16"]["opened"], weeks["2026-11-23"]["opened"], weeks["2026-11-23"]["closed"]) == (1, 2, 1)

    # chart 2: SLA met per category, against the JSON's met_percent
    sla = {row["category"]: row for row in data["sla"]}
    drawn = chart_lines(text, words["sla"])
    names = {words["none"]: "(none)", "Cadastro": "Cadastro"}
    assert {names[group] for group, _, _, _ in drawn} == set(sla)
    for group, series, value, bar in drawn:
        target = "first_response" if series == words["targets"][0] else "resolution"
        expected = sla[names[group]][target]["met_percent"]
        assert value == (f"{decimal(expected, language)}%" if expected is not None else "-")
        assert eighths(bar) == round(240 * (expected or 0) / 100), "30 cells of 8 eighths for 100%"

    # the same two charts in the HTML part, as table cells whose widths follow the numbers
    html = mail.get_body(("html",)).get_content()
    weeks_html, sla_html = html.split('data-chart="weeks"')[1].split('data-chart="sla"')
    assert re.findall(r'data-bar="(\d+)"', weeks_html) == ["50", "100", "50"]  # 1 | 2 and 1, over 2
    widths = [str(round(row[target]["met_percent"])) for row in data["sla"] for target in ("first_response", "resolution")
              if row[target]["met_percent"]]
    assert widths and re.findall(r'data-bar="(\d+)"', sla_html) == widths
    assert "<svg" not in html and "<script" not in html and "<img" not in html
    if language == "pt_BR":
        assert english_words(mail["Subject"] + "\n" + text) == [] and doubled_dates(text) == []


def test_the_running_scheduler_sends_each_month_once(open_desk):  # noqa: F811
    desk = open_desk(schedule={"interval": 0.2}, sla_default=SLA, report_to=[CHEFIA])
    protocol = desk.citizen_writes()  # Friday 20/11: October's report is due (catch-up), November's is not
    scheduler = desk.running.gateway.scheduler
    wait_until(lambda: len(reports_sent(desk)) == 1, what="October's report")
    desk.clock.set(utc(12, 1, 11, 1))  # Tuesday 1/12, 08:01
    wait_until(lambda: len(reports_sent(desk)) == 2, what="November's report")
    november = reports_sent(desk)[1]
    assert "novembro de 2026" in november["Subject"] and "\nAbertos: 1\n" in body(november)
    assert protocol not in body(november), "a report of figures, not of tickets"
    seen = scheduler.monthly_runs
    wait_until(lambda: scheduler.monthly_runs >= seen + 5, what="five more monthly report steps")
    assert len(reports_sent(desk)) == 2


@pytest.mark.parametrize("desk", ["pt_BR"], indirect=True)  # the command's own output is the same in both
def test_by_hand_printed_sent_then_sent_again(desk, tmp_path):
    printed = gateway_cli(desk, tmp_path, "monthly-report", "--now", SENT_AT, "--dry-run").stdout
    assert f"To: {CHEFIA}\n" in printed and "Subject: Relatório mensal de novembro de 2026" in printed
    assert "\nAbertos: 3\n" in printed and reports_sent(desk) == [], "--dry-run queues nothing"
    sent = gateway_cli(desk, tmp_path, "monthly-report", "--now", SENT_AT).stdout
    assert f"queued the report of 2026-11 to {CHEFIA}" in sent
    again = gateway_cli(desk, tmp_path, "monthly-report", "--now", "2026-12-01T09:00-03:00").stdout
    assert "already sent" in again and len(reports_sent(desk)) == 1
    early = gateway_cli(desk, tmp_path, "monthly-report", "--now", "2027-01-01T12:00-03:00").stdout
    assert "not due before 2027-01-04 08:00" in early
    resent = gateway_cli(desk, tmp_path, "monthly-report", "--now", "2026-12-02T10:00-03:00", "--month", "2026-11")
    assert "queued the report of 2026-11" in resent.stdout
    october = gateway_cli(desk, tmp_path, "monthly-report", "--now", "2026-12-02T10:00-03:00", "--month", "2026-10")
    assert "queued the report of 2026-10" in october.stdout
    assert [("novembro" in m["Subject"], "outubro" in m["Subject"]) for m in reports_sent(desk)] == \
        [(True, False), (True, False), (False, True)]
    assert step(desk).run_once(utc(12, 2, 14)) == 0, "sending an old month by hand does not undo November's record"
    # December is not over on 15 December: sending it would record it as sent and silence January's report
    config = tmp_path / "monthly.toml"
    refused = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "monthly-report",
                              "--now", "2026-12-15T10:00-03:00", "--month", "2026-12"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "2026-12 is not over yet" in refused.stderr
    assert len(reports_sent(desk)) == 3
    preview = gateway_cli(desk, tmp_path, "monthly-report", "--now", "2026-12-15T10:00-03:00", "--month", "2026-12",
                          "--dry-run")
    assert "dezembro de 2026" in preview.stdout and len(reports_sent(desk)) == 3
    assert step(desk).run_once(utc(1, 4, 14, year=2027)) == 1, "December's report still goes in January"

