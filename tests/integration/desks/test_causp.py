"""CAU/SP attendance portal (seed 004) walked by mail.

The seed: the professional identifies with name and CPF; a request is a
Dúvida, an Erro or a Solicitação, with a document (jpg, word, pdf) of up to
2 MB; states Aberto, Pendente Profissional (5 days to send what was asked,
then "encerrado automaticamente e o profissional terá que refazer o
processo"), Homologando (the professional homologates with a score, or
answers "Em andamento" asking for more; without a return in 5 days the
system closes it), Fechado.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.integration.desks.conftest import generate_cpf, utc
from tests.unit.rules.rule_helpers import EXE, PDF

CAUSP = "registro.causp@example.gov.br"
IDENTIFIED = f"\n\nNome: Ana Souza\nCPF: {generate_cpf(5)}\n\nAtenciosamente,\nAna Souza\nArquiteta e Urbanista"


def docx() -> bytes:
    """A minimal Word document (what the sniffer sees of a .docx)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("word/document.xml", '<?xml version="1.0"?><w:document/>')
    return buffer.getvalue()


def big_pdf() -> bytes:
    return PDF + b"%" + b"0" * (2 * 1024 * 1024 + 1)


def test_causp_pendente_profissional_five_days_then_closed_with_notice(open_seed_desk):
    desk = open_seed_desk(CAUSP)
    protocol = desk.citizen_writes(
        "Erro ao emitir RRT", "Ao emitir o RRT aparece mensagem de erro." + IDENTIFIED,
        attachments=[("requerimento.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                      docx()), ("planta.pdf", "application/pdf", big_pdf()),
                     ("programa.exe", "application/octet-stream", EXE)])
    assert desk.status() == "new" and desk.ticket()["category"] == "Erro"
    # One mail: the acknowledgement, in the portal's words, with the refused files and the limits.
    assert desk.kinds() == ["ack"]
    ack = desk.last("ack")
    assert protocol in ack and "Aberto" in ack
    assert "planta.pdf" in ack and "programa.exe" in ack and "requerimento.docx" not in ack
    assert "2 MB" in ack and "Word" in ack and "application/" not in ack
    [team_new] = desk.mails(desk.team, "team_new")
    assert [part.get_filename() for part in team_new.iter_attachments()] == ["requerimento.docx"]
    assert "número do RRT" in str(team_new.get_body(("plain",)).get_content()), "the rule's note to the analyst"

    # Pendente Profissional: 5 days to answer, one reminder, then closed; the professional starts again.
    desk.analyst_replies("#aguardando\nInforme o número do RRT e anexe o print da tela do SICCAU.")
    question = desk.last("question")
    assert "Pendente Profissional" in question and "28/11/2026" in question
    assert desk.sweep(utc(27, 13)) == {"remind_waiting": 1}
    assert "número do RRT" in desk.last("reminder_waiting")
    assert desk.sweep(utc(28, 13)) == {"no_response": 1}
    assert desk.status() == "closed"
    closing = desk.last("closed_no_response")
    assert protocol in closing and "nova mensagem" in closing
    assert desk.kinds()[-1] == "closed_no_response", "closed for no response: no survey"


def test_causp_homologando_five_days_then_homologado(open_seed_desk):
    desk = open_seed_desk(CAUSP)
    protocol = desk.citizen_writes("Dúvida sobre anuidade", "Gostaria de saber o valor da anuidade 2026." + IDENTIFIED)
    assert desk.ticket()["category"] == "Dúvida" and "anuidade" in desk.ticket()["tags"]

    desk.analyst_replies("#solucao\nO boleto da anuidade 2026 está no SICCAU, menu Financeiro > Anuidades.")
    solution = desk.last("solution")
    assert "Homologando" in solution and "5 dias" in solution and "28/11/2026" in solution
    desk.citizen_replies("Não, não encontrei o menu Financeiro no SICCAU.")
    assert desk.status() == "open"
    [refused] = [e for e in desk.ticket()["events"] if e["kind"] == "refused"]
    assert "não encontrei o menu Financeiro" in refused["note"]

    desk.analyst_replies("#solucao\nO menu Financeiro aparece depois do login com CPF; segue o passo a passo.")
    assert desk.status() == "solved"
    assert desk.sweep(utc(28, 12, 59)).get("auto_accept") is None
    assert desk.sweep(utc(28, 13)) == {"auto_accept": 1}, "Monday 10:00 + 5 days"
    assert desk.status() == "closed"
    assert "28/11/2026" in desk.last("closed_auto_accepted")
    assert "1 - Muito insatisfeito" in desk.last("survey")

    # Homologated with a score in one mail: closed with that score, and no survey to answer.
    second = desk.citizen_writes("Solicitação de certidão", "Solicito certidão de registro profissional." + IDENTIFIED)
    desk.analyst_replies("#solucao\nA certidão foi emitida e segue no SICCAU.")
    surveys = len(desk.mails(kind="survey"))
    desk.citizen_replies("Homologado. Nota 5")
    assert desk.status(second) == "closed" and len(desk.mails(kind="survey")) == surveys
    assert [e for e in desk.ticket(second)["events"] if e["kind"] == "survey_answered"][0]["note"].startswith("nota 5")
    assert desk.status(protocol) == "closed" and len(desk.running.tickets()) == 2


def test_causp_em_andamento_asks_for_more_and_is_never_auto_accepted(open_seed_desk):
    """Issue 15 bug 7: "Em andamento" on a Homologando ticket is the seed's way of refusing."""
    desk = open_seed_desk(CAUSP)
    desk.citizen_writes("Dúvida sobre registro profissional", "Como atualizo meu endereço?" + IDENTIFIED)
    desk.analyst_replies("#solucao\nAtualize pelo SICCAU, menu Cadastro.")
    desk.citizen_replies("Em andamento: preciso de mais explicações, não encontro o menu")
    assert desk.status() == "open"
    [refused] = [e for e in desk.ticket()["events"] if e["kind"] == "refused"]
    assert "não encontro o menu" in refused["note"]
    assert desk.sweep(utc(10, 13, month=12)).get("auto_accept") is None
    assert "survey" not in desk.kinds()


def test_causp_homologando_without_return_is_closed_as_homologado(open_seed_desk):
    desk = open_seed_desk(CAUSP)
    desk.citizen_writes("Dúvida sobre anuidade", "Gostaria de saber o valor da anuidade 2026." + IDENTIFIED)
    desk.analyst_replies("#solucao\nO boleto está no SICCAU, menu Financeiro > Anuidades.")
    assert desk.sweep(utc(28, 13)) == {"auto_accept": 1}
    assert "homologado" in desk.last("closed_auto_accepted").lower()
