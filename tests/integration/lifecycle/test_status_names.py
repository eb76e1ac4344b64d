"""Each desk's own status names (issue 15), end to end: a real gateway over
SMTP, the tracking page over HTTP, and `gateway tickets` as a process.

A SIOP-like desk names its states as the portal's "meus chamados" counts
them (Novo, Atribuído, Aguardando, Validar, Resolvido, Fechado); a CAU/SP-
like desk as its professionals know them (Aberto, Pendente Profissional,
Homologando).  What the citizen reads in each mail and on the page, and
what an operator types and reads in `gateway tickets`, are those words."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.web import csrf_of, link_in
from tests.integration.lifecycle.conftest import ANALYST, CITIZEN, TEAM, Desk, text_of

SIOP = {"new": "Novo", "assigned": "Atribuído", "open": "Atribuído", "waiting": "Aguardando",
        "solved": "Validar", "resolved": "Resolvido", "closed": "Fechado"}
CAUSP = {"new": "Aberto", "assigned": "Aberto", "open": "Em andamento", "waiting": "Pendente Profissional",
         "solved": "Homologando", "accepted": "Homologado", "closed": "Fechado"}
JOAO = "joao.pereira@example.gov.br"


@pytest.fixture
def named_desk(open_desk: Callable[..., Desk]) -> Callable[..., Desk]:
    """A desk with its own status names; only the sweeps a test runs happen."""
    def start(names: dict[str, str], **mailbox: Any) -> Desk:
        return open_desk(schedule={"enabled": False}, status_names=names, analysts=[ANALYST, JOAO], **mailbox)
    return start


def page_status(desk: Desk) -> str:
    """The status the tracking page (the link in the acknowledgement) shows."""
    [ack] = desk.to_citizen("ack")
    with httpx.Client(timeout=30) as client:
        html = client.get(link_in(ack, "t")).text
    return html.split('<span class="status">', 1)[1].split("</span>", 1)[0]


def tickets_cli(desk: Desk, tmp_path: Path, *args: str) -> Any:
    """`gateway tickets ... --json` on the desk's database, with its mailbox as configured."""
    mailbox = desk.running.settings.mailboxes[0]
    names = "".join(f'{state} = "{name}"\n' for state, name in mailbox.status_names)
    window = f'reopen_window = "{mailbox.reopen_window}"\n' if mailbox.reopen_window else ""
    config = tmp_path / "cli.toml"
    config.write_text(f'[storage]\nurl = "{desk.running.settings.storage.url}"\n'
                      f'[outbound]\npath = "{tmp_path / "cli-outbox"}"\n'
                      f'[[mailbox]]\naddress = "{mailbox.address}"\nprotocol_prefix = "ATD"\nteam = ["{TEAM}"]\n'
                      f'{window}[mailbox.status_names]\n{names}', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "tickets", *args, "--json"],
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def test_atribuir_shows_atribuido_to_the_citizen_on_the_page_and_in_the_next_mail(named_desk, tmp_path):
    desk = named_desk(SIOP)
    protocol = desk.citizen_writes(subject="Erro ao registrar emenda", body="Não consigo registrar a emenda.")
    assert "Situação: Novo" in text_of(desk.to_citizen("ack")[0])
    assert page_status(desk) == "Novo"

    desk.analyst_replies(f"#atribuir {JOAO}")
    assert desk.ticket()["status"] == "assigned", "handed over, nobody has acted on it yet"
    assert page_status(desk) == "Atribuído"
    [done] = desk.to_analyst("command_done")
    assert f"({SIOP['assigned']})" in text_of(done)
    assert [row["status_label"] for row in tickets_cli(desk, tmp_path, "list", "--status", "atribuído")] == [
        "Atribuído"]
    assert tickets_cli(desk, tmp_path, "show", protocol)["status_label"] == "Atribuído"

    # The citizen asks for the link again: the next mail they get says where the request is.
    base = desk.running.settings.web.base_url
    with httpx.Client(base_url=base, timeout=30) as client:
        token = csrf_of(client.get("/consulta").text)
        assert client.post("/consulta", data={"csrf_token": token, "protocol": protocol,
                                              "email": CITIZEN}).status_code == 200
    [link] = desk.to_citizen("tracking_link")
    assert "Situação: Atribuído" in text_of(link)

    desk.analyst_replies("Estamos verificando o cadastro da emenda.", sender=JOAO)
    assert desk.ticket()["status"] == "open", "the assignee's first action takes the ticket up"
    assert "Situação: Atribuído" in text_of(desk.to_citizen("analyst_reply")[-1])


def test_causp_question_and_solution_mails_say_pendente_profissional_and_homologando(named_desk, tmp_path):
    desk = named_desk(CAUSP)
    desk.citizen_writes(subject="RRT não aparece", body="O RRT 1234567 não aparece no SICCAU.")
    assert "Situação: Aberto" in text_of(desk.to_citizen("ack")[0])

    desk.analyst_replies("#aguardando\nEnvie o print da tela do SICCAU, por favor.")
    [question] = desk.to_citizen("question")
    assert "Pendente Profissional" in text_of(question)
    assert "Pendente Profissional" in question.get_body(("html",)).get_content()
    assert page_status(desk) == "Pendente Profissional"
    [listed] = tickets_cli(desk, tmp_path, "list", "--status", "pendente profissional")
    assert listed["status"] == "waiting" and listed["status_label"] == "Pendente Profissional"

    desk.citizen_replies("Segue a descrição: a tela mostra 'RRT inexistente'.")
    assert page_status(desk) == "Em andamento"
    desk.analyst_replies("#solucao\nO RRT foi reprocessado e já aparece no SICCAU.")
    [solution] = desk.to_citizen("solution")
    assert "Situação do chamado: Homologando" in text_of(solution)
    assert page_status(desk) == "Homologando"

    # No answer within solved_limit: the solution is homologated for the professional.
    desk.clock.set(desk.clock.now() + timedelta(days=30))
    assert sum(result.done.get("auto_accept", 0) for result in desk.running.gateway.sweep_all()) == 1
    assert "Situação do chamado: Homologado" in text_of(desk.to_citizen("closed_auto_accepted")[0])
    assert page_status(desk) == "Homologado"


def test_causp_ticket_closed_for_no_answer_is_fechado_never_homologado(named_desk):
    desk = named_desk(CAUSP)
    desk.citizen_writes(subject="RRT não aparece", body="O RRT 1234567 não aparece no SICCAU.")
    desk.analyst_replies("#aguardando\nEnvie o print da tela do SICCAU, por favor.")
    desk.clock.set(desk.clock.now() + timedelta(days=30))
    assert sum(result.done.get("no_response", 0) for result in desk.running.gateway.sweep_all()) == 1
    assert desk.ticket()["status"] == "closed" and page_status(desk) == "Fechado"


def test_a_closed_ticket_is_resolvido_within_the_reopen_window_and_fechado_after_it(named_desk, tmp_path):
    desk = named_desk(SIOP, reopen_window="10d")
    protocol = desk.citizen_writes(subject="Erro ao registrar emenda", body="Não consigo registrar a emenda.")
    desk.analyst_replies("#solucao\nO perfil de emendas foi liberado.")
    assert "Situação do chamado: Validar" in text_of(desk.to_citizen("solution")[0])
    desk.citizen_replies("SIM, resolvido. Obrigada!")
    assert desk.ticket()["status"] == "closed"
    assert page_status(desk) == "Resolvido"

    closed_at = datetime.fromisoformat(next(e["at"] for e in desk.ticket()["events"] if e["kind"] == "accepted"))
    within, after = closed_at + timedelta(days=9), closed_at + timedelta(days=10, minutes=1)
    [shown] = tickets_cli(desk, tmp_path, "list", "--now", within.isoformat())
    assert shown["status_label"] == "Resolvido"
    assert [t["protocol"] for t in tickets_cli(desk, tmp_path, "list", "--status", "resolvido",
                                               "--now", within.isoformat())] == [protocol]
    assert tickets_cli(desk, tmp_path, "list", "--status", "fechado", "--now", within.isoformat()) == []

    desk.clock.set(after)
    assert page_status(desk) == "Fechado", "the reopening window ran out"
    [shown] = tickets_cli(desk, tmp_path, "list", "--now", after.isoformat())
    assert shown["status_label"] == "Fechado"
    assert tickets_cli(desk, tmp_path, "list", "--status", "resolvido", "--now", after.isoformat()) == []
    assert [t["protocol"] for t in tickets_cli(desk, tmp_path, "list", "--status", "closed",
                                               "--now", within.isoformat())] == [protocol], "the stored value: all"


def test_a_rule_that_assigns_makes_the_new_ticket_atribuido(named_desk, tmp_path):
    rules = tmp_path / "siop.toml"
    rules.write_text(f'[[rule]]\nname = "emendas"\nwhen.kind = "new"\nwhen.subject.phrases = ["emenda"]\n'
                     f'assign = "{JOAO}"\n', encoding="utf-8")
    desk = named_desk(SIOP, rules=str(rules))
    desk.citizen_writes(subject="Erro ao registrar emenda", body="Não consigo registrar a emenda.")
    ticket = desk.ticket()
    assert (ticket["status"], ticket["assignee"]) == ("assigned", JOAO)
    assert "Situação: Atribuído" in text_of(desk.to_citizen("ack")[0])
    desk.analyst_replies("#aguardando\nQual o número da emenda?", sender=JOAO)
    assert [(e["kind"], e["from"], e["to"]) for e in desk.ticket()["events"] if e["to"]] == [
        ("created", None, "new"), ("assigned", "new", "assigned"), ("opened", "assigned", "open"),
        ("asked", "open", "waiting")]
    assert "Situação do chamado: Aguardando" in text_of(desk.to_citizen("question")[0])

