"""MAPA technical support (seed 002, the Lecom guide) walked by mail.

The seed: three categories with a resolution promise in "horas corridas"
(wall clock) from the registration: Consulta Técnica 2h, Defeito com
paralisação 4h, Defeito sem paralisação 24h; business-rule questions go to
the service's manager in the citizen's órgão; the citizen keeps the
"código" (protocol) and follows the "fluxo vivo" (tracking page).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.integration.desks.conftest import MONDAY, text_of

MAPA = "suporte.mapa@example.gov.br"


def due(desk, protocol: str) -> datetime:
    return datetime.fromisoformat(desk.ticket(protocol)["sla"]["resolution_due_at"])


def test_mapa_categories_carry_their_wall_clock_promise_and_the_team_is_warned(open_seed_desk):
    desk = open_seed_desk(MAPA)

    business = desk.citizen_writes("Dúvida sobre regra de negócio",
                                   "Qual documento o produtor deve apresentar? É uma regra de negócio do serviço.")
    assert desk.status(business) == "rejected"
    assert "gestor do serviço no seu órgão" in desk.last("rejected")

    stopped = desk.citizen_writes("Sistema fora do ar", "Ninguém consegue abrir solicitações desde as 9h.")
    question = desk.citizen_writes("Como acompanho meus chamados na Minha área?", "Não encontro o menu Selecionados.")
    defect = desk.citizen_writes("Erro ao anexar PDF no formulário",
                                 "Aparece mensagem de erro ao anexar, mas a solicitação segue sem o anexo.")
    # Registered Monday 10:00 in Brasília; the acknowledgement gives the promise as a moment.
    for protocol, category, hours, day, hour in ((stopped, "Defeito com paralisação", 4, ("hoje", "23/11"), "14h"),
                                                 (question, "Consulta Técnica", 2, ("hoje", "23/11"), "12h"),
                                                 (defect, "Defeito sem paralisação", 24, ("amanhã", "24/11"), "10h")):
        ticket = desk.ticket(protocol)
        assert ticket["category"] == category, protocol
        assert due(desk, protocol) == MONDAY + timedelta(hours=hours), "wall clock, from the registration"
        ack = desk.mails(kind="ack")[[stopped, question, defect].index(protocol)]
        assert ack["Subject"].startswith(f"[{protocol}]") and "/t/" in text_of(ack)
        promise = next(line for line in text_of(ack).splitlines() if "Prazo" in line)
        assert any(word in promise for word in day) and f"às {hour}" in promise, promise
    assert desk.ticket(stopped)["priority"] == "urgente"

    # Wall clock: the 2h consultation is due at 12:00 in Brasília; a quarter before, the team is warned.
    assert desk.sweep(MONDAY + timedelta(minutes=89)) == {}
    assert desk.sweep(MONDAY + timedelta(minutes=90)).get("sla_warning") == 1
    assert question in desk.mails(desk.team, "team_sla_warning")[-1]["Subject"]
    assert desk.sweep(MONDAY + timedelta(hours=2)).get("sla_breach") == 1
    assert question in desk.mails(desk.team, "team_sla_breach")[-1]["Subject"]
    assert not any(kind.startswith("team_sla") for kind in desk.kinds()), "SLA alerts are the team's only"

    # A consultation that is really a defect: the category's 24h promise replaces the 2h one.
    desk.protocol = question
    desk.analyst_replies("#categoria Defeito sem paralisação")
    assert desk.ticket(question)["category"] == "Defeito sem paralisação"
    assert due(desk, question) == MONDAY + timedelta(hours=24)

    # Solved in time, accepted, surveyed.
    desk.analyst_replies("#solucao\nO menu está em Minha Área > Selecionados; corrigimos o filtro que o escondia.")
    desk.citizen_replies("Sim, encontrei. Obrigado.")
    assert desk.status(question) == "closed" and desk.kinds()[-1] == "survey"
    desk.citizen_replies("4/5")
    assert desk.events(question)[-1] == "survey_answered"

    # The stopped service breaches at 4h; the 24h defect is still in time at 6h.
    done = desk.sweep(MONDAY + timedelta(hours=6))
    assert done.get("sla_breach") == 1
    assert stopped in desk.mails(desk.team, "team_sla_breach")[-1]["Subject"]
