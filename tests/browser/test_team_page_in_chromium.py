"""The read-only team page in a real Chromium, over tickets made by mail.

The tickets are ``gateway report``'s story (tests/integration/test_report.py:
three tickets opened, answered, returned, solved, surveyed and reopened by
mails through the real SMTP listener, with the clock moved by hand).  Maria
logs in with the password of her ``credentials_file`` line, filters and
searches the queue, opens a thread (the CPF in it masked), reads the
report, whose charts must carry the numbers ``gateway report --json``
prints for the same month, and logs out, after which her old cookie opens
nothing.  Screenshots at 1280 and 390 px go to test-output/screenshots/,
and no page may scroll sideways on the phone.
"""

from __future__ import annotations

import re

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.credentials import hash_password
from gateway.config import Settings
from tests.browser.conftest import SCREENSHOTS, opened_page
from tests.integration.lifecycle.conftest import ANALYST, CITIZEN, desk_settings, open_desk  # noqa: F401 - fixtures
from tests.integration.test_report import NOW, as_json, desk  # noqa: F401 - the story's fixture

pytestmark = pytest.mark.browser

PASSWORD = "correta-cavalo-bateria-grampo"
PHONE = 390


@pytest.fixture
def make_settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Callable[..., Settings]:
    """The story's desk with a credentials file: Maria's password opens the team page."""
    credentials = tmp_path / "analysts.passwd"
    credentials.write_text(f"{ANALYST}:{hash_password(PASSWORD, iterations=1000)}\n")

    def make(**overrides: Any) -> Settings:
        overrides.setdefault("submission", {"credentials_file": str(credentials)})
        return make_settings(**overrides)
    return make


@pytest.fixture
def wide(browser: Any) -> Iterator[Any]:
    yield from opened_page(browser, 1280)


def shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5000, f"{path} looks empty"


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE, f"{page.url} scrolls sideways on a phone: {width}px wide"


def log_in(page: Any, base: str) -> None:
    page.goto(base + "/equipe")
    assert "/equipe/entrar" in page.url, "no session: the queue sends to the login"
    page.get_by_label("E-mail").fill(ANALYST)
    page.get_by_label("Senha").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    page.get_by_role("heading", name="Fila de chamados").wait_for()


def queue_protocols(page: Any) -> list[str]:
    return page.locator("#queue tbody tr").evaluate_all("rows => rows.map(r => r.dataset.protocol)") \
        if page.locator("#queue").count() else []


def test_queue_thread_report_and_logout(desk, wide, phone, tmp_path):  # noqa: F811 - desk is the story
    story = desk.story
    base = desk.running.settings.web.base_url
    desk.clock.set(datetime.fromisoformat(NOW))  # the page's "now" is the report command's --now

    log_in(wide, base)
    assert sorted(queue_protocols(wide)) == sorted(story.values())
    shoot(wide, "team-queue-1280")

    # filter: status "Em andamento" (open) is C alone; "Devolvido" (rejected) is B alone
    wide.get_by_label("Situação").select_option("open")
    wide.get_by_role("button", name="Aplicar").click()
    wide.wait_for_url("**status=open**")
    assert queue_protocols(wide) == [story["C"]]
    wide.get_by_label("Situação").select_option("rejected")
    wide.get_by_role("button", name="Aplicar").click()
    wide.wait_for_url("**status=rejected**")
    assert queue_protocols(wide) == [story["B"]]
    wide.get_by_role("link", name="Limpar filtros").click()
    wide.wait_for_url(base + "/equipe")
    wide.get_by_label("Categoria").fill("Cadastro")
    wide.get_by_role("button", name="Aplicar").click()
    wide.wait_for_url("**category=Cadastro**")
    assert queue_protocols(wide) == [story["A"]]

    # search: a protocol, a word of a subject, the requester's address
    for query, expected in ((story["B"].lower(), [story["B"]]), ("certidão", [story["B"]]),
                            ("cadastro foi corrigido", [story["A"]]), (CITIZEN, sorted(story.values()))):
        wide.goto(base + "/equipe")
        wide.get_by_label("Buscar").fill(query)
        wide.get_by_role("button", name="Aplicar").click()
        wide.wait_for_url("**q=**")
        assert sorted(queue_protocols(wide)) == expected, query

    # a thread: the messages, the events, the CPF masked
    wide.goto(base + "/equipe")
    wide.get_by_role("link", name=story["A"]).click()
    wide.get_by_role("heading", name=f"Chamado {story['A']}").wait_for()
    thread = wide.locator("#messages").inner_text()
    assert "O cadastro foi corrigido." in thread and "bom atendimento" in thread
    assert "***.533.447-**" in wide.content() and "390.533.447-05" not in wide.content()
    assert "accepted" in wide.locator("#events").inner_text()
    # the solution and survey mails to Ana are there, but their deciding links are hers alone
    assert "Propomos a seguinte solução" in thread and "Como você avalia o atendimento" in thread
    assert not re.search(r"/[sp]/[A-Za-z0-9_.\-]{20,}", wide.content()) and "[link]" in wide.content()
    shoot(wide, "team-ticket-1280")

    # the report: charts present, and their numbers are `gateway report --json`'s
    wide.goto(base + "/equipe/relatorio?month=2026-11")
    expected = as_json(desk, tmp_path, "--month", "2026-11", "--by", "week")
    charts = {name: wide.locator(f"svg#chart-{name}") for name in ("weeks", "sla", "survey")}
    for name, chart in charts.items():
        assert chart.get_attribute("role") == "img" and chart.locator("title").first.text_content(), name
    weeks = [row for row in expected["rows"] if row["key"] != "total"]
    assert len(weeks) == 2
    assert _desc(charts["weeks"]) == "; ".join(f"{row['key']}: {row['opened']}" for row in weeks)
    assert _desc(charts["sla"]) == "; ".join(
        f"{row['category']} — {name}: {_percent(row[key]['met_percent'])}"
        for row in expected["sla"] for key, name in (("first_response", "1ª resposta"), ("resolution", "Solução")))
    assert _desc(charts["survey"]) == "; ".join(f"{score}: {count}"
                                                for score, count in expected["satisfaction"]["distribution"].items())
    # the numbers are on the page as text too
    total = wide.locator('#figures tr[data-key="total"]')
    for figure in ("opened", "closed", "returned", "reopened"):
        assert total.locator(f'[data-figure="{figure}"]').inner_text() == str(expected["rows"][-1][figure])
    assert wide.locator('#satisfaction [data-score="4"]').inner_text() == "1"
    assert "390.533.447-05" not in wide.content()
    shoot(wide, "team-report-1280")

    # on a phone: every page readable without sideways scrolling
    log_in(phone, base)
    for path, name in (("/equipe", "queue"), (f"/equipe/chamado/{story['A']}", "ticket"),
                       ("/equipe/relatorio?month=2026-11", "report")):
        phone.goto(base + path)
        no_sideways_scroll(phone)
        shoot(phone, f"team-{name}-390")
    assert phone.locator("svg#chart-sla").bounding_box()["width"] <= PHONE

    # logout ends the session: the old cookie, replayed, is sent to the login
    [old] = [c for c in wide.context.cookies() if c["name"] == "gateway_team"]
    assert old["httpOnly"] and old["sameSite"] == "Strict"
    wide.goto(base + "/equipe")
    wide.get_by_role("button", name="Sair").click()
    wide.get_by_text("Você saiu").wait_for()
    assert not [c for c in wide.context.cookies() if c["name"] == "gateway_team"]
    replay = wide.context.browser.new_context(locale="pt-BR")
    replay.add_cookies([old])
    again = replay.new_page()
    again.goto(base + "/equipe")
    assert "/equipe/entrar" in again.url and again.get_by_role("heading", name="Entrar na página da equipe").is_visible()
    replay.close()
    answer = httpx.get(base + "/equipe", cookies={"gateway_team": old["value"]}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/equipe/entrar")


def test_the_team_page_speaks_english_too(desk, wide):  # noqa: F811
    base = desk.running.settings.web.base_url
    log_in(wide, base)
    wide.goto(base + "/equipe/relatorio?month=2026-11&lang=en")
    assert wide.get_by_role("heading", name="Tickets opened per week").is_visible()
    assert wide.locator("svg#chart-survey title").first.text_content() == "Satisfaction survey scores (1 to 5)"
    wide.goto(base + "/equipe?lang=en")
    assert wide.get_by_role("heading", name="Ticket queue").is_visible()


def _desc(chart: Any) -> str:
    return str(chart.locator("desc").text_content())


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:g}%"
