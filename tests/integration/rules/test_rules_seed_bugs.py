"""Issue 15, bug 4: ``gateway explain`` (the real command) says which rule
returned a mail and with which words, and which words keep an integration
error on the gov.br desk."""

from __future__ import annotations

import json

from tests.helpers.mailfactory import make_mail
from tests.helpers.process import run, write_config
from tests.integration.rules.conftest import RULES

GOVBR = f'rules = "{RULES}/govbr-automacao.toml"\n'


def test_explain_names_the_rule_that_returned_a_mail_and_the_words_that_made_it(tmp_path):
    config = write_config(tmp_path, extra=GOVBR)
    mail = make_mail(subject="Problema com login gov.br", body="Não consigo autenticar na conta gov.br pelo app.")
    out = run(config, "explain", "--mailbox", "atendimento@example.gov.br", "-", stdin=mail).stdout.decode()
    assert "fired:    'conta, login ou assinatura gov.br' (" in out and "govbr-automacao.toml): reject = " in out
    lines = out.splitlines()
    fired_at = next(i for i, line in enumerate(lines) if line.startswith("fired:    'conta, login"))
    because = lines[fired_at + 1]
    assert because.startswith("          because kind is new; ")
    assert "'gov.br'" in because and "'login gov.br'" in because and "none of its 'without' words" in because

    report = json.loads(run(config, "explain", "--json", "--mailbox", "atendimento@example.gov.br", "-",
                            stdin=mail).stdout)
    # (the shared "fora do expediente" rule may fire too, depending on the hour explain runs at)
    [fired] = [f for f in report["rules"]["fired"] if f["rule"] == "conta, login ou assinatura gov.br"]
    assert fired["actions"][0].startswith("reject = ") and "'login gov.br'" in fired["because"]


def test_explain_shows_the_words_that_kept_an_integration_error_from_being_returned(tmp_path):
    config = write_config(tmp_path, extra=GOVBR)
    mail = make_mail(subject="Erro 500 na integração com gov.br - token OAuth",
                     body="A autenticação no login gov.br falha com HTTP 500 ao obter o token OAuth.\n"
                          "https://www.gov.br/pt-br/servicos/emitir-certidao\n"
                          # the form's data the desk requires: without it the ticket would wait for it
                          "Órgão: MGI\nServiço: Emitir certidão\nTipo de solicitante: Analista do Serviço\n"
                          "Alcance do defeito: todos\nProtocolos afetados: 2026.0001234\nTelefone: (61) 2020-4000")
    report = json.loads(run(config, "explain", "--json", "--mailbox", "atendimento@example.gov.br", "-",
                            stdin=mail).stdout)
    results = {r["rule"]: r for r in report["rules"]["results"]}
    account = results["conta, login ou assinatura gov.br"]
    assert not account["matched"] and account["reason"].startswith("subject has '500', 'token OAuth', listed in")
    fired = {f["rule"]: f for f in report["rules"]["fired"]}
    assert "conta, login ou assinatura gov.br" not in fired
    assert fired["erro em serviço automatizado"]["actions"] == ["category = 'Erro'", "assign = 'cgate@example.gov.br'"]
    assert report["ticket_after"]["status"] == "assigned" and report["ticket_after"]["category"] == "Erro"
