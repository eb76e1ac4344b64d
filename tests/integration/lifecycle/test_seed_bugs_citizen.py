"""Issue 15, bugs 1, 2 and 6, as the seed desks met them, through the real
listener: a reply to a closed ticket that becomes a new ticket is judged as
a new request; a star rating answers the survey; and a mail promises only
what the mailbox's settings keep."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.mailfactory import make_mail
from tests.integration.lifecycle.conftest import CITIZEN, CITIZEN_PASS, TEAM, Desk, text_of
from tests.unit.rules.rule_helpers import generate_cpf

RULES = Path(__file__).resolve().parents[3] / "rules"



def _survey(desk: Desk) -> tuple[int | None, str | None]:
    """The survey result on the ticket's row (``tickets show`` does not show it yet: issue 15, bug 10)."""
    from gateway.store import tickets

    with desk.running.gateway.db.transaction() as tx:
        row = tickets.by_protocol(tx, desk.protocol)
        return row.survey_score, row.survey_comment


def _citizen_sends(desk: Desk, subject: str, body: str, *, proven: bool = True, **headers: Any) -> None:
    """A mail as the citizen's client writes it (``headers``: make_mail's keywords)."""
    desk._send(CITIZEN, desk.running.address, make_mail(subject=subject, body=body, sender=f"Ana Souza <{CITIZEN}>",
                                                        trace=CITIZEN_PASS if proven else {}, **headers))


def _solved_and_accepted(desk: Desk) -> None:
    desk.analyst_replies("#solucao\nAtualize o sistema para a versão 3.2 e tente de novo.")
    desk.citizen_replies("Sim, resolvido. Obrigado!")
    assert desk.ticket()["status"] == "closed"


# -- bug 1: a reply to a closed ticket that cannot reopen it ---------------------------------------

@pytest.fixture
def cnes(open_desk: Callable[..., Desk]) -> Desk:
    """The CNES desk of the seeds: its rules (required data, categories, assignee), no reopening."""
    return open_desk(protocol_prefix="CNES", rules=str(RULES / "cnes.toml"), schedule={"enabled": False})


def test_a_reply_to_a_closed_ticket_is_judged_as_a_new_request(cnes):
    cpf = generate_cpf(random.Random(15))
    old = cnes.citizen_writes(body=f"Não consigo incluir a enfermeira.\n\nNome: Ana Souza\nTelefone: (61) 99999-8888\n"
                                   f"CPF: {cpf}\nUF: DF\n")
    assert cnes.ticket()["category"] == "funcionalidade", "the first mail is judged by the rules"
    _solved_and_accepted(cnes)

    _citizen_sends(cnes, f"RES: [{old}] Solicitação recebida: Erro ao incluir profissional no CNES",
                   "O erro voltou.\n\nEm sex., 20 de nov. de 2026, Central escreveu:\n> texto antigo\n")
    [_, new] = [t["protocol"] for t in cnes.running.tickets()]
    ticket = cnes.running.ticket(new)
    assert ticket["subject"] == "Erro ao incluir profissional no CNES", "no reply prefix, no old protocol"
    assert ticket["category"] == "funcionalidade" and ticket["assignee"] == "equipe.cnes@example.gov.br"
    assert ticket["status"] == "waiting", "the data a new request needs are asked for"
    [asked] = [m for m in cnes.to_citizen("missing_fields") if new in m["Subject"]]
    assert old not in asked["Subject"], "one protocol in the subject: the new one"
    assert f"{old}" in text_of(asked) and "encerrado" in text_of(asked), "the citizen is told why a new protocol"
    assert cnes.to_citizen("ack")[-1]["Subject"].startswith(f"[{old}]"), "no acknowledgement: the data come first"
    assert any(old in e["note"] for e in ticket["events"]), "the new ticket names the old one"
    assert any(new in e["note"] for e in cnes.running.ticket(old)["events"]), "the old ticket names the new one"
    [team_new] = [m for m in cnes.running.outbox("team_new", to=TEAM) if new in m["Subject"]]
    assert old not in team_new["Subject"]


def test_a_new_ticket_from_a_closed_one_is_acknowledged_with_both_protocols_explained(cnes):
    cpf = generate_cpf(random.Random(16))
    data = f"Nome: Ana Souza\nTelefone: (61) 99999-8888\nCPF: {cpf}\nUF: DF\n"
    old = cnes.citizen_writes(body=f"Não consigo incluir a enfermeira.\n\n{data}")
    _solved_and_accepted(cnes)

    _citizen_sends(cnes, f"ENC: RES: [{old}] Erro ao incluir profissional no CNES", f"O erro voltou.\n\n{data}")
    new = cnes.running.tickets()[-1]["protocol"]
    # Judged as new: CNES's rules assign it to the team, so it waits "assigned" (issue 15, status names).
    assert new != old and cnes.running.ticket(new)["status"] == "assigned"
    ack = cnes.to_citizen("ack")[-1]
    assert ack["Subject"] == f"[{new}] Solicitação recebida: Erro ao incluir profissional no CNES"
    body = text_of(ack)
    assert old in body and "encerrado" in body and new in body


# -- bug 2: a survey answered with stars -----------------------------------------------------------

def test_a_star_rating_answers_the_survey_and_stops_its_reminder(desk):
    desk.citizen_writes()
    _solved_and_accepted(desk)
    [survey] = desk.to_citizen("survey")

    _citizen_sends(desk, f"RES: {survey['Subject']}", "⭐⭐⭐⭐ Bom atendimento.\n\n> Como você avalia o atendimento?\n")
    assert len(desk.running.tickets()) == 1, "a rating opens no ticket"
    ticket = desk.ticket()
    assert _survey(desk) == (4, "Bom atendimento")
    assert len(desk.to_citizen("ack")) == 1 and len(desk.running.outbox("team_new", to=TEAM)) == 1
    assert ticket["due_kind"] != "survey_reminder"
    desk.sweep(desk.clock.now() + timedelta(days=10))
    assert desk.to_citizen("survey_reminder") == [], "an answered survey is not reminded"


@pytest.mark.parametrize(("answer", "score"), [("quatro", 4), ("Nota 4", 4), ("4/5", 4),
                                               ("muito satisfeito", 5), ("Homologado. Nota 5", 5),
                                               ("★★★☆☆", 3)])
def test_a_reply_threaded_to_the_survey_only_by_in_reply_to_is_an_answer(desk, answer, score):
    desk.citizen_writes()
    _solved_and_accepted(desk)
    [survey] = desk.to_citizen("survey")

    _citizen_sends(desk, "Re: avaliação", answer, in_reply_to=survey["Message-ID"])
    assert len(desk.running.tickets()) == 1
    assert _survey(desk)[0] == score


def test_an_unproven_star_rating_is_confirmed_by_link_not_applied(desk):
    desk.citizen_writes()
    _solved_and_accepted(desk)
    [survey] = desk.to_citizen("survey")

    _citizen_sends(desk, f"RES: {survey['Subject']}", "⭐⭐ Demorou.", proven=False)
    assert len(desk.running.tickets()) == 1
    assert _survey(desk)[0] is None
    [confirm] = desk.to_citizen("confirm_decision")
    assert "nota 2" in text_of(confirm)


def test_a_reply_to_the_survey_that_is_no_score_still_opens_a_new_ticket(desk):
    desk.citizen_writes()
    _solved_and_accepted(desk)
    [survey] = desk.to_citizen("survey")

    _citizen_sends(desk, f"RES: {survey['Subject']}", "O erro voltou hoje de manhã.")
    assert len(desk.running.tickets()) == 2
    assert _survey(desk)[0] is None


# -- bug 6: promises from the mailbox's settings ---------------------------------------------------

def test_the_solution_promises_no_reopening_where_there_is_none(desk):
    desk.citizen_writes()
    desk.analyst_replies("#solucao\nAtualize o sistema.")
    body = " ".join(text_of(desk.to_citizen("solution")[0]).split())
    assert "sem possibilidade de reabertura" in body and "3 dias úteis" in body


def test_the_solution_promises_the_reopen_window_and_the_real_limit(open_desk):
    siop = open_desk(solved_limit="10d", reopen_window="7d")
    siop.citizen_writes()
    siop.analyst_replies("#solucao\nAtualize o sistema.")
    body = " ".join(text_of(siop.to_citizen("solution")[0]).split())
    assert "sem possibilidade de reabertura" not in body
    assert "10 dias" in body and "úteis" not in body
    assert re.search(r"em até 7 dias .{0,40}reaberto", body), body


def test_a_closing_mail_says_until_when_a_reply_reopens(open_desk):
    siop = open_desk(reopen_window="7d")
    siop.citizen_writes()
    siop.analyst_replies("#fechar\nResolvido por telefone.")
    body = " ".join(text_of(siop.to_citizen("closed")[0]).split())
    # closed on Friday 20/11/2026 at 10h: 7 calendar days
    assert "até sexta-feira, 27/11/2026" in body and "reaberto" in body and "novo protocolo" in body


def test_a_closing_mail_promises_no_reopening_where_there_is_none(desk):
    desk.citizen_writes()
    desk.analyst_replies("#fechar\nResolvido por telefone.")
    body = " ".join(text_of(desk.to_citizen("closed")[0]).split())
    assert "reaberto" not in body and "novo protocolo" in body
