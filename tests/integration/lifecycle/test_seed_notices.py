"""Issue 15, bug 8 and the notices the seed desks' citizens read, through the
real listener: the missing-data mails name exactly what is missing and greet
no name they ask for; a first mail with a refused attachment and missing
data gets one mail, in words people read; the acknowledgement states the
promised time; the citizen is told when their data completed the request
and when their reply reopened the ticket."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.helpers.mailfactory import make_mail
from tests.helpers.notices import docx, english_words, raw_mime_types
from tests.integration.lifecycle.conftest import CITIZEN, CITIZEN_PASS, FRIDAY_HOLIDAY, TEAM, Desk, text_of
from tests.unit.rules.rule_helpers import EXE, generate_cpf

RULES = Path(__file__).resolve().parents[3] / "rules"


def _writes(desk: Desk, *, sender_name: str, subject: str, body: str,
            attachments: list[tuple[str, str, bytes]] = ()) -> str:
    """A first mail from the citizen, whose mail client shows ``sender_name``."""
    desk._send(CITIZEN, desk.running.address, make_mail(subject=subject, body=body, trace=CITIZEN_PASS,
                                                        sender=f"{sender_name} <{CITIZEN}>", attachments=attachments))
    desk.protocol = desk.running.tickets()[-1]["protocol"]
    return desk.protocol


def _sweep_until(desk: Desk, kind: str, *, days: int = 8) -> EmailMessage:
    """Sweep a day at a time (at most ``days``) until the citizen gets a ``kind`` mail."""
    before = len(desk.to_citizen(kind))
    for day in range(1, days + 1):
        desk.clock.set(FRIDAY_HOLIDAY + timedelta(days=day))
        list(desk.running.gateway.sweep_all())
        sent = desk.to_citizen(kind)
        if len(sent) > before:
            return sent[-1]
    raise AssertionError(f"no {kind} mail to the citizen within {days} days")


def _listed(text: str) -> list[str]:
    """The labels of the "- Label: ..." lines of a missing-data mail."""
    return re.findall(r"^- ([^:\n]+):", text, re.MULTILINE)


@pytest.fixture
def causp(open_desk: Callable[..., Desk]) -> Desk:
    """CAU/SP: name and CPF required, jpg/Word/PDF up to 2 MB."""
    return open_desk(protocol_prefix="CAUSP", rules=str(RULES / "causp.toml"), schedule={"enabled": False})


# -- bug 8 --------------------------------------------------------------------------------------------

def test_the_missing_data_mails_name_what_is_missing_and_greet_no_name_they_ask_for(causp):
    _writes(causp, sender_name="Otávio Reis", subject="Dúvida sobre o registro",
            body="Bom dia, gostaria de saber como atualizar meu endereço.")
    [asked] = causp.to_citizen("missing_fields")
    text = text_of(asked)
    assert _listed(text) == ["Nome", "CPF"]
    assert text.startswith("Olá,"), "the name the mail says is missing is not used to greet"
    assert "Otávio" not in text

    cpf = generate_cpf(random.Random(8))
    causp.citizen_replies(f"CPF: {cpf}")
    again = causp.to_citizen("missing_fields")[-1]
    assert _listed(text_of(again)) == ["Nome"], "only what is still missing"

    reminder = text_of(_sweep_until(causp, "reminder_waiting"))
    assert reminder.startswith("Olá,")
    assert _listed(reminder) == ["Nome"], "the reminder says exactly what is still missing"
    assert "Nome: " in reminder.split("preenchida")[-1], "with the line to fill in"


def test_a_known_name_not_asked_for_greets_the_citizen(causp):
    cpf = generate_cpf(random.Random(9))
    _writes(causp, sender_name="Otávio Reis", subject="Dúvida sobre o registro",
            body=f"Gostaria de saber como atualizar meu endereço.\n\nNome: Otávio Reis\nCPF: {cpf}\n")
    [ack] = causp.to_citizen("ack")
    assert text_of(ack).startswith("Prezado(a) Otávio Reis,")


# -- one mail that says all, in words people read ----------------------------------------------------------

def test_a_program_and_missing_data_get_one_mail_in_plain_words(causp):
    _writes(causp, sender_name="Otávio Reis", subject="Envio de documentos do registro",
            body="Seguem os documentos.",
            attachments=[("instalador.exe", "application/octet-stream", EXE),
                         ("diploma.docx", "application/octet-stream", docx())])
    [mail] = causp.to_citizen()
    assert mail["X-Ticket-Protocol"] == causp.protocol
    text = text_of(mail)
    assert _listed(text)[:2] == ["Nome", "CPF"], "the missing data"
    assert "instalador.exe" in text and "diploma.docx" not in text, "the refused file, not the accepted one"
    assert "Word" in text and "PDF" in text, "what is accepted, as people name it"
    assert raw_mime_types(text) == [] and "MSDOWNLOAD" not in text
    assert "bytes" not in text, "a refused type needs no size"
    [team] = causp.running.outbox(kind="team_new", to=TEAM)
    assert raw_mime_types(text_of(team)) == [], "the team reads the same words"


def test_a_complete_request_with_a_refused_file_gets_the_acknowledgement_alone(causp):
    cpf = generate_cpf(random.Random(10))
    _writes(causp, sender_name="Otávio Reis", subject="Envio de documentos do registro",
            body=f"Seguem os documentos.\n\nNome: Otávio Reis\nCPF: {cpf}\n",
            attachments=[("instalador.exe", "application/octet-stream", EXE)])
    [mail] = causp.to_citizen()
    assert mail["Subject"].startswith(f"[{causp.protocol}] Solicitação recebida")
    text = text_of(mail)
    assert "instalador.exe" in text and "programa" in text and raw_mime_types(text) == []


# -- tell the citizen ----------------------------------------------------------------------------------

def test_the_mapa_acknowledgement_states_the_promised_time(open_desk):
    mapa = open_desk(protocol_prefix="MAPA", rules=str(RULES / "mapa.toml"), schedule={"enabled": False})
    _writes(mapa, sender_name="Ana Souza", subject="Como emitir o token de assinatura",
            body="Bom dia, como emito o token de assinatura na Minha área?")
    assert mapa.ticket()["category"] == "Consulta Técnica"
    [ack] = mapa.to_citizen("ack")
    assert "Prazo de atendimento: até hoje, às 12h" in text_of(ack), "10h plus the category's 2h"


def test_a_desk_without_an_sla_promises_no_time(causp):
    cpf = generate_cpf(random.Random(3))
    _writes(causp, sender_name="Ana Souza", subject="Dúvida", body=f"Nome: Ana Souza\nCPF: {cpf}")
    assert "Prazo" not in text_of(causp.to_citizen("ack")[0])


def test_the_citizen_is_told_when_their_data_completed_the_request(open_desk):
    cnes = open_desk(protocol_prefix="CNES", rules=str(RULES / "cnes.toml"), schedule={"enabled": False})
    _writes(cnes, sender_name="Ana Souza", subject="Erro ao incluir profissional no CNES",
            body="Não consigo incluir a enfermeira.\n\nNome: Ana Souza\nTelefone: (61) 99999-8888\n")
    assert cnes.ticket()["status"] == "waiting"
    cnes.citizen_replies(f"CPF: {generate_cpf(random.Random(4))}\nUF: DF")
    assert cnes.ticket()["status"] == "open"
    [told] = cnes.to_citizen("fields_received")
    text = text_of(told)
    assert "Recebemos os dados que faltavam" in text and "segue em atendimento" in text
    assert told["In-Reply-To"], "in the citizen's thread"
    team = text_of(cnes.running.outbox(kind="team_followup", to=TEAM)[-1])
    assert english_words(team) == [], team


def test_the_citizen_is_told_when_their_reply_reopens_the_ticket(open_desk):
    desk = open_desk(reopen_window="7d", schedule={"enabled": False})
    desk.citizen_writes()
    desk.analyst_replies("#solucao\nAtualize o sistema para a versão 3.2 e tente de novo.")
    desk.citizen_replies("Sim, resolvido. Obrigado!")
    assert desk.ticket()["status"] == "closed"
    desk.citizen_replies("O erro voltou hoje de manhã.")
    assert desk.ticket()["status"] == "open"
    [told] = desk.to_citizen("reopened")
    assert "foi reaberto" in text_of(told)


# -- bug 10: the survey result and the data events, where people look ---------------------------------

def test_tickets_show_has_the_survey_result(desk):
    desk.citizen_writes()
    desk.analyst_replies("#solucao\nAtualize o sistema para a versão 3.2 e tente de novo.")
    desk.citizen_replies("Sim, resolvido. Obrigado!")
    [survey] = desk.to_citizen("survey")
    desk._send(CITIZEN, desk.running.address, make_mail(subject=f"RES: {survey['Subject']}", trace=CITIZEN_PASS,
                                                        sender=f"Ana Souza <{CITIZEN}>", body="4 - Bom atendimento."))
    shown = desk.ticket()["survey"]
    assert shown["score"] == 4 and shown["comment"].startswith("Bom atendimento")
    assert shown["answered_at"] == desk.clock.now().isoformat()


def test_the_tracking_page_lists_the_data_asked_for_and_received(open_desk):
    import httpx

    from tests.helpers.web import link_in

    cnes = open_desk(protocol_prefix="CNES", rules=str(RULES / "cnes.toml"), schedule={"enabled": False})
    _writes(cnes, sender_name="Ana Souza", subject="Erro ao incluir profissional no CNES",
            body="Não consigo incluir a enfermeira.\n\nNome: Ana Souza\nTelefone: (61) 99999-8888\n")
    cnes.citizen_replies(f"CPF: {generate_cpf(random.Random(5))}\nUF: DF")
    page = httpx.get(link_in(cnes.to_citizen("missing_fields")[0], "t"), timeout=30).text
    asked, received = page.index("Pedimos os dados que faltavam"), page.index("Você enviou os dados que faltavam")
    assert asked < received
    assert "CPF ausente, UF ausente" in page[asked:received], "what was asked"
    assert "dados recebidos: CPF, UF" in page[received:], "what completed it"
