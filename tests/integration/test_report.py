"""``gateway report`` over tickets made by mail through the real listener,
with the clock moved by hand: every figure checked against a count done by
hand from the story below (times in Brasília, UTC-3; the desk works 08-18,
Monday to Friday; Friday 20/11 is Consciência Negra, a holiday).

- B: opened Fri 20 10:00 (holiday); returned (#devolver) Mon 23 12:00:
  first response and resolution 4 working hours (Mon 08-12); its SLA first
  response (3bh: due Mon 11:00) missed, its resolution (2bd: Tue 18:00) met.
- A: opened Mon 23 09:00; answered with #categoria Cadastro Mon 11:00
  (2 h, met: due 12:00); solution Tue 24 09:00 (10 h: Mon 9-18 + Tue 8-9,
  met: due Wed 18:00); accepted Tue 10:00; survey 4 with a comment
  holding a CPF.
- C: opened Wed 25 17:00; closed (#fechar) Wed 17:30 (0.5 h, met: due Thu
  10:00); reopened (#reabrir) Thu 26 08:30: open again, its resolution
  pending (due Fri 27 18:00).

The report runs as of Thu 26 12:00.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.integration.lifecycle.conftest import (  # noqa: F401 - fixtures
    ANALYST,
    TEAM,
    Desk,
    desk_settings,
    open_desk,
)

NOW = "2026-11-26T12:00-03:00"
SLA = {"first_response": "3bh", "resolution": "2bd"}


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)


def opens(desk: Desk, at: datetime, subject: str) -> str:
    return desk.opens_at(at, subject)


def analyst(desk: Desk, protocol: str, at: datetime, body: str) -> None:
    desk.analyst_at(protocol, at, body)


def citizen(desk: Desk, protocol: str, at: datetime, body: str) -> None:
    desk.clock.set(at)
    desk.citizen_replies(body, protocol)


@pytest.fixture
def desk(open_desk: Callable[..., Desk]) -> Desk:  # noqa: F811
    desk = open_desk(schedule={"enabled": False}, sla_default=SLA)
    b = opens(desk, utc(20, 13), "Pedido de certidão")
    a = opens(desk, utc(23, 12), "Erro ao incluir profissional no CNES")
    analyst(desk, a, utc(23, 14), "#categoria Cadastro\nBom dia, estamos verificando o cadastro.")
    analyst(desk, b, utc(23, 15), "#devolver Fora do escopo: procure o cartório.")
    analyst(desk, a, utc(24, 12), "#solucao\nO cadastro foi corrigido.")
    citizen(desk, a, utc(24, 13), "Sim, resolvido")
    citizen(desk, a, utc(24, 14), "4 bom atendimento, meu CPF 390.533.447-05")
    c = opens(desk, utc(25, 20), "Dúvida sobre o sistema")
    analyst(desk, c, utc(25, 20, 30), "#fechar Resolvido por telefone.")
    analyst(desk, c, utc(26, 11, 30), "#reabrir")
    desk.story = {"A": a, "B": b, "C": c}  # type: ignore[attr-defined]
    return desk


def report(desk: Desk, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "report.toml"
    config.write_text(f'[storage]\nurl = "{desk.running.settings.storage.url}"\n'
                      f'[outbound]\npath = "{tmp_path / "cli-outbox"}"\n'
                      '[[mailbox]]\naddress = "atendimento@example.gov.br"\nname = "Central"\n'
                      f'protocol_prefix = "ATD"\nteam = ["{TEAM}"]\nanalysts = ["{ANALYST}"]\n'
                      '[mailbox.sla_default]\nfirst_response = "3bh"\nresolution = "2bd"\n')
    done = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "report", "--now", NOW, *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def as_json(desk: Desk, tmp_path: Path, *args: str) -> dict[str, Any]:
    return json.loads(report(desk, tmp_path, "--json", "--mailbox", "atendimento@example.gov.br", *args).stdout)


def test_the_story_happened_as_told(desk):
    """The tickets stand where the story says, so the report's figures are checked against the right facts."""
    states = {name: desk.running.ticket(protocol) for name, protocol in desk.story.items()}
    assert [states[name]["status"] for name in "ABC"] == ["closed", "rejected", "open"]
    assert states["A"]["category"] == "Cadastro" and states["A"]["survey"]["score"] == 4


def test_counts_times_sla_satisfaction_and_backlog_of_a_month(desk, tmp_path):
    data = as_json(desk, tmp_path, "--month", "2026-11")
    assert data["time_unit"] == "business_hours" and data["period"]["start"] == "2026-11-01T03:00:00+00:00"
    [total] = data["rows"]
    assert total["key"] == "total"
    assert {k: total[k] for k in ("opened", "closed", "returned", "reopened")} == \
        {"opened": 3, "closed": 1, "returned": 1, "reopened": 1}
    # first responses 0.5, 2 and 4 working hours; resolutions 4 and 10 (C's was undone by #reabrir)
    assert total["first_response"] == {"count": 3, "median": 2.0, "p90": 3.6}
    assert total["resolution"] == {"count": 2, "median": 7.0, "p90": 9.4}
    assert total["satisfaction"] == {"mean": 4.0, "answers": 1}
    assert data["sla"] == [
        {"category": "(none)", "first_response": {"met": 1, "missed": 1, "pending": 0, "met_percent": 50.0},
         "resolution": {"met": 1, "missed": 0, "pending": 1, "met_percent": 100.0}},
        {"category": "Cadastro", "first_response": {"met": 1, "missed": 0, "pending": 0, "met_percent": 100.0},
         "resolution": {"met": 1, "missed": 0, "pending": 0, "met_percent": 100.0}},
    ]
    survey = data["satisfaction"]
    assert (survey["surveyed"], survey["answers"], survey["response_rate_percent"], survey["mean"]) == (1, 1, 100.0, 4.0)
    assert survey["distribution"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}
    [comment] = survey["comments"]
    assert comment["protocol"] == desk.story["A"] and comment["score"] == 4
    assert "390.533.447-05" not in comment["comment"] and "***.533.447-**" in comment["comment"]
    # backlog as of the report's now (before the month ends): only C, opened 19 h before
    assert data["backlog"] == {"at": "2026-11-26T15:00:00+00:00", "total": 1,
                               "by_age": {"<1d": 1, "1-3d": 0, "3-7d": 0, "7-30d": 0, ">=30d": 0}}


def test_grouped_by_category_and_by_week(desk, tmp_path):
    rows = {row["key"]: row for row in as_json(desk, tmp_path, "--month", "2026-11", "--by", "category")["rows"]}
    assert list(rows) == ["(none)", "Cadastro", "total"]
    assert (rows["(none)"]["opened"], rows["(none)"]["returned"], rows["(none)"]["reopened"]) == (2, 1, 1)
    assert rows["(none)"]["first_response"] == {"count": 2, "median": 2.25, "p90": 3.65}
    assert rows["Cadastro"]["resolution"] == {"count": 1, "median": 10.0, "p90": 10.0}
    assert rows["total"]["first_response"]["median"] == 2.0, "the total's median is of every ticket, not of medians"

    weeks = {row["key"]: row for row in as_json(desk, tmp_path, "--month", "2026-11", "--by", "week")["rows"]}
    assert list(weeks) == ["2026-11-16", "2026-11-23", "total"]  # weeks begin on Monday, in the desk's zone
    assert (weeks["2026-11-16"]["opened"], weeks["2026-11-23"]["opened"]) == (1, 2)
    assert weeks["2026-11-23"]["first_response"]["count"] == 3


def test_backlog_at_the_end_of_an_earlier_period_counts_tickets_closed_after_it(desk, tmp_path):
    data = as_json(desk, tmp_path, "--from", "2026-11-16", "--to", "2026-11-22")
    [total] = data["rows"]
    assert (total["opened"], total["closed"], total["returned"]) == (1, 0, 0)
    # B was open at Mon 23 00:00 (returned at 12:00 that day), 2.6 days old
    assert data["backlog"]["at"] == "2026-11-23T03:00:00+00:00"
    assert data["backlog"]["by_age"]["1-3d"] == 1 and data["backlog"]["total"] == 1


def test_csv_and_text_shapes(desk, tmp_path):
    lines = list(csv.reader(io.StringIO(report(desk, tmp_path, "--csv", "--month", "2026-11").stdout)))
    assert lines[0] == ["section", "key", "figure", "value"]
    found = {(section, key, figure): value for section, key, figure, value in lines[1:] if section != "comment"}
    assert found[("tickets", "total", "opened")] == "3"
    assert found[("first_response", "total", "median_business_hours")] == "2.0"
    assert found[("sla_first_response", "(none)", "met_percent")] == "50.0"
    assert found[("survey", "total", "score_4")] == "1"
    assert found[("backlog", "2026-11-26T15:00:00+00:00", "<1d")] == "1"
    assert all(len(line) == 4 for line in lines)

    text = report(desk, tmp_path, "--month", "2026-11", "--by", "category").stdout.splitlines()
    header = next(line for line in text if "OPENED" in line)
    total = next(line for line in text if line.startswith("total"))
    assert header.index("OPENED") + len("OPENED") == total.index(" 3 ") + 2, "numbers right-aligned under their header"
    assert "***.533.447-**" in "\n".join(text) and "390.533.447-05" not in "\n".join(text)


def test_wrong_periods_are_refused_with_the_fix(desk, tmp_path):
    config = tmp_path / "empty.toml"
    config.write_text(f'[storage]\nurl = "{desk.running.settings.storage.url}"\n')
    done = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "report", "--month", "2026-13"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "YYYY-MM" in done.stderr
    done = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "report", "--from", "2026-11-01"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--to" in done.stderr
