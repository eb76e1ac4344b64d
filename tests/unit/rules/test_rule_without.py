"""``without``: a rule that must not fire when some words are there (issue 15,
bug 4: an out-of-scope rule returned an integration error), and the reasons
``gateway explain`` shows for it."""

from __future__ import annotations

import pytest

from gateway.errors import ConfigError
from gateway.rules.conditions import check
from gateway.rules.parsing import Where, parse_when
from tests.helpers.mailfactory import make_mail
from tests.unit.rules.rule_helpers import facts
from tests.unit.rules.test_rule_examples import run

WHERE = Where("test.toml", 'rule[0] "t"')


def verdict(when: dict, **fact_values):
    return check(parse_when(when, WHERE), facts(**fact_values))


@pytest.mark.parametrize(("body", "expected"), [
    ("Esqueci a senha da conta gov.br.", True),
    ("Erro 500 na integração.", False),
    ("ERRO NA INTEGRACAO do serviço", False),  # accents and case never count
    ("O token OAuth expira.", False),
    ("Tokenização de dados.", True),  # whole words only
])
def test_without_matches_only_when_none_of_its_words_is_there(body, expected):
    when = {"body": {"without": ["500", "erro na integração", "token OAuth"]}}
    assert verdict(when, body=body).matched is expected


def test_without_combines_with_words_and_names_what_was_found():
    when = {"body": {"words": ["gov.br"], "without": ["500", "token"]}}
    found = verdict(when, body="login gov.br com erro 500 ao pedir o token")
    assert not found.matched and found.reason == "body has '500', 'token', listed in 'without'"
    fine = verdict(when, body="minha conta gov.br")
    assert fine.matched and fine.reason == "body has 'gov.br' and none of its 'without' words"
    alone = verdict({"subject": {"without": ["500"]}}, subject="Conta gov.br")
    assert alone.matched and alone.reason == "subject has none of its 'without' words"


@pytest.mark.parametrize("value", [[], [""], "", [3]])
def test_a_broken_without_names_the_key(value):
    with pytest.raises(ConfigError, match=r"when\.body\.without"):
        parse_when({"body": {"without": value}}, WHERE)


def test_the_govbr_desk_keeps_its_own_errors_and_still_returns_account_questions():
    error = make_mail(subject="Erro 500 na integração com gov.br - token OAuth",
                      body="A autenticação no login gov.br falha com HTTP 500 ao obter o token OAuth. "
                           "https://www.gov.br/pt-br/servicos/emitir-certidao")
    evaluation = run("govbr-automacao.toml", error)
    assert evaluation.outcome.reject is None and evaluation.outcome.category == "Erro"
    [account] = [r for r in evaluation.results if r.rule == "conta, login ou assinatura gov.br"]
    assert not account.matched and "listed in 'without'" in account.reason and "'500'" in account.reason
    question = make_mail(subject="Conta gov.br bloqueada", body="Minha conta gov.br foi bloqueada após errar a senha.")
    assert run("govbr-automacao.toml", question).outcome.reject is not None
    slow = make_mail(subject="Demora para carregar", body="Lentidão no acesso ao serviço automatizado desde ontem.")
    assert run("govbr-automacao.toml", slow).outcome.reject is None, "slowness is an error, not a late protocol"


def test_mapa_returns_business_rules_but_not_a_defect_that_mentions_one():
    question = make_mail(subject="Dúvida sobre regra de negócio", body="Qual a regra de negócio para deferir?")
    assert run("mapa.toml", question).outcome.reject is not None
    defect = make_mail(subject="Erro na regra de negócio",
                       body="Aparece mensagem de erro ao aplicar a regra de negócio.")
    outcome = run("mapa.toml", defect).outcome
    assert outcome.reject is None and outcome.category == "Defeito sem paralisação"
