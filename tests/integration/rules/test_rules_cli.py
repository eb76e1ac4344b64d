"""``gateway check-config`` on rule files and ``gateway explain`` (text and
--json), as the real command in a separate process, on crafted mails and
on the ptbr-clients corpus.  Explain must change nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.corpus import require_corpus
from tests.helpers.mailfactory import make_mail
from tests.helpers.process import query, run, write_config
from tests.integration.rules.conftest import RULES, generate_cpf

ROOT = RULES.parent
DESKS = f"""
rules = "{RULES}/govbr-automacao.toml"

[[mailbox]]
address = "cnes@example.gov.br"
name = "Central de Atendimento CNES"
protocol_prefix = "CNES"
team = ["equipe.cnes@example.gov.br"]
rules = "{RULES}/cnes.toml"

[[mailbox]]
address = "siop@example.gov.br"
protocol_prefix = "SIOP"
team = ["equipe.siop@example.gov.br"]
rules = "{RULES}/siop.toml"

[[mailbox]]
address = "registro.causp@example.gov.br"
protocol_prefix = "CAUSP"
team = ["registro.equipe@example.gov.br"]
rules = "{RULES}/causp.toml"
"""


def _rows(db: Path) -> list[int]:
    return [query(db, f"select count(*) from {table}")[0][0]
            for table in ("inbox", "ticket", "event", "outbox", "mail_key", "ticket_field", "protocol_sequence")]


# -- check-config --------------------------------------------------------------

def test_the_example_config_with_every_rule_file_checks_ok():
    result = run(ROOT / "examples" / "gateway.toml", "check-config")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    for name in ("govbr-automacao", "cnes", "mapa", "siop", "causp"):
        assert f"rules/{name}.toml" in out
    assert "OK (5 mailbox(es))" in out


def test_a_broken_rule_file_fails_check_config_naming_file_rule_and_field(tmp_path):
    rules = tmp_path / "broken.toml"
    rules.write_text('[[rule]]\nname = "prioridade"\npriority = "altíssima"\n', encoding="utf-8")
    result = run(write_config(tmp_path, extra=f'rules = "{rules}"'), "check-config")
    assert result.returncode == 2
    error = result.stderr.decode()
    assert str(rules) in error and 'rule[0] "prioridade": priority' in error and "altíssima" in error


def test_a_template_named_by_a_rule_must_exist(tmp_path):
    rules = tmp_path / "reply.toml"
    rules.write_text('[[rule]]\nname = "orientar"\nreply = "orientacoes_inexistentes"\n', encoding="utf-8")
    result = run(write_config(tmp_path, extra=f'rules = "{rules}"'), "check-config")
    assert result.returncode == 2
    error = result.stderr.decode()
    assert 'rule "orientar": reply' in error and "orientacoes_inexistentes" in error and "pt_BR" in error


def test_a_rules_path_that_is_not_a_file_names_the_mailbox_key(tmp_path):
    result = run(write_config(tmp_path, extra='rules = "rules/nao-existe.toml"'), "check-config")
    assert result.returncode == 2
    assert b"mailbox[0].rules" in result.stderr and b"nao-existe.toml" in result.stderr


def test_gateway_run_refuses_to_start_on_a_broken_rule_file(tmp_path):
    rules = tmp_path / "bad.toml"
    rules.write_text("mode = 'some'\n", encoding="utf-8")
    result = run(write_config(tmp_path, extra=f'rules = "{rules}"'), "run", timeout=60)
    assert result.returncode == 2
    assert b"mode" in result.stderr and b"'first' or 'all'" in result.stderr


# -- explain ---------------------------------------------------------------------

def test_explain_a_corpus_request_to_cnes_in_text(tmp_path):
    corpus = require_corpus("ptbr-clients")
    config = write_config(tmp_path, extra=DESKS)
    result = run(config, "explain", str(corpus / "01-new-outlook-cnes-campos.eml"))
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert "mailbox:  cnes@example.gov.br (Central de Atendimento CNES)" in out
    assert "ticket:   none matched: a new ticket" in out and "role:     requester" in out
    assert "[MATCH] funcionalidade: kind is new; subject has" in out
    assert "-> category = 'funcionalidade'" in out
    assert "[no   ] pedido de urgência: subject: regex" in out
    assert "cpf=***." in out and "uf=MG" in out
    assert "ack                  to mariana.tavares@example.org" in out
    assert "team_new             to equipe.cnes@example.gov.br" in out
    assert _rows(tmp_path / "gateway.db") == [0, 0, 0, 0, 0, 0, 0]


def test_explain_json_of_a_corpus_request_with_an_invalid_cpf(tmp_path):
    corpus = require_corpus("ptbr-clients")
    config = write_config(tmp_path, extra=DESKS)
    result = run(config, "explain", "--json", str(corpus / "05-new-thunderbird-siop-cpf-invalido.eml"))
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)
    assert report["mailbox"]["address"] == "siop@example.gov.br" and report["role"] == "requester"
    assert report["fields"]["missing"] == [{"name": "cpf", "label": "CPF", "problem": "invalid"}]
    assert report["fields"]["found"]["cpf"] == "***.996.264-**"
    assert "145.996.264-84" not in result.stdout.decode()  # masked everywhere, mail texts included
    assert report["ticket_after"]["status"] == "waiting" and report["ticket_after"]["missing_fields"] == ["cpf"]
    assert [m["kind"] for m in report["mails"]] == ["missing_fields", "team_new"]
    matched = {r["rule"] for r in report["rules"]["results"] if r["matched"]}
    assert "servidor público" in matched
    assert all(r["reason"] for r in report["rules"]["results"])
    assert _rows(tmp_path / "gateway.db") == [0, 0, 0, 0, 0, 0, 0]


def test_explain_a_png_that_is_a_pdf_and_an_out_of_scope_request(tmp_path):
    corpus = require_corpus("ptbr-clients")
    config = write_config(tmp_path, extra=DESKS)
    result = run(config, "explain", "--json", str(corpus / "04-new-iphone-causp-png-is-pdf.eml"))
    report = json.loads(result.stdout)
    [attachment] = report["attachments"]
    assert attachment["filename"] == "comprovante.png" and attachment["type"] == "application/pdf"
    assert attachment["passed_on"] is True  # CAU/SP takes PDFs: judged by its bytes, allowed by the policy

    mail = make_mail(subject="Problema com login gov.br", body="Não consigo autenticar na conta gov.br pelo app.")
    result = run(config, "explain", "--mailbox", "atendimento@example.gov.br", "-", stdin=mail)
    out = result.stdout.decode()
    assert "[MATCH] conta, login ou assinatura gov.br" in out
    assert "-> reject = {template = 'rejected', reason = " in out
    assert "[skip ] atraso de protocolo: not evaluated: 'conta, login ou assinatura gov.br' ended the evaluation" in out
    assert "would be rejected" in out and "rejected             to ana.souza@example.org" in out
    assert "ack " not in out


def test_explain_a_follow_up_names_the_ticket_and_why(tmp_path, rng):
    config = write_config(tmp_path, extra=DESKS)
    body = f"Nome: Ana Souza\nTelefone: (61) 3333-0000\nCPF: {generate_cpf(rng)}\nUF: DF\n\nErro na ficha do profissional."
    first = make_mail(subject="Erro na ficha", body=body, to="cnes@example.gov.br")
    assert run(config, "ingest", stdin=first).returncode == 0
    [(protocol,)] = query(tmp_path / "gateway.db", "select protocol from ticket")
    before = _rows(tmp_path / "gateway.db")
    reply = make_mail(subject=f"RES: [{protocol}] Erro na ficha - urgente", body="Por favor.", to="cnes@example.gov.br")
    result = run(config, "explain", "-", stdin=reply)
    out = result.stdout.decode()
    assert f"ticket:   {protocol} (assigned), matched by protocol {protocol} in the subject" in out
    assert "[no   ] funcionalidade: kind is follow_up" in out
    assert "[MATCH] pedido de urgência" in out  # a rule without kind applies to follow-ups
    assert f"result:   follow_up: added to {protocol}" in out
    assert "team_followup        to equipe.cnes@example.gov.br" in out
    assert _rows(tmp_path / "gateway.db") == before
