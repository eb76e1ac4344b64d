"""A whole ticket life by mail, through the real listener: new, the analyst
asks, the requester answers, the analyst solves, the requester refuses with
a reason, the analyst solves again, an unclear answer, acceptance, and the
survey answered (and updated) by reply."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from gateway import links
from tests.integration.lifecycle.conftest import ANALYST, CITIZEN, TEAM, text_of


def test_a_whole_life_by_mail(desk, tmp_path):
    protocol = desk.citizen_writes()
    assert desk.ticket()["status"] == "new"

    desk.analyst_replies("#aguardando\nInforme o número do CNES da unidade, por favor.")
    ticket = desk.ticket()
    assert ticket["status"] == "waiting" and ticket["due_kind"] == "remind_waiting"  # then no_response
    [question] = desk.to_citizen("question")
    body = text_of(question)
    assert "Informe o número do CNES da unidade" in body
    # 5 calendar days from Friday 20/11 10:00 in Brasília
    assert "Responda a este e-mail até quarta-feira, 25/11/2026, às 10h." in body
    assert question["From"].addresses[0].addr_spec == "atendimento@example.gov.br"
    assert question["Subject"].startswith(f"[{protocol}]")
    ack = desk.to_citizen("ack")[0]
    assert question["In-Reply-To"] == ack["Message-ID"] or ack["Message-ID"] in question["References"]
    assert "Analista de Suporte" not in body, "the analyst's signature is stripped"
    [done] = desk.to_analyst("command_done")
    assert "aguardando resposta" in text_of(done)

    desk.citizen_replies("O CNES da unidade é 1234567.")
    assert desk.ticket()["status"] == "open"
    headline_notice = desk.running.outbox(kind="team_followup", to=TEAM)[-1]
    assert "respondeu" in text_of(headline_notice) and "1234567" in text_of(headline_notice)

    desk.analyst_replies("#solucao\nAtualize o sistema para a versão 3.2 e tente de novo.")
    ticket = desk.ticket()
    assert ticket["status"] == "solved" and ticket["due_kind"] == "remind_solved"  # then auto_accept
    [solution] = desk.to_citizen("solution")
    body = text_of(solution)
    assert "Atualize o sistema para a versão 3.2" in body
    assert '"SIM"' in body and '"NÃO"' in body and "3 dias úteis" in body
    # 3 business days after the Friday holiday: Mon 23, Tue 24, Wed 25 (end of day)
    assert "25/11/2026" in body
    accept_url = re.search(r"(http\S+/s/\S+)", body).group(1)
    claim = links.verify(desk.running.settings.web.secret, accept_url.rsplit("/", 1)[1], action="accept",
                         max_age_seconds=3600)
    assert (claim.protocol, claim.extra) == (protocol, "1")

    desk.citizen_replies("Não, o erro continua na tela de cadastro.")
    assert desk.ticket()["status"] == "open"
    refused = [e for e in desk.ticket()["events"] if e["kind"] == "refused"]
    assert refused and "o erro continua na tela de cadastro" in refused[0]["note"]

    desk.analyst_replies("#solucao\nInstale a versão 3.3, que corrige a tela de cadastro.")
    assert desk.ticket()["status"] == "solved"
    assert len(desk.to_citizen("solution")) == 2

    desk.citizen_replies("Obrigado pelo retorno")
    desk.citizen_replies("Vou ver com a equipe")
    assert desk.ticket()["status"] == "solved", "an unclear answer decides nothing..."
    assert desk.ticket()["due_kind"] is None, "...but the clock no longer accepts for the citizen (issue 15, bug 7)"
    assert len(desk.to_citizen("clarification")) == 1, "one clarification per proposal, not one per mail"

    desk.citizen_replies("Sim, resolvido. Obrigado!")
    ticket = desk.ticket()
    assert ticket["status"] == "closed" and ticket["due_kind"] == "survey_reminder"
    [survey] = desk.to_citizen("survey")
    assert "5 - Muito satisfeito" in text_of(survey) and "1 - Muito insatisfeito" in text_of(survey)

    desk.citizen_replies("5 - ótimo atendimento")
    desk.citizen_replies("Na verdade, nota 4")
    assert desk.ticket()["due_at"] is None, "an answered survey needs no reminder"
    assert len(desk.running.tickets()) == 1, "survey answers do not open tickets"

    config = tmp_path / "show.toml"
    config.write_text(f'[storage]\nurl = "{desk.running.settings.storage.url}"\n')
    result = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "tickets", "show",
                             protocol, "--json"], capture_output=True)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    shown = json.loads(result.stdout)
    kinds = [e["kind"] for e in shown["events"]]
    assert kinds == ["created", "opened", "asked", "follow_up", "answered", "solved", "follow_up", "refused",
                     "solved", "follow_up", "clarification_sent", "follow_up", "note", "follow_up", "accepted",
                     "survey_answered", "survey_updated"]
    statuses = [(e["from"], e["to"]) for e in shown["events"] if e["to"]]
    assert statuses == [(None, "new"), ("new", "open"), ("open", "waiting"), ("waiting", "open"), ("open", "solved"),
                        ("solved", "open"), ("open", "solved"), ("solved", "closed")]
    survey_events = [e["note"] for e in shown["events"] if e["kind"].startswith("survey")]
    assert survey_events[0].startswith("nota 5") and "ótimo atendimento" in survey_events[0]
    assert survey_events[1].startswith("nota 4 (antes: 5)")
    for mail in desk.to_citizen():
        assert ANALYST not in mail.as_string(), "the analyst's address never reaches the citizen"
    assert [m["role"] for m in shown["messages"] if m["direction"] == "in"].count("analyst") == 3
