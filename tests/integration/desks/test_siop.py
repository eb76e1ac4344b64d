"""SIOP support portal (seed 003) walked by mail.

The seed: users are known by CPF; states Novo, Atribuído, Aguardando,
Validar, Resolvido ("concluído, porém pode ainda ser reaberto"), Fechado; a
proposed solution is approved, or refused with an obligatory comment ("Assim
o chamado será reaberto"); "prazo máximo de 10 dias" for the user's
interaction, after which the ticket is "automaticamente encerrado e dado como
solucionado"; the survey is 1 to 5 stars plus an optional comment.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.integration.desks.conftest import generate_cpf, utc

SIOP = "siop@example.gov.br"


def listed(desk) -> dict[str, str]:
    """``gateway tickets list --json`` as of the desk's clock: protocol -> status as the desk names it."""
    result = subprocess.run([sys.executable, "-m", "gateway", "--config", str(desk.config), "tickets", "list",
                             "--json", "--now", desk.clock.now().isoformat()],
                            capture_output=True, timeout=120, cwd=desk.config.parent)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return {row["protocol"]: row["status_label"] for row in json.loads(result.stdout)}


def test_siop_validar_ten_days_then_resolved_and_still_reopenable(open_seed_desk):
    desk = open_seed_desk(SIOP)

    # Without the CPF the desk cannot find the user: asked for.
    protocol = desk.citizen_writes("Emendas parlamentares: indicação de beneficiário",
                                   "A indicação do beneficiário não aparece na emenda.\n\nNome: Ana Souza")
    assert desk.status() == "waiting" and desk.ticket()["category"] == "SIOP Emendas Parlamentares"
    assert "CPF" in desk.last("missing_fields")
    desk.citizen_replies(f"CPF: {generate_cpf(3)}")
    assert desk.status() == "open"

    # Aguardando: the user has 10 days to interact.
    desk.analyst_replies("#aguardando\nQual o número da emenda e o exercício?")
    question = desk.last("question")
    assert "Qual o número da emenda" in question and "03/12/2026" in question, "Monday + 10 days"
    desk.citizen_replies("Emenda 2026.0042, exercício 2026.")
    assert desk.status() == "open"

    # Validar: a refusal needs its reason; a bare "Não" is asked for it.
    desk.analyst_replies("#solucao\nLiberamos o perfil de edição de emendas; tente salvar de novo.")
    solution = desk.last("solution")
    assert "10 dias" in solution and "03/12/2026" in solution
    assert "sem possibilidade de reabertura" not in solution, "a reply may still reopen it (reopen_window)"
    desk.citizen_replies("Não")
    assert desk.status() == "solved" and desk.kinds()[-1] == "refusal_reason_request"
    desk.citizen_replies("O botão salvar continua desabilitado.")
    assert desk.status() == "open"
    [refused] = [e for e in desk.ticket()["events"] if e["kind"] == "refused"]
    assert "botão salvar continua desabilitado" in refused["note"]

    # No interaction in 10 days: closed and given as solved; the survey asks for stars.
    desk.analyst_replies("#solucao\nCorrigimos a permissão do botão salvar.")
    assert desk.sweep(utc(3, 12, 59, month=12)).get("auto_accept") is None
    assert desk.sweep(utc(3, 13, month=12)) == {"auto_accept": 1}
    assert desk.status() == "closed"
    closing = desk.last("closed_auto_accepted")
    assert "13/12/2026" in closing, "the closing mail says until when a reply reopens"
    assert "5" in desk.last("survey")
    desk.citizen_replies("⭐⭐⭐⭐ Bom atendimento.")
    [answered] = [e for e in desk.ticket()["events"] if e["kind"] == "survey_answered"]
    assert answered["note"].startswith("nota 4") and "Bom atendimento" in answered["note"]
    assert len(desk.running.tickets()) == 1, "stars are an answer, not a new ticket"

    # Resolvido "pode ainda ser reaberto": a reply within the 10 days reopens the same ticket.
    desk.sweep(utc(5, 13, month=12))
    desk.citizen_replies("O erro voltou hoje ao salvar outra emenda.")
    assert desk.status() == "open" and len(desk.running.tickets()) == 1
    assert "reopened" in desk.events()
    assert desk.kinds()[-1] == "reopened" and desk.protocol in desk.last("reopened"), "the citizen is told"

    desk.analyst_replies("#solucao\nAjustamos também o perfil da outra unidade orçamentária.")
    desk.citizen_replies("Sim, agora salvou.")
    assert desk.status() == "closed"

    # After the window a reply is a new ticket, linked to the old one.
    desk.sweep(utc(20, 13, month=12))
    desk.citizen_replies("Preciso de acesso a outra emenda.")
    assert desk.status(protocol) == "closed" and len(desk.running.tickets()) == 2
    [new] = [t["protocol"] for t in desk.running.tickets() if t["protocol"] != protocol]
    assert desk.ticket(new)["linked_to"] == protocol


def test_siop_mails_and_lists_use_the_portal_status_names(open_seed_desk):
    desk = open_seed_desk(SIOP)
    protocol = desk.citizen_writes("Erro ao salvar emenda parlamentar",
                                   f"Ao salvar aparece mensagem de erro.\n\nNome: Ana Souza\nCPF: {generate_cpf(4)}")
    assert "Situação: Novo" in desk.last("ack")
    assert listed(desk)[protocol] == "Novo"
    desk.analyst_replies("#aguardando\nQual o número da emenda?")
    assert "Aguardando" in desk.last("question") and listed(desk)[protocol] == "Aguardando"
    desk.citizen_replies("Emenda 2026.0042.")
    assert listed(desk)[protocol] == "Atribuído"
    desk.analyst_replies("#solucao\nLiberamos o perfil de edição.")
    assert "Validar" in desk.last("solution") and listed(desk)[protocol] == "Validar"
    desk.citizen_replies("Sim, resolvido.")
    assert listed(desk)[protocol] == "Resolvido", "closed, but a reply may still reopen it"
    desk.clock.set(utc(20, 13, month=12))
    assert listed(desk)[protocol] == "Fechado", "the reopening window has run out"
