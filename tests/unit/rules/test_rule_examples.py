"""The example rule files under rules/: they load, and do what their comments promise
on crafted mails and on the ptbr-clients corpus."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from gateway.calendar.business import BusinessCalendar
from gateway.durations import Duration, Unit
from gateway.mail.parsed import parse
from gateway.rules.conditions import Facts
from gateway.rules.engine import Evaluation, check_attachments, evaluate, missing_fields
from gateway.rules.loader import load_rules
from gateway.tickets.fields import extract_fields
from tests.helpers.corpus import REPO_ROOT, ptbr_case
from tests.helpers.mailfactory import make_mail
from tests.unit.rules.rule_helpers import MP4, PNG

RULES = REPO_ROOT / "rules"
EXAMPLES = sorted(path.name for path in RULES.glob("*.toml"))


def run(rule_file: str, raw: bytes, *, is_new: bool = True, mailbox: str = "box@example.gov.br",
        arrived_at: datetime | None = None) -> Evaluation:
    mail = parse(raw)
    facts = Facts.from_mail(mail, mailbox=mailbox, is_new=is_new, arrived_at=arrived_at,
                            calendar=BusinessCalendar())
    return evaluate(load_rules(RULES / rule_file), facts)


def corpus(stem: str, rule_file: str, **options) -> tuple[Evaluation, dict, bytes]:
    truth, eml = ptbr_case(stem)
    raw = eml.read_bytes()
    return run(rule_file, raw, **options), truth, raw


def test_the_examples_are_there():
    assert set(EXAMPLES) >= {"cnes.toml", "govbr-automacao.toml", "mapa.toml", "siop.toml", "causp.toml"}
    assert (RULES / "shared" / "common.toml").is_file()


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_loads_and_includes_common(name):
    ruleset = load_rules(RULES / name)
    assert ruleset.mode == "all" and ruleset.rules
    assert ruleset.rules[0].source.endswith("shared/common.toml")


def test_cnes_policy_and_classification():
    ruleset = load_rules(RULES / "cnes.toml")
    assert ruleset.required == ("nome", "telefone", "cpf", "uf")
    assert ruleset.attachments.allowed == ("image/gif", "image/jpeg", "image/png")
    assert ruleset.attachments.max_size == 3 * 1024 * 1024
    assert run("cnes.toml", make_mail(subject="Exportação da competência falha")).outcome.category == "funcionalidade"
    outcome = run("cnes.toml", make_mail(subject="Informação", body="Qual o horário de vocês?")).outcome
    assert outcome.category == "outros assuntos" and outcome.assignee == "equipe.cnes@example.gov.br"
    assert run("cnes.toml", make_mail(subject="Exportação"), is_new=False).outcome.category is None


def test_cnes_video_gets_a_note_and_is_refused_by_the_policy():
    raw = make_mail(subject="Erro na ficha", attachments=[("erro.mp4", "video/mp4", MP4), ("tela.png", "image/png", PNG)])
    outcome = run("cnes.toml", raw).outcome
    assert "video" in outcome.tags and "link de armazenamento em nuvem" in outcome.notes[0]
    refusals = check_attachments(load_rules(RULES / "cnes.toml").attachments, parse(raw).attachments)
    assert [(r.filename, r.kind) for r in refusals] == [("erro.mp4", "type")]


def test_corpus_01_cnes_has_every_required_field_and_a_function():
    evaluation, truth, raw = corpus("01-new-outlook-cnes-campos", "cnes.toml")
    assert evaluation.outcome.category == "funcionalidade" and evaluation.outcome.reject is None
    required = load_rules(RULES / "cnes.toml").required
    assert missing_fields(required, extract_fields(parse(raw).text)) == []


def test_corpus_03_cnes_latin1_labels_still_give_every_field():
    evaluation, truth, raw = corpus("03-new-webmail-uol-cnes-latin1", "cnes.toml")
    assert evaluation.outcome.category == "funcionalidade"
    assert missing_fields(("nome", "telefone", "cpf", "uf"), extract_fields(parse(raw).text)) == []


@pytest.mark.parametrize("stem", ["02-new-gmail-govbr-erro-png", "06-new-owa-html-only-govbr"])
def test_corpus_govbr_login_mails_are_returned_with_the_right_channel(stem):
    evaluation, _, _ = corpus(stem, "govbr-automacao.toml")
    outcome = evaluation.outcome
    assert outcome.reject is not None and outcome.reject.template == "rejected"
    assert "e.gov.br/solicitaratendimentogovbr" in outcome.reject.reason
    assert [r.rule for r in evaluation.matches] == ["conta, login ou assinatura gov.br"]
    assert all(not r.evaluated for r in evaluation.results[-2:])  # stop


def test_govbr_automation_errors_are_kept_and_delays_are_returned():
    error = make_mail(subject="Erro na API de integração do serviço automatizado",
                      body="O roteamento de processos do serviço X parou com erro 500 na API.")
    outcome = run("govbr-automacao.toml", error).outcome
    assert outcome.reject is None and outcome.category == "Erro" and outcome.assignee == "cgate@example.gov.br"
    delay = make_mail(subject="Demora no meu protocolo", body="Meu pedido ainda não foi atendido pelo órgão.")
    assert "não é um erro da plataforma" in run("govbr-automacao.toml", delay).outcome.reject.reason
    # a follow-up on an existing ticket is never returned by these rules
    assert run("govbr-automacao.toml", make_mail(subject="Minha conta gov.br"), is_new=False).outcome.reject is None


@pytest.mark.parametrize(("subject", "body", "category", "hours"), [
    ("Como usar o token de assinatura?", "Tenho uma dúvida sobre a Minha área.", "Consulta Técnica", 2),
    ("Sistema fora do ar", "Ninguém consegue abrir a solicitação.", "Defeito com paralisação", 4),
    ("Erro ao anexar documento", "Aparece uma mensagem de erro mas consigo continuar.", "Defeito sem paralisação", 24),
])
def test_mapa_classifies_with_sla(subject, body, category, hours):
    outcome = run("mapa.toml", make_mail(subject=subject, body=body)).outcome
    assert outcome.category == category and outcome.resolution == Duration(hours, Unit.HOURS)


def test_mapa_paralisacao_wins_over_a_plain_error_and_business_rules_are_returned():
    evaluation = run("mapa.toml", make_mail(subject="Erro: sistema fora do ar", body="erro geral"))
    assert evaluation.outcome.category == "Defeito com paralisação" and evaluation.outcome.priority == "urgente"
    returned = run("mapa.toml", make_mail(subject="Dúvida sobre regras de negócio do serviço")).outcome
    assert returned.reject is not None and "gestor do serviço" in returned.reject.reason


def test_corpus_05_siop_access_request_with_an_invalid_cpf():
    evaluation, truth, raw = corpus("05-new-thunderbird-siop-cpf-invalido", "siop.toml")
    outcome = evaluation.outcome
    assert outcome.category == "Solicitação de acesso" and "orgao-publico" in outcome.tags
    assert truth["cpf_valid"] is False
    assert missing_fields(load_rules(RULES / "siop.toml").required, extract_fields(parse(raw).text)) == ["CPF inválido"]


def test_corpus_04_causp_keeps_the_pdf_named_png_and_classifies_it():
    evaluation, truth, raw = corpus("04-new-iphone-causp-png-is-pdf", "causp.toml")
    ruleset = load_rules(RULES / "causp.toml")
    assert ruleset.attachments.max_size == 2 * 1024 * 1024
    assert check_attachments(ruleset.attachments, parse(raw).attachments) == []  # a PDF is welcome here
    assert evaluation.outcome.category == "Erro" and evaluation.outcome.tags == ("anuidade",)
    assert missing_fields(ruleset.required, extract_fields(parse(raw).text)) == []


def test_causp_refuses_programs_and_big_files():
    raw = make_mail(attachments=[("planta.pdf", "application/pdf", b"MZ\x90\x00" + b"\x00" * 100),
                                 ("foto.png", "image/png", PNG + b"\x00" * (2 * 1024 * 1024))])
    refusals = check_attachments(load_rules(RULES / "causp.toml").attachments, parse(raw).attachments)
    assert [(r.filename, r.kind) for r in refusals] == [("planta.pdf", "type"), ("foto.png", "size")]


def test_causp_asks_for_the_rrt_number_only_when_missing():
    assert "número do RRT" in run("causp.toml", make_mail(body="Meu RRT não aparece.")).outcome.notes[0]
    assert run("causp.toml", make_mail(body="Meu RRT 1234567 não aparece.")).outcome.notes == ()


def test_common_rules_tag_leftover_auto_replies_urgency_and_out_of_hours():
    evaluation, _, _ = corpus("20-autoreply-sem-header-ferias", "cnes.toml", is_new=False)
    assert "resposta-automatica" in evaluation.outcome.tags
    urgent = run("siop.toml", make_mail(subject="URGENTE - emenda não aparece"))
    assert urgent.outcome.priority == "alta" and "pediu-urgencia" in urgent.outcome.tags
    night = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)  # 23:00 in São Paulo
    assert "fora-do-expediente" in run("siop.toml", make_mail(), arrived_at=night).outcome.tags
    noon = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
    assert "fora-do-expediente" not in run("siop.toml", make_mail(), arrived_at=noon).outcome.tags
