"""Each rule action, end to end through the real SMTP listener: what lands on
the ticket (fields, events), and what the outbox holds for whom."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from gateway import links
from gateway.store import inbox
from tests.helpers.mailfactory import make_mail
from tests.integration.rules.conftest import (
    CITIZEN, EXE, PDF, PNG, RULES, TEAM, body_of, generate_cpf, send,
)

ACTIONS = """
[[rule]]
name = "urgente"
when.subject.words = ["urgente"]
when.kind = "new"
category = "Defeito com paralisação"
priority = "urgente"
sla = {resolution = "4h"}
tags = ["pediu-urgencia", "plantao"]
assign = "plantao@example.gov.br"
note = "Ligar para a unidade antes de responder."
reply = "video_link_request"

[[rule]]
name = "lembrete em resposta"
when.kind = "follow_up"
when.body.phrases = ["ainda aguardo"]
priority = "alta"
tags = ["cobranca"]
"""


def test_classification_actions_reach_the_ticket_the_team_and_the_requester(ruled_gateway, tmp_path):
    rules = tmp_path / "desk.toml"
    rules.write_text(ACTIONS, encoding="utf-8")
    running = ruled_gateway(rules)
    send(running, make_mail(subject="URGENTE: sistema fora do ar", body="Ninguém consegue entrar."))

    [summary] = running.tickets()
    ticket = running.ticket(summary["protocol"])
    assert (ticket["category"], ticket["priority"], ticket["assignee"]) == (
        "Defeito com paralisação", "urgente", "plantao@example.gov.br")
    assert ticket["tags"] == ["pediu-urgencia", "plantao"]
    assert ticket["sla"]["resolution"] == "4h"
    created = datetime.fromisoformat(ticket["created_at"])
    assert datetime.fromisoformat(ticket["sla"]["resolution_due_at"]) == created + timedelta(hours=4)
    kinds = [event["kind"] for event in ticket["events"]]
    for kind in ("rules", "category", "priority", "sla", "tags", "assigned", "note"):
        assert kind in kinds, kinds
    [note] = [e for e in ticket["events"] if e["kind"] == "note"]
    assert "Ligar para a unidade" in note["note"] and "'urgente'" in note["note"]
    assert ticket["status"] == "assigned", "a rule's assignee: the ticket waits for them (issue 15)"

    [ack] = running.outbox(kind="ack", to=CITIZEN)
    [extra] = running.outbox(kind="video_link_request", to=CITIZEN)
    assert extra["Auto-Submitted"] == "auto-replied"
    assert extra["In-Reply-To"] is not None and "link" in body_of(extra)
    [team] = running.outbox(kind="team_new")
    assert set(team["To"].addresses[i].addr_spec for i in range(len(team["To"].addresses))) == {
        TEAM, "plantao@example.gov.br"}
    assert "Nota: Ligar para a unidade antes de responder." in body_of(team)
    assert "categoria Defeito com paralisação" in body_of(team)

    # A follow-up: only the rule that asks for follow-ups applies.
    send(running, make_mail(subject=f"RES: [{summary['protocol']}] URGENTE", body="Ainda aguardo retorno."))
    ticket = running.ticket(summary["protocol"])
    assert ticket["priority"] == "alta" and ticket["tags"] == ["pediu-urgencia", "plantao", "cobranca"]
    assert len(running.outbox(kind="video_link_request")) == 1  # the new-ticket rule did not run again
    [followup] = running.outbox(kind="team_followup")
    assert "prioridade alta" in body_of(followup)


def test_an_out_of_scope_request_is_rejected_with_the_reason_and_no_acknowledgement(ruled_gateway):
    running = ruled_gateway(RULES / "govbr-automacao.toml")
    send(running, make_mail(subject="Não consigo entrar na minha conta gov.br",
                            body="Esqueci a senha da conta gov.br e não consigo recuperar o acesso."))
    [summary] = running.tickets()
    ticket = running.ticket(summary["protocol"])
    assert ticket["status"] == "rejected"
    [rejected] = [e for e in ticket["events"] if e["kind"] == "rejected"]
    assert rejected["actor"] == "gateway" and "conta, login ou assinatura gov.br" in rejected["note"]
    assert running.outbox(kind="ack") == []
    [mail] = running.outbox(kind="rejected", to=CITIZEN)
    assert "e.gov.br/solicitaratendimentogovbr" in body_of(mail)
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["Subject"].startswith(f"[{summary['protocol']}] Solicitação devolvida")
    [team] = running.outbox(kind="team_new")
    assert "Devolvido automaticamente" in body_of(team)


POLICY = """
[attachments]
allowed = ["image/gif", "image/jpeg", "image/png"]
max_size = "3MB"
"""


def test_attachments_that_lie_about_their_type_are_kept_but_not_passed_on(ruled_gateway, tmp_path):
    rules = tmp_path / "policy.toml"
    rules.write_text(POLICY, encoding="utf-8")
    running = ruled_gateway(rules)
    big_png = PNG + b"\x00" * (3 * 1024 * 1024 + 10)
    send(running, make_mail(subject="Comprovantes", body="Seguem os comprovantes.", attachments=[
        ("comprovante.png", "image/png", PDF),         # a PDF named .png
        ("programa.png", "image/png", EXE),            # an executable named .png
        ("tela.png", "image/png", PNG),                # a real PNG
        ("foto-grande.png", "image/png", big_png),     # a real PNG over 3 MB
    ]))
    [summary] = running.tickets()
    ticket = running.ticket(summary["protocol"])
    [message] = [m for m in ticket["messages"] if m["direction"] == "in"]
    passed = {a["filename"]: (a["type"], a["passed_on"]) for a in message["attachments"]}
    assert passed == {"comprovante.png": ("application/pdf", False), "programa.png": (passed["programa.png"][0], False),
                      "tela.png": ("image/png", True), "foto-grande.png": ("image/png", False)}
    assert passed["programa.png"][0] != "image/png"

    [team] = running.outbox(kind="team_new")
    sent_files = [part.get_filename() for part in team.iter_attachments()]
    assert sent_files == ["tela.png"]
    assert "comprovante.png" in body_of(team) and "não repassados" in body_of(team)

    [notice] = running.outbox(kind="ack", to=CITIZEN)  # one mail: the acknowledgement lists all the files
    assert running.outbox(kind="attachments_refused", to=CITIZEN) == []
    text = body_of(notice)
    assert "comprovante.png: PDF, tipo de arquivo não aceito" in text and "programa.png" in text
    assert "foto-grande.png: PNG de" in text and "maior que o limite de 3 MB por arquivo" in text
    assert "aceita GIF, JPG e PNG" in text and "tela.png" not in text

    with running.gateway.db.transaction() as tx:  # the refused files are still in the raw mail
        raw = inbox.get(tx, 1).raw
    assert b"comprovante.png" in raw and b"programa.png" in raw


def _cnes_body(cpf: str) -> str:
    return ("Bom dia,\n\nNão consigo vincular o profissional ao estabelecimento.\n\n"
            f"Nome: Ana Souza\nTelefone: (61) 99999-0000\nCPF: {cpf}\nUF: DF\n")


def test_a_missing_cpf_makes_the_ticket_wait_and_the_reply_with_it_reopens(ruled_gateway, rng):
    running = ruled_gateway(RULES / "cnes.toml")
    wrong, right = generate_cpf(rng, valid=False), generate_cpf(rng)
    send(running, make_mail(subject="Erro no vínculo do profissional", body=_cnes_body(wrong)))
    [summary] = running.tickets()
    protocol = summary["protocol"]
    ticket = running.ticket(protocol)
    assert ticket["status"] == "waiting" and ticket["missing_fields"] == ["cpf"]
    assert ticket["category"] == "funcionalidade"
    assert ticket["fields"]["cpf"] == {"value": f"***.{wrong[4:11]}-**", "valid": False}
    assert ticket["fields"]["uf"] == {"value": "DF", "valid": True}
    assert wrong not in str(ticket)  # masked in the JSON-ready view, texts included
    web = running.settings.web
    page = httpx.get(links.make_url(web.base_url, web.secret, protocol, "track"), timeout=30)
    assert page.status_code == 200 and "Ana Souza" in page.text  # the citizen's own mail is on the page ...
    assert wrong not in page.text and f"***.{wrong[4:11]}-**" in page.text  # ... with the CPF masked
    assert running.outbox(kind="ack") == []
    [ask] = running.outbox(kind="missing_fields", to=CITIZEN)
    text = body_of(ask)
    assert "CPF: o valor informado não é válido (confira os dígitos)" in text
    assert "UF" not in text.split("preenchidas:")[0].split("faltam os dados abaixo:")[1]  # only what is missing
    assert protocol in ask["Subject"]

    # A reply without the CPF keeps it waiting and says again what is missing.
    send(running, make_mail(subject=f"RES: [{protocol}] Faltam dados", body="Segue o telefone: (61) 3333-0000"))
    assert running.ticket(protocol)["status"] == "waiting"
    assert len(running.outbox(kind="missing_fields", to=CITIZEN)) == 2

    send(running, make_mail(subject=f"RES: [{protocol}] Faltam dados", body=f"CPF: {right}\n\nObrigada."))
    ticket = running.ticket(protocol)
    assert ticket["status"] == "open" and ticket["missing_fields"] == []
    assert ticket["fields"]["cpf"] == {"value": f"***.{right[4:11]}-**", "valid": True}
    assert "fields_completed" in [e["kind"] for e in ticket["events"]]
    assert "enviou os dados que faltavam" in body_of(running.outbox(kind="team_followup")[-1])
    assert ticket["due_kind"] != "no_response"  # the waiting limit is gone
