"""CNES (seed 000, DATASUS Webatendimento) walked by mail.

The seed: contact data (nome, telefone, e-mail, CPF, UF) is mandatory;
only images (GIF, JPEG, PNG) up to 3 MB are attached; the citizen tracks
the request by the link; a solution may be refused with a reason ("informe
o motivo da reabertura"); "Após 3 dias úteis, caso não haja retorno ...
será considerada atendida e não haverá possibilidade de reabertura"; then
the satisfaction survey from "Muito insatisfeito" to "Muito satisfeito".
"""

from __future__ import annotations

from tests.integration.desks.conftest import generate_cpf, text_of, utc
from tests.unit.rules.rule_helpers import PDF, PNG

CNES = "cnes@example.gov.br"
FIRST = ("Bom dia,\n\nNão consigo vincular a enfermeira à equipe de saúde da família no SCNES: "
         "ao salvar aparece \"vínculo inválido\".\n\n"
         "Nome: Ana Souza\nTelefone: (61) 3333-4444\nUF: DF\n\nAtenciosamente,\nAna")


def test_cnes_from_the_first_mail_to_closure_without_reopening(open_seed_desk):
    desk = open_seed_desk(CNES)
    protocol = desk.citizen_writes("Erro ao vincular profissional no SCNES", FIRST,
                                   attachments=[("tela.png", "image/png", PNG), ("laudo.pdf", "application/pdf", PDF)])

    # No CPF: the ticket waits, and the one mail says what is missing instead of the acknowledgement.
    assert desk.status() == "waiting"
    assert desk.ticket()["category"] == "funcionalidade"
    assert desk.kinds() == ["missing_fields"], "one mail that says all, not three at once"
    asked = desk.last("missing_fields")
    assert protocol in asked and "CPF" in asked and "/t/" in asked, "the protocol and the tracking link"
    # The PDF is not an image: the same mail says so, in words people read; the team gets only the PNG.
    assert "laudo.pdf" in asked and "PNG" in asked and "3 MB" in asked
    assert "application/" not in asked and "image/" not in asked
    [team_new] = desk.mails(desk.team, "team_new")
    assert [part.get_filename() for part in team_new.iter_attachments()] == ["tela.png"]

    # A CPF with a wrong check digit is asked for again; the right one moves the ticket on.
    good = generate_cpf(1)
    desk.citizen_replies(f"CPF: {good[:-1]}{(int(good[-1]) + 1) % 10}")
    assert desk.status() == "waiting" and desk.ticket()["fields"]["cpf"]["valid"] is False
    assert "CPF" in desk.last("missing_fields") and len(desk.mails(kind="missing_fields")) == 2
    desk.citizen_replies(f"Segue o CPF correto.\nCPF: {good}")
    assert desk.status() == "open" and desk.ticket()["fields"]["cpf"]["valid"] is True

    # The analyst solves; the citizen refuses with a reason; the ticket is worked again.
    desk.analyst_replies("#solucao\nRefaça o vínculo pela tela Profissionais > Vínculos, com o CBO 2235-05.")
    solution = desk.last("solution")
    assert "Refaça o vínculo" in solution and "Analista de Suporte" not in solution
    assert "3 dias úteis" in solution and "26/11/2026" in solution, "Monday + 3 business days"
    assert "sem possibilidade de reabertura" in solution
    desk.citizen_replies("Não, a tela continua dando vínculo inválido ao salvar.")
    assert desk.status() == "open"
    [refused] = [e for e in desk.ticket()["events"] if e["kind"] == "refused"]
    assert "continua dando vínculo inválido" in refused["note"]

    desk.analyst_replies("#solucao\nCorrigimos a equipe 0001 no cadastro nacional; refaça o vínculo.")
    assert desk.status() == "solved" and len(desk.mails(kind="solution")) == 2

    # No answer: one reminder the day before, then closed as answered after 3 business days.
    assert desk.sweep(utc(25, 20, 59)) == {}
    assert desk.sweep(utc(25, 21)) == {"remind_solved": 1}
    assert "Corrigimos a equipe 0001" in desk.last("reminder_solved")
    out = desk.sweep_cli(utc(26, 21))
    assert "auto_accept 1" in out
    assert desk.status() == "closed"
    closing = desk.last("closed_auto_accepted")
    assert "26/11/2026" in closing and "novo chamado" in closing
    survey = desk.last("survey")
    assert "1 - Muito insatisfeito" in survey and "5 - Muito satisfeito" in survey

    # The survey answered in words; no new ticket for it.
    desk.citizen_replies("Muito satisfeito, obrigada pela ajuda.")
    assert len(desk.running.tickets()) == 1
    answered = [e for e in desk.ticket()["events"] if e["kind"] == "survey_answered"]
    assert answered and answered[0]["note"].startswith("nota 5")

    # No reopening: a later reply is a new request, judged as one and linked to the old.
    desk.sweep(utc(30, 13))
    desk.citizen_replies("O erro voltou: vínculo inválido de novo ao salvar o profissional.")
    assert desk.status(protocol) == "closed"
    [new] = [t for t in desk.running.tickets() if t["protocol"] != protocol]
    fresh = desk.ticket(new["protocol"])
    assert fresh["linked_to"] == protocol and fresh["subject"] == "Erro ao vincular profissional no SCNES"
    assert fresh["category"] == "funcionalidade" and fresh["assignee"] == "equipe.cnes@example.gov.br"
    assert fresh["status"] == "waiting", "the new request lacks the contact data: asked for again"
    request = desk.mails(kind="missing_fields")[-1]
    assert request["Subject"].startswith(f"[{new['protocol']}]") and protocol not in request["Subject"]
    assert protocol in text_of(request), "the citizen is told the old protocol was closed"
    for mail in desk.mails():
        assert "maria.lima@" not in mail.as_string(), "the analyst's address never reaches the citizen"
