"""gov.br Plataforma de Automação (seed 001) walked by mail.

The seed: the channel takes only errors of automated services (integration,
API, routing, slowness); gov.br account, app or signature problems are
returned with e.gov.br/solicitaratendimentogovbr, and so is a late protocol
("não constitui erro").  The form asks for telefone, órgão, serviço, tipo de
solicitante (Analista do Serviço or Solicitante/Cidadão), alcance do defeito
and the protocols affected; by mail they are asked for when missing.  The
analyst (CGATE/SGD) may ask for adjustments; the result goes by mail.
"""

from __future__ import annotations

from tests.integration.desks.conftest import text_of

GOVBR = "atendimento@example.gov.br"
ERROR = ("Bom dia,\n\nO serviço automatizado retorna Erro 500 na integração com o sistema do órgão desde ontem; "
         "nenhuma solicitação avança na etapa de análise.\n\n"
         "Nome do Órgão: Ministério da Gestão e da Inovação\nNome do Serviço: Emitir certidão de regularidade\n"
         "Telefone: (61) 2020-4000\n\nAtenciosamente,\nAna Souza")


def test_govbr_returns_what_is_not_its_own_and_asks_for_the_form_data(open_seed_desk):
    desk = open_seed_desk(GOVBR)

    # Out of scope: a gov.br account problem and a late protocol are returned, with where to go.
    account = desk.citizen_writes("Não consigo entrar na minha conta gov.br",
                                  "Esqueci a senha da conta gov.br e não consigo recuperar o acesso.")
    assert desk.status(account) == "rejected" and desk.kinds() == ["rejected"]
    assert "e.gov.br/solicitaratendimentogovbr" in desk.last("rejected")
    late = desk.citizen_writes("Protocolo atrasado", "Meu pedido ainda não foi atendido pelo órgão, há 40 dias.")
    assert desk.status(late) == "rejected"
    assert "atraso no atendimento de um protocolo não é um erro da plataforma" in desk.last("rejected")
    assert "missing_fields" not in desk.kinds(), "a returned request is not asked for data"

    # In scope, but the form's data is incomplete: exactly what is missing is asked for.
    protocol = desk.citizen_writes("Erro 500 na integração do serviço", ERROR)
    assert desk.status() == "waiting" and desk.ticket()["category"] == "Erro"
    assert desk.ticket()["assignee"] == "cgate@example.gov.br"
    asked = desk.last("missing_fields")
    assert protocol in asked
    for label in ("Tipo de solicitante", "Alcance do defeito", "Protocolos afetados"):
        assert label in asked, label
    assert "analista do serviço ou cidadão" in asked, "the choices are named"
    for given in ("Órgão", "Serviço", "Telefone"):
        assert f"{given}:" not in asked, f"{given} was given and is not asked for"

    # The reply fills the lines, but the type is not one of the choices: asked again, for it alone.
    desk.citizen_replies("Tipo de solicitante: servidor terceirizado e cidadão\n"
                         "Alcance do defeito: todos os usuários do serviço\n"
                         "Protocolos afetados:\n- 2026.0001234\n- 2026.0001299\n- 2026.0001301\n")
    assert desk.status() == "waiting"
    fields = desk.ticket()["fields"]
    assert fields["protocolos"] == {"value": "2026.0001234, 2026.0001299, 2026.0001301", "valid": True}
    assert fields["tipo_solicitante"]["valid"] is False
    again = desk.last("missing_fields")
    assert "Tipo de solicitante" in again and "Alcance do defeito:" not in again
    desk.citizen_replies("Tipo de solicitante (analista do serviço ou cidadão): Analista do Serviço")
    assert desk.status() == "open" and desk.ticket()["fields"]["tipo_solicitante"]["valid"] is True
    assert set(desk.ticket()["fields"]) == {"orgao", "servico", "tipo_solicitante", "alcance", "protocolos",
                                            "telefone"}
    assert "fields_received" in desk.kinds()
    team = text_of(desk.mails(desk.team, "team_followup")[-1])
    assert "dados que faltavam" in team

    # Confusing information: the analyst asks for details; the answer puts the ticket back in work.
    desk.analyst_replies("#aguardando\nEnvie o horário aproximado do erro e o print da tela de análise.")
    assert desk.status() == "waiting" and "horário aproximado" in desk.last("question")
    desk.citizen_replies("O erro começou às 14h de ontem; o print segue em anexo.")
    assert desk.status() == "open"

    # The result of the analysis goes by mail; accepted, then the survey.
    desk.analyst_replies("#solucao\nO certificado da integração expirou; renovamos e reprocessamos os protocolos.")
    assert "reprocessamos os protocolos" in desk.last("solution")
    desk.citizen_replies("Sim, funcionou. Obrigada!")
    assert desk.status() == "closed" and desk.kinds()[-1] == "survey"
    desk.citizen_replies("Nota 5 - resolveram rápido")
    assert desk.events()[-1] == "survey_answered"
    assert len(desk.running.tickets()) == 3
