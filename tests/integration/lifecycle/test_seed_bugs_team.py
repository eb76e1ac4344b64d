"""Issue 15, bugs 3, 4 and 5, over SMTP: the team's side of the seed desks.

3. A mail to the citizen threads only onto mails the citizen got or sent,
   a mail to the team only onto the team's.
4. A wrong automatic return is undone with ``#reabrir``, and the gov.br
   desk's out-of-scope rule no longer returns an integration error.
5. ``#categoria`` brings the new category's SLA (from the rules or
   ``[mailbox.sla]``), counted from the ticket's opening.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.integration.lifecycle.conftest import ANALYST, TEAM, Desk, text_of

RULES = Path(__file__).resolve().parents[3] / "rules"



def parent_ids(mail: Any) -> set[str]:
    """The Message-IDs a mail says it answers (In-Reply-To and References)."""
    found = str(mail.get("In-Reply-To") or "").split() + str(mail.get("References") or "").split()
    return {bare(value) for value in found if value}


def bare(message_id: str) -> str:
    return message_id.strip().strip("<>")


def ids_of(mails: list[Any]) -> set[str]:
    return {bare(str(mail["Message-ID"])) for mail in mails}


# --- bug 3: each reader's thread holds only their own mails ---------------------------------------

def test_mails_to_the_citizen_thread_only_onto_mails_the_citizen_got_or_sent(quiet_desk):
    desk = quiet_desk()
    desk.citizen_writes()
    desk.analyst_replies("#categoria Funcionalidade")  # a command_done to the analyst
    desk.analyst_replies("#fechar", proof=None)  # forged: a forged_warning to the team
    desk.analyst_replies("#solucao\nReinicie o serviço e tente de novo.")
    assert desk.ticket()["status"] == "solved"
    done = desk.sweep(datetime.fromisoformat(desk.ticket()["due_at"]))  # the solution reminder
    assert done == {"remind_solved": 1}
    desk.citizen_replies("Sim, resolvido. Obrigado!")
    assert desk.ticket()["status"] == "closed"

    to_citizen = desk.to_citizen()
    assert {"solution", "reminder_solved", "survey"} <= {_kind(desk, mail) for mail in to_citizen}
    citizens_own = {bare(m["message_id"]) for m in desk.ticket()["messages"]
                    if m["direction"] == "in" and m["role"] == "requester"}
    known = ids_of(to_citizen) | citizens_own
    for mail in to_citizen:
        strangers = parent_ids(mail) - known
        assert not strangers, f"{_kind(desk, mail)} threads onto mails the citizen never got: {strangers}"
        assert parent_ids(mail), f"{_kind(desk, mail)} is not threaded at all"

    to_team = desk.running.outbox(to=TEAM)
    team_known = ids_of(to_team)
    for mail in to_team:
        assert not parent_ids(mail) - team_known, f"{mail['Subject']} threads onto mails the team never got"
    to_analyst = desk.running.outbox(to=ANALYST)
    for mail in to_analyst:
        assert not parent_ids(mail) - ids_of(to_analyst) - team_known


def _kind(desk: Desk, mail: Any) -> str:
    """The outbox kind of a parsed mail (by its Message-ID)."""
    from sqlalchemy import select

    from gateway.store.models import OutboxRow

    with desk.running.gateway.db.transaction() as tx:
        row = tx.scalars(select(OutboxRow).where(OutboxRow.message_id == bare(str(mail["Message-ID"])))).one()
        return row.kind


# --- bug 4: a wrong return is undone; the gov.br rule is less trigger-happy ------------------------

INTEGRATION_ERROR = (
    "Prezados,\n\nO serviço automatizado de emissão de certidão apresenta Erro 500 na integração com o login "
    "gov.br: ao obter o token OAuth, a autenticação falha com HTTP 500 e o processo não é roteado.\n"
    "Serviço afetado: https://www.gov.br/pt-br/servicos/emitir-certidao\n"
    # The form's data the desk requires (rules/govbr-automacao.toml): without it the ticket would wait for it.
    "Órgão: Ministério da Gestão\nTipo de solicitante: Analista do Serviço\nAlcance do defeito: todos os usuários\n"
    "Protocolos afetados: 2026.0001234\nTelefone: (61) 2020-4000\n\nAtenciosamente,\nAna Souza\n")


def test_an_integration_error_that_mentions_gov_br_login_is_not_returned(quiet_desk):
    desk = quiet_desk(rules=str(RULES / "govbr-automacao.toml"))
    desk.citizen_writes(subject="Erro 500 na integração com gov.br - token OAuth", body=INTEGRATION_ERROR)
    ticket = desk.ticket()
    # Kept, and assigned to cgate by the desk's rule: it waits "assigned" for them (issue 15, status names).
    assert ticket["status"] == "assigned" and ticket["category"] == "Erro"
    assert desk.to_citizen("rejected") == [] and len(desk.to_citizen("ack")) == 1


def test_an_account_question_is_still_returned(quiet_desk):
    desk = quiet_desk(rules=str(RULES / "govbr-automacao.toml"))
    desk.citizen_writes(subject="Não consigo entrar na conta gov.br",
                        body="Esqueci a senha da minha conta gov.br e não consigo recuperar o acesso.")
    assert desk.ticket()["status"] == "rejected"
    assert len(desk.to_citizen("rejected")) == 1


def test_reabrir_undoes_a_wrong_return_and_the_desk_works_the_ticket_again(quiet_desk):
    desk = quiet_desk(rules=str(RULES / "govbr-automacao.toml"))
    # The rules return this (it reads as an account question); the analyst knows better.
    desk.citizen_writes(subject="Conta gov.br no serviço de certidão",
                        body="O login gov.br do serviço de certidão não abre a tela de autenticação.")
    assert desk.ticket()["status"] == "rejected"
    desk.analyst_replies("#aguardando\nQual o nome do serviço?")
    assert desk.ticket()["status"] == "rejected", "a returned ticket takes no question before it is reopened"

    desk.analyst_replies("#reabrir Seu pedido é atendido por este canal; a devolução foi um engano.\n"
                         "#categoria Erro")
    ticket = desk.ticket()
    assert ticket["status"] == "open" and ticket["category"] == "Erro"
    assert "reopened" in desk.events()
    [reopened] = desk.to_citizen("reopened")
    assert "a devolução foi um engano" in text_of(reopened)
    assert desk.protocol in reopened["Subject"] and "Devolvido" not in text_of(reopened)
    [done] = desk.to_analyst("command_done")
    assert "reaberto" in text_of(done)

    desk.analyst_replies("#aguardando\nQual o nome do serviço e o órgão?")
    assert desk.ticket()["status"] == "waiting"
    [question] = desk.to_citizen("question")
    assert "Devolvido" not in text_of(question)
    desk.citizen_replies("Serviço: Emitir certidão. Órgão: Ministério da Economia.")
    assert len(desk.running.tickets()) == 1, "the citizen's answer lands on the reopened ticket"
    assert desk.ticket()["status"] == "open" and desk.ticket()["category"] == "Erro"


def test_reabrir_also_reopens_a_closed_ticket_and_is_refused_on_an_open_one(quiet_desk):
    desk = quiet_desk()
    desk.citizen_writes()
    desk.analyst_replies("#reabrir")
    assert desk.ticket()["status"] == "new"
    [refused] = desk.to_analyst("command_errors")
    assert "#reabrir" in text_of(refused) and "Novo" in text_of(refused)
    desk.analyst_replies("#fechar\nAtendido por telefone.")
    desk.analyst_replies("#reopen\nReabrimos: falta confirmar o cadastro.")
    assert desk.ticket()["status"] == "open"
    [reopened] = desk.to_citizen("reopened")
    assert "falta confirmar o cadastro" in text_of(reopened)


# --- bug 5: the category brings its SLA --------------------------------------------------------

def test_category_change_brings_the_rules_sla_of_the_new_category(quiet_desk):
    desk = quiet_desk(rules=str(RULES / "mapa.toml"))
    desk.citizen_writes(subject="Como consultar a Minha área", body="Onde vejo os meus chamados na Minha área?")
    ticket = desk.ticket()
    assert (ticket["category"], ticket["sla"]["resolution"]) == ("Consulta Técnica", "2h")
    opened = datetime.fromisoformat(ticket["created_at"])
    desk.analyst_replies("#categoria Defeito sem paralisação")
    ticket = desk.ticket()
    assert ticket["category"] == "Defeito sem paralisação"
    assert ticket["sla"]["resolution"] == "24h"
    assert datetime.fromisoformat(ticket["sla"]["resolution_due_at"]) == opened + timedelta(hours=24)
    assert "sla_breach" not in desk.sweep(opened + timedelta(hours=3))
    assert desk.sweep(opened + timedelta(hours=24, minutes=1)).get("sla_breach") == 1


def test_category_change_brings_the_mailbox_sla_of_the_new_category(quiet_desk):
    desk = quiet_desk(rules=str(RULES / "mapa.toml"),
                      sla={"Reclamação": {"resolution": "5d"}})
    desk.citizen_writes(subject="Como consultar a Minha área", body="Onde vejo os meus chamados na Minha área?")
    opened = datetime.fromisoformat(desk.ticket()["created_at"])
    desk.analyst_replies("#categoria reclamacao")
    ticket = desk.ticket()
    assert ticket["sla"]["resolution"] is None, "the rule's 2h belonged to the old category"
    assert datetime.fromisoformat(ticket["sla"]["resolution_due_at"]) == opened + timedelta(days=5)


def test_a_breach_already_announced_is_announced_again_for_the_new_target(quiet_desk):
    desk = quiet_desk(rules=str(RULES / "mapa.toml"))
    desk.citizen_writes(subject="Erro ao gerar relatório", body="Aparece uma mensagem de erro ao gerar o relatório.")
    ticket = desk.ticket()
    assert (ticket["category"], ticket["sla"]["resolution"]) == ("Defeito sem paralisação", "24h")
    opened = datetime.fromisoformat(ticket["created_at"])
    desk.clock.set(opened + timedelta(hours=3))
    desk.analyst_replies("#categoria Consulta Técnica")  # 2h from the opening: already late
    ticket = desk.ticket()
    assert datetime.fromisoformat(ticket["sla"]["resolution_due_at"]) == opened + timedelta(hours=2)
    assert desk.sweep(opened + timedelta(hours=3, minutes=1)).get("sla_breach") == 1
    [breach] = desk.running.outbox(kind="team_sla_breach", to=TEAM)
    assert desk.protocol in breach["Subject"]
