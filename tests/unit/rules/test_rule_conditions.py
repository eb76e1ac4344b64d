"""Each condition kind alone, then nested with all/any/not, with the reasons explain shows."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gateway.calendar.business import BusinessCalendar
from gateway.rules import schema
from gateway.rules.conditions import check
from gateway.rules.parsing import Where, parse_when
from tests.unit.rules.rule_helpers import EXE, JPEG, PDF, PNG, attachment, facts

WHERE = Where("test.toml", 'rule[0] "t"')


def matches(when: dict, **fact_values) -> bool:
    return check(parse_when(when, WHERE), facts(**fact_values)).matched


@pytest.mark.parametrize(("when", "sender", "expected"), [
    ({"sender": "*@example.org"}, "ana@example.org", True),
    ({"sender": ["bob@*", "ANA@EXAMPLE.ORG"]}, "ana@example.org", True),
    ({"sender": {"domain": "*.gov.br"}}, "joao@saude.gov.br", True),
    ({"sender": {"domain": "*.gov.br"}}, "joao@gov.br.example.com", False),
    ({"sender": {"domain": ["gov.br"]}}, "joao@saude.gov.br", False),
    ({"sender": {"address": "x@*", "domain": "example.org"}}, "ana@example.org", True),
])
def test_sender_globs_on_address_and_domain(when, sender, expected):
    assert matches(when, sender=sender) is expected


def test_recipient_looks_at_mailbox_to_and_cc():
    recipients = ("cnes@example.gov.br", "chefe@example.gov.br")
    assert matches({"recipient": "chefe@*"}, recipients=recipients)
    assert not matches({"recipient": {"domain": "example.org"}}, recipients=recipients)


@pytest.mark.parametrize(("when", "subject", "expected"), [
    ({"subject": {"words": ["inclusão", "profissional"]}}, "Inclusao de PROFISSIONAL no CNES", True),
    ({"subject": {"words": "inclusão profissional"}}, "Inclusão de profissional", True),
    ({"subject": {"words": ["inclusão", "equipe"]}}, "Inclusão de profissional", False),
    ({"subject": {"words": ["cnes"]}}, "SCNES fora do ar", False),            # whole words only
    ({"subject": {"words": ["gov.br"]}}, "Erro na automação gov.br - 403", True),
    ({"subject": {"words": ["gov.br"]}}, "Erro em xgov.brx", False),
    ({"subject": {"phrases": ["conta gov.br", "fora do ar"]}}, "Sistema   FORA do Ar", True),
    ({"subject": {"phrases": ["conta gov.br"]}}, "conta do gov.br", False),
    ({"subject": {"regex": r"ATD-\d{4}"}}, "RES: [atd-2026-000001-7]", True),
    ({"subject": {"regex": r"urg[eê]ncia"}}, "Pedido de URGÊNCIA", True),          # accents folded on both sides
    ({"subject": {"words": ["CNES"], "case_sensitive": True}}, "erro no cnes", False),
    ({"subject": {"words": ["CNES"], "case_sensitive": True}}, "erro no CNES", True),
    ({"subject": {"regex": "CNES", "case_sensitive": True}}, "cnes", False),
    ({"subject": {"words": ["erro"], "phrases": ["fora do ar"]}}, "erro: fora do ar", True),
    ({"subject": {"words": ["erro"], "phrases": ["fora do ar"]}}, "erro de cadastro", False),
])
def test_subject_words_phrases_regex_ignore_case_and_accents(when, subject, expected):
    assert matches(when, subject=subject) is expected


def test_body_is_matched_like_the_subject():
    body = "Bom dia,\nao salvar a ficha aparece\n\"CBO incompatível\"."
    assert matches({"body": {"phrases": ["cbo incompativel"]}}, body=body)
    assert not matches({"body": {"phrases": ["cbo incompativel"]}}, subject=body)


@pytest.mark.parametrize(("language", "expected"), [("pt-BR", True), ("pt", True), ("PT_br", True),
                                                    ("en-US", False), ("portuguese", False), (None, False)])
def test_language_prefix(language, expected):
    assert matches({"language": ["pt"]}, language=language) is expected


def test_attachment_types_by_sniffed_content_count_and_size():
    lying = attachment("foto.png", PDF, "image/png")
    photo = attachment("print.jpg", JPEG, "image/jpeg", pad_to=3000)
    files = (lying, photo)
    assert not matches({"attachment": {"types": ["image/png"]}}, attachments=(lying,))
    assert matches({"attachment": {"types": ["application/pdf"]}}, attachments=(lying,))
    assert matches({"attachment": {"types": ["image/*"]}}, attachments=files)
    assert matches({"attachment": {"min_count": 2}}, attachments=files)
    assert not matches({"attachment": {"max_count": 1}}, attachments=files)
    assert matches({"attachment": {"size_over": "2KB"}}, attachments=files)
    assert not matches({"attachment": {"size_over": "2KB", "types": ["application/*"]}}, attachments=files)
    assert matches({"attachment": {"size_under": 1000}}, attachments=files)
    assert matches({"attachment": {"min_count": 0, "max_count": 0}}, attachments=())
    assert not matches({"attachment": {}}, attachments=())
    assert matches({"attachment": {"types": ["application/x-msdownload"]}},
                   attachments=(attachment("nota.pdf", EXE, "application/pdf"),))
    assert matches({"attachment": {"types": ["image/png"]}}, attachments=(attachment("x.bin", PNG),))


def test_header_present_absent_value_and_regex():
    headers = (("X-Priority", "1 (Highest)"), ("Auto-Submitted", "=?utf-8?q?auto-replied?="))
    assert matches({"header": {"name": "x-priority", "present": True}}, headers=headers)
    assert matches({"header": {"name": "List-Id", "present": False}}, headers=headers)
    assert matches({"header": {"name": "X-Priority", "value": "1*"}}, headers=headers)
    assert not matches({"header": {"name": "X-Priority", "value": "5*"}}, headers=headers)
    assert matches({"header": {"name": "Auto-Submitted", "regex": "^auto-"}}, headers=headers)  # decoded
    assert not matches({"header": {"name": "List-Id", "value": "*"}}, headers=headers)


def test_kind_new_or_follow_up():
    assert matches({"kind": "new"}, is_new=True)
    assert matches({"kind": "follow_up"}, is_new=False)
    assert not matches({"kind": "new"}, is_new=False)


def test_arrival_against_the_calendar():
    calendar = BusinessCalendar()  # 08:00-18:00 Monday to Friday, America/Sao_Paulo
    tuesday_10h = datetime(2026, 11, 24, 13, 0, tzinfo=timezone.utc)
    tuesday_22h = datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)
    assert matches({"arrival": "business_hours"}, arrived_at=tuesday_10h, calendar=calendar)
    assert matches({"arrival": "outside_business_hours"}, arrived_at=tuesday_22h, calendar=calendar)
    assert not matches({"arrival": "business_hours"}, arrived_at=tuesday_22h, calendar=calendar)
    verdict = check(parse_when({"arrival": "business_hours"}, WHERE), facts(arrived_at=tuesday_10h))
    assert not verdict.matched and "no business calendar" in verdict.reason


def test_all_any_not_nesting():
    when = {"all": [{"any": [{"subject": {"words": ["cnes"]}}, {"body": {"words": ["cnes"]}}]},
                    {"not": {"sender": {"domain": "*.gov.br"}}}],
            "kind": "new"}
    assert matches(when, subject="", body="Erro no CNES", sender="ana@example.org")
    assert not matches(when, subject="Erro no CNES", sender="ana@saude.gov.br")
    assert not matches(when, subject="Erro no SIOP", sender="ana@example.org")
    assert not matches(when, subject="Erro no CNES", is_new=False)


def test_a_when_table_with_several_entries_is_an_all():
    condition = parse_when({"kind": "new", "subject": {"words": ["x"]}}, WHERE)
    assert isinstance(condition, schema.All) and len(condition.children) == 2
    assert isinstance(parse_when({"kind": "new"}, WHERE), schema.KindMatch)


def test_reasons_name_the_leaf_that_decided():
    when = parse_when({"all": [{"kind": "new"}, {"subject": {"words": ["cnes", "cbo"]}}]}, WHERE)
    verdict = check(when, facts(subject="Erro no CNES"))
    assert not verdict.matched and verdict.reason == "subject: missing word(s) 'cbo'"
    verdict = check(parse_when({"any": [{"kind": "follow_up"}, {"language": "en"}]}, WHERE), facts())
    assert verdict.reason == "none of: kind is new | language: the mail has no Content-Language"
    verdict = check(parse_when({"not": {"kind": "new"}}, WHERE), facts())
    assert verdict.reason == "not (kind is new)"
    assert check(schema.ALWAYS, facts()).reason == "always"
