"""Each analyst command, forged analysts, and each kind of requester answer."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.integration.lifecycle.conftest import ANALYST, CITIZEN, TEAM, text_of


def test_internal_note_reaches_nobody_outside(desk):
    desk.citizen_writes()
    desk.analyst_replies("#interno\nVerificar com a equipe de banco de dados antes de responder.")
    ticket = desk.ticket()
    assert ticket["status"] == "open" and "note" in desk.events()
    assert [m["Subject"] for m in desk.to_citizen()] == [m["Subject"] for m in desk.to_citizen("ack")]
    analyst_messages = [m for m in ticket["messages"] if m["role"] == "analyst" and m["direction"] == "in"]
    assert analyst_messages[0]["internal"] is True
    assert "banco de dados" in [e for e in ticket["events"] if e["kind"] == "note"][0]["note"]


def test_assign_category_and_priority_are_recorded_and_confirmed(open_desk):
    desk = open_desk(assignable=["@example.gov.br"])  # the desk's own domain may take tickets
    desk.citizen_writes()
    desk.analyst_replies("#atribuir joao.pereira@example.gov.br\n#categoria Funcionalidade\n#prioridade alta")
    ticket = desk.ticket()
    assert (ticket["assignee"], ticket["category"], ticket["priority"]) == (
        "joao.pereira@example.gov.br", "Funcionalidade", "alta")
    assert {"assigned", "category", "priority"} <= set(desk.events())
    assert desk.to_citizen("analyst_reply") == [], "no text: nothing is relayed"
    [done] = desk.to_analyst("command_done")
    assert "joao.pereira@example.gov.br" in text_of(done) and "alta" in text_of(done)


def test_a_plain_reply_is_relayed_with_attachments_under_the_service_name(desk):
    desk.citizen_writes()
    pdf = b"%PDF-1.4\n" + b"0" * 200
    desk.analyst_replies("Bom dia, Ana. Segue o manual em anexo.", attachments=[("manual.pdf", "application/pdf", pdf)])
    [reply] = desk.to_citizen("analyst_reply")
    assert reply["From"].addresses[0].addr_spec == "atendimento@example.gov.br"
    assert "Segue o manual em anexo" in text_of(reply)
    assert "Analista de Suporte" not in text_of(reply) and "texto antigo" not in text_of(reply)
    assert [a.get_content() for a in reply.iter_attachments()] == [pdf]
    assert ANALYST not in reply.as_string()
    assert desk.ticket()["status"] == "open"
    assert desk.to_analyst("command_done") == [], "plain replies are not echoed"


def test_reject_tells_the_requester_why_and_where_to_go(desk):
    desk.citizen_writes()
    desk.analyst_replies("#devolver Problemas com a conta gov.br são atendidos em https://www.gov.br/governodigital "
                         "(opção 'Conta gov.br').")
    assert desk.ticket()["status"] == "rejected"
    [rejected] = desk.to_citizen("rejected")
    assert "Conta gov.br" in text_of(rejected) and "devolvida" in text_of(rejected)
    desk.citizen_replies("Mas eu preciso de ajuda!")
    assert len(desk.running.tickets()) == 2, "a rejected ticket is final: a later mail opens a new one"


def test_close_tells_the_requester_and_a_later_mail_opens_a_linked_ticket(desk):
    desk.citizen_writes()
    desk.analyst_replies("#fechar\nDemanda atendida por telefone.")
    ticket = desk.ticket()
    assert ticket["status"] == "closed" and "Demanda atendida por telefone" in text_of(desk.to_citizen("closed")[0])
    desk.citizen_replies("Tenho outra dúvida sobre o mesmo sistema.")
    tickets = desk.running.tickets()
    assert len(tickets) == 2
    assert desk.running.ticket(tickets[1]["protocol"])["linked_to"] == desk.protocol


def test_reopen_window_reopens_instead_of_opening_a_new_ticket(open_desk):
    desk = open_desk(reopen_window="7d")
    desk.citizen_writes()
    desk.analyst_replies("#fechar")
    desk.clock.advance(timedelta(days=2))
    desk.citizen_replies("O problema voltou hoje de manhã.")
    assert len(desk.running.tickets()) == 1 and desk.ticket()["status"] == "open"
    assert "reopened" in desk.events()
    desk.analyst_replies("#fechar")
    desk.clock.advance(timedelta(days=8))
    desk.citizen_replies("Voltou de novo.")
    assert len(desk.running.tickets()) == 2, "outside the window: a new, linked ticket"


@pytest.mark.parametrize(("body", "problem"), [
    ("#solucionar\nReinicie.", "comando desconhecido"),
    ("#atribuir maria\n", "e-mail"),
    ("#prioridade altíssima\n", "prioridade"),
    ("#solucao\n", "#solucao"),
    ("#aguardando\n#solucao\nTexto.", "juntos"),
])
def test_a_malformed_command_is_explained_to_the_analyst_and_nothing_reaches_the_citizen(desk, body, problem):
    desk.citizen_writes()
    desk.analyst_replies(body)
    ticket = desk.ticket()
    assert ticket["status"] == "new", "nothing was applied"
    assert [m["Subject"] for m in desk.to_citizen()] == [m["Subject"] for m in desk.to_citizen("ack")]
    [errors] = desk.to_analyst("command_errors")
    text = text_of(errors)
    assert re.search(r"Linha \d", text) and problem in text and "#aguardando" in text and "#solucao" in text
    assert "command_rejected" in desk.events()


def test_a_command_the_state_does_not_allow_is_refused_with_the_reason(desk):
    desk.citizen_writes()
    desk.analyst_replies("#fechar")
    desk.analyst_replies("#solucao\nOutra solução.")
    assert desk.ticket()["status"] == "closed"
    [errors] = desk.to_analyst("command_errors")
    assert "Fechado" in text_of(errors)


@pytest.mark.parametrize("proof", [
    None,
    "Authentication-Results: mx.attacker.example.net; dkim=pass header.d=example.gov.br",
    "Authentication-Results: mx.example.gov.br; dkim=pass header.d=attacker.example.net",
    "Authentication-Results: mx.example.gov.br; dkim=fail header.d=example.gov.br",
])
def test_a_forged_analyst_is_never_obeyed_nor_relayed_and_the_team_is_warned(desk, proof):
    desk.citizen_writes()
    desk.analyst_replies("#solucao\nClique neste link para resolver: http://phishing.example.net", proof=proof)
    ticket = desk.ticket()
    assert ticket["status"] == "new"
    assert desk.to_citizen("solution") == [] and desk.to_citizen("analyst_reply") == []
    [warning] = desk.running.outbox(kind="forged_warning", to=TEAM)
    assert ANALYST in warning["Subject"] and "quarentena" in text_of(warning)
    assert "forged_analyst" in desk.events()
    assert desk.running.quarantined()[0][0] == "act"


def test_a_refusal_without_reason_asks_for_it_and_the_next_reply_is_the_reason(desk):
    desk.citizen_writes()
    desk.analyst_replies("#solucao\nLimpe o cache do navegador.")
    desk.citizen_replies("Não.")
    assert desk.ticket()["status"] == "solved"
    [request] = desk.to_citizen("refusal_reason_request")
    assert "o que ainda não funciona" in text_of(request)
    desk.citizen_replies("A tela continua em branco depois de limpar o cache.")
    ticket = desk.ticket()
    assert ticket["status"] == "open"
    assert "A tela continua em branco" in [e for e in ticket["events"] if e["kind"] == "refused"][0]["note"]


@pytest.mark.parametrize("answer", ["Sim, mas ainda falta o relatório.", "Obrigado!", "ok", "Não sei ainda."])
def test_each_unclear_answer_keeps_the_solution_and_gets_one_clarification(desk, answer):
    desk.citizen_writes()
    desk.analyst_replies("#solucao\nLimpe o cache do navegador.")
    desk.citizen_replies(answer)
    assert desk.ticket()["status"] == "solved"
    [clarification] = desk.to_citizen("clarification")
    assert '"SIM"' in text_of(clarification) and "/s/" in text_of(clarification)
    incoming = [m for m in desk.ticket()["messages"] if m["direction"] == "in" and m["role"] == "requester"]
    assert answer.split()[0] in incoming[-1]["text"], "the answer is kept as a follow-up"


def test_an_out_of_office_reply_to_a_solution_neither_accepts_nor_refuses(desk):
    desk.citizen_writes()
    desk.analyst_replies("#solucao\nLimpe o cache do navegador.")
    raw_subject = f"Resposta automática: [{desk.protocol}] Solução proposta"
    from tests.helpers.mailfactory import make_mail

    desk._send(CITIZEN, desk.running.address, make_mail(subject=raw_subject, sender=CITIZEN,
                                                        headers={"Auto-Submitted": "auto-replied"},
                                                        body="Sim, estou de férias até dia 30."))
    assert desk.ticket()["status"] == "solved" and desk.to_citizen("clarification") == []


def test_english_mailbox_speaks_english(open_desk):
    desk = open_desk(language="en")
    desk.citizen_writes()
    desk.analyst_replies("#solucao\nPlease update to version 3.3.")
    body = text_of(desk.to_citizen("solution")[0])
    assert "Did it solve the problem?" in body and "3 business days" in body
    desk.citizen_replies("Yes, it works now.")
    assert desk.ticket()["status"] == "closed"
    assert "5 - Very satisfied" in text_of(desk.to_citizen("survey")[0])
