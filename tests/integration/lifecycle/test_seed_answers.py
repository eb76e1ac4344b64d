"""Issue 15, bugs 7 and 9, as the seed desks met them, through the real
listener and the real pages: a dissatisfied homologation answer is never
accepted by the clock, a bare "nao resolveu" is asked its reason, and
sign-offs stay out of the data (survey comment, the solution the citizen
reads, the team's notice of an answer given on a page).

The scheduler is off; the deadlines run as `gateway sweep --now` runs them
(the CLI, in its own process, on the desk's database)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.mailfactory import make_mail
from tests.helpers.web import csrf_of, link_in
from tests.integration.lifecycle.conftest import ANALYST, CITIZEN_PASS, TEAM, TRUSTED, Desk, text_of
from tests.integration.lifecycle.test_deadlines_by_mail import cli

FERNANDA = "fernanda.lima@example.org"
AFTER_EVERY_LIMIT = "2026-12-31T12:00:00-03:00"  # weeks after any limit of the desk's settings
SOLUTION = "Acesse o menu Profissionais > Homologação e clique em Enviar."


@pytest.fixture
def desk(open_desk: Callable[..., Desk]) -> Desk:
    """The default desk, with only the sweeps a test runs."""
    return open_desk(schedule={"enabled": False})


def _fernanda_writes(desk: Desk, body: str, *, subject: str = "Erro ao homologar o registro profissional") -> None:
    """A mail of Fernanda Lima's, as her client writes it (proven by the MTA in front)."""
    if desk.protocol:
        subject = f"RES: [{desk.protocol}] {subject}"
        body += ("\n\nEm sex., 20 de nov. de 2026 às 10:00, Central de Atendimento <atendimento@example.gov.br> "
                 "escreveu:\n> texto antigo\n")
    desk._send(FERNANDA, desk.running.address, make_mail(subject=subject, body=body, trace=CITIZEN_PASS,
                                                         sender=f"Fernanda Lima <{FERNANDA}>"))
    desk.protocol = desk.protocol or desk.running.tickets()[-1]["protocol"]


def _analyst_writes(desk: Desk, body: str) -> None:
    """The analyst's reply exactly as written: ``body``, then the quoted notice (no signature added)."""
    reply_to = f"atendimento+{desk.protocol}@example.gov.br"
    desk._send(ANALYST, reply_to, make_mail(
        subject=f"RE: [{desk.protocol}] Novo chamado: Erro ao homologar o registro profissional",
        sender=f"Maria Lima <{ANALYST}>", to=reply_to, trace=dict([TRUSTED.split(": ", 1)]),
        body=f"{body}\n\n-----Mensagem original-----\nDe: Central\nAssunto: [{desk.protocol}] Novo chamado\n\n"
             "> texto antigo\n"))


def _solved(desk: Desk) -> None:
    _fernanda_writes(desk, "Não consigo homologar o registro da profissional.")
    _analyst_writes(desk, f"#solucao\n{SOLUTION}")
    assert desk.ticket()["status"] == "solved"


def _to_fernanda(desk: Desk, kind: str) -> list[Any]:
    return desk.running.outbox(kind=kind, to=FERNANDA)


def _sweep_after_every_limit(desk: Desk, tmp_path: Path) -> dict[str, int]:
    result = cli(desk, tmp_path, "sweep", "--now", AFTER_EVERY_LIMIT, "--json")
    assert result.returncode == 0, result.stderr.decode()
    done: dict[str, int] = {}
    for run in json.loads(result.stdout):
        for kind, count in run["done"].items():
            done[kind] = done.get(kind, 0) + count
    return done


def _survey_of(desk: Desk) -> tuple[int | None, str | None]:
    from gateway.store import tickets

    with desk.running.gateway.db.transaction() as tx:
        row = tickets.by_protocol(tx, desk.protocol)
        return row.survey_score, row.survey_comment


# -- bug 7: dissatisfaction is never accepted by the clock ---------------------------------------------

def test_a_dissatisfied_homologation_answer_is_a_refusal_never_auto_accepted(desk, tmp_path):
    _solved(desk)

    _fernanda_writes(desk, "Em andamento: preciso de mais explicações, não encontro o menu")

    ticket = desk.ticket()
    assert ticket["status"] == "open", "asking for more is a refusal: the work goes on"
    [refused] = [e for e in ticket["events"] if e["kind"] == "refused"]
    assert refused["note"] == "Em andamento: preciso de mais explicações, não encontro o menu", "its text is the reason"
    assert _to_fernanda(desk, "clarification") == [], "no 'answer SIM or NÃO'"
    [team] = [m for m in desk.running.outbox(kind="team_followup", to=TEAM) if "RECUSOU" in text_of(m)]
    assert "não encontro o menu" in text_of(team)

    done = _sweep_after_every_limit(desk, tmp_path)
    assert "auto_accept" not in done
    assert desk.ticket()["status"] == "open" and _to_fernanda(desk, "closed_auto_accepted") == []
    assert _to_fernanda(desk, "survey") == []


def test_an_unclear_answer_stops_the_clock_and_the_team_is_asked_to_read_it(desk, tmp_path):
    _solved(desk)

    _fernanda_writes(desk, "Vou conversar com a coordenação da unidade e depois vejo isso.")

    ticket = desk.ticket()
    assert ticket["status"] == "solved" and ticket["due_kind"] != "auto_accept"
    assert len(_to_fernanda(desk, "clarification")) == 1, "the requester is asked once, as before"
    [team] = [m for m in desk.running.outbox(kind="team_followup", to=TEAM) if "coordenação" in text_of(m)]
    assert "um analista precisa ler" in text_of(team) and "aceite automático está suspenso" in text_of(team)

    done = _sweep_after_every_limit(desk, tmp_path)
    assert "auto_accept" not in done and "remind_solved" not in done
    assert desk.ticket()["status"] == "solved", "waiting for a person, not for the clock"
    assert _to_fernanda(desk, "closed_auto_accepted") == [] and _to_fernanda(desk, "survey") == []


def test_a_thanks_leaves_the_promised_auto_acceptance(desk, tmp_path):
    """The control: silence (or a thanks) still accepts, as the solution mail promised."""
    _solved(desk)
    _fernanda_writes(desk, "Obrigada pelo retorno!")
    assert desk.ticket()["due_kind"] in ("remind_solved", "auto_accept")

    done = _sweep_after_every_limit(desk, tmp_path)
    assert done.get("auto_accept") == 1 and desk.ticket()["status"] == "closed"


def test_nao_resolveu_alone_is_asked_qual_o_motivo(desk, tmp_path):
    _solved(desk)

    _fernanda_writes(desk, "nao resolveu")

    ticket = desk.ticket()
    assert ticket["status"] == "solved" and "refused" not in [e["kind"] for e in ticket["events"]], \
        "'nao resolveu' is no reason"
    [asked] = _to_fernanda(desk, "refusal_reason_request")
    assert "Qual o motivo?" in text_of(asked)
    assert "auto_accept" not in _sweep_after_every_limit(desk, tmp_path), "a 'no' is never accepted by the clock"

    _fernanda_writes(desk, "O botão Enviar não aparece na tela de homologação.")
    [refused] = [e for e in desk.ticket()["events"] if e["kind"] == "refused"]
    assert refused["note"] == "O botão Enviar não aparece na tela de homologação." and desk.ticket()["status"] == "open"


# -- bug 9: sign-offs are no data -----------------------------------------------------------------------

def test_the_requesters_name_is_no_survey_comment(desk):
    _solved(desk)
    _fernanda_writes(desk, "Sim, resolvido.")
    assert desk.ticket()["status"] == "closed" and len(_to_fernanda(desk, "survey")) == 1

    _fernanda_writes(desk, "nota 5\nFernanda")

    assert _survey_of(desk) == (5, None)
    [answered] = [e for e in desk.ticket()["events"] if e["kind"] == "survey_answered"]
    assert answered["note"] == "nota 5", "not 'nota 5: Fernanda'"


def test_the_analysts_sign_off_does_not_reach_the_citizen_in_the_solution(desk):
    _fernanda_writes(desk, "Não consigo homologar o registro da profissional.")

    _analyst_writes(desk, f"#solucao\n{SOLUTION}\n\nAtt., Maria\nAnalista")

    [solution] = _to_fernanda(desk, "solution")
    assert SOLUTION in text_of(solution)
    assert "Att., Maria" not in text_of(solution) and "Analista" not in text_of(solution)
    [solved] = [e for e in desk.ticket()["events"] if e["kind"] == "solved"]
    assert solved["note"] == SOLUTION, "the proposal the pages show is the solution alone"


def test_accepting_on_the_page_sends_no_empty_notice_to_the_team(desk):
    _solved(desk)
    before = len(desk.running.outbox(kind="team_followup", to=TEAM))
    [solution] = _to_fernanda(desk, "solution")
    path = "/" + link_in(solution, "s").split("/", 3)[3]
    with httpx.Client(base_url=desk.running.settings.web.base_url, timeout=30) as browser:
        page = browser.get(path)
        done = browser.post(path, data={"csrf_token": csrf_of(page.text), "answer": "accept"})
    assert done.status_code == 200 and desk.ticket()["status"] == "closed"

    notices = desk.running.outbox(kind="team_followup", to=TEAM)[before:]
    for notice in notices:
        body = text_of(notice)
        assert "Nova mensagem" not in notice["Subject"] and "Nova mensagem" not in body, "no mail came"
        assert "ACEITOU" in body and "página de acompanhamento" in body, "what happened, and where"
        html = notice.get_body(("html",)).get_content()
        assert "<pre" not in html, "no empty message block"
    assert len(notices) == 1
