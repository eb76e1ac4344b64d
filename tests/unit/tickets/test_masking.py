"""What ``mask_personal_data`` hides and what it leaves as written.

Every CPF here comes from ``generate_cpf`` (random bases, fictitious use);
phone numbers use the 99999/3333 patterns of fictitious examples.
"""

from __future__ import annotations

import random
import re

import pytest

from gateway.tickets.fields import mask_personal_data, mask_personal_data_in
from tests.unit.rules.rule_helpers import generate_cpf

CPF = generate_cpf(random.Random(13), formatted=False)
A, B, C, D = CPF[:3], CPF[3:6], CPF[6:9], CPF[9:]
BAD_CPF = generate_cpf(random.Random(14), valid=False, formatted=False)  # wrong check digits: masked all the same

MASKED = [
    # CPFs: every written form keeps its middle six digits.
    (f"{A}.{B}.{C}-{D}", f"***.{B}.{C}-**"),
    (f"{A} {B} {C} {D}", f"*** {B} {C} **"),
    (f"{A}{B}{C}-{D}", f"***{B}{C}-**"),
    (CPF, f"***{B}{C}**"),
    (f"{A}.{B}.{C}/{D}", f"***.{B}.{C}/**"),
    (f"{A}.{B}.{C}.{D}", f"***.{B}.{C}.**"),
    (f"{A}-{B}-{C}-{D}", f"***-{B}-{C}-**"),
    (f"{A}\u00a0{B}\u00a0{C}\u00a0{D}", f"***\u00a0{B}\u00a0{C}\u00a0**"),
    (BAD_CPF, f"***{BAD_CPF[3:9]}**"),
    (f"CPF: {A}.{B}.{C}-{D}.", f"CPF: ***.{B}.{C}-**."),
    (f"CPF{CPF}", f"CPF***{B}{C}**"),
    (f"cpf={CPF},", f"cpf=***{B}{C}**,"),
    # Phones: country and area codes and the last four digits stay.
    ("(61) 99999-8888", "(61) *****-8888"),
    ("(61)99999-8888", "(61)*****-8888"),
    ("(061) 3333-4444", "(061) ****-4444"),
    ("61 99999 8888", "61 ***** 8888"),
    ("61 9 9999-8888", "61 * ****-8888"),
    ("61-3333-4444", "61-****-4444"),
    ("+55 61 999998888", "+55 61 *****8888"),
    ("+55 (61) 3333-4444", "+55 (61) ****-4444"),
    ("+5561999998888", "+5561*****8888"),
    ("https://wa.me/5561999998888", "https://wa.me/5561*****8888"),
    ("6133334444", "61****4444"),
    ("61999998888", "***999988**"),  # eleven digits: a CPF's shape, masked as one
    ("3333-4444", "****-4444"),
    ("99999-8888", "*****-8888"),
    ("Tel.: 3333-4444 / 99999-8888", "Tel.: ****-4444 / *****-8888"),
    ("Tel: 3333-4444/99999-8888", "Tel: ****-4444/*****-8888"),
    # Digits in e-mail local parts.
    (f"{CPF}@cidada.example", f"***{B}{C}**@cidada.example"),
    (f"pii-{CPF}@cidada.example", f"pii-***{B}{C}**@cidada.example"),
    (f"Ana <ana{CPF}@cidada.example>", f"Ana <ana***{B}{C}**@cidada.example>"),
    ("ana.6133334444@cidada.example", "ana.********44@cidada.example"),
    ("joao.1234567@cidada.example", "joao.*****67@cidada.example"),
    # As log lines quote them: repr() of bytes, JSON escapes.
    (f"b'CPF:\\t{CPF}\\r\\n'", f"b'CPF:\\t***{B}{C}**\\r\\n'"),
    (f"b'\\xc2\\xa0{A}.{B}.{C}-{D}'", f"b'\\xc2\\xa0***.{B}.{C}-**'"),
    (f'"\\u00a0{CPF}"', f'"\\u00a0***{B}{C}**"'),
    (f"MAIL FROM:<{CPF}@cidada.example>", f"MAIL FROM:<***{B}{C}**@cidada.example>"),
]

KEPT = [
    "CNES-2026-000005-6",
    "RES: [ATD-2026-000123-0] Erro no cadastro",
    "ATD-2026-23456789-0",
    "23/11/2026 10:00",
    "2026-11-23T13:00:00+00:00",
    "2026-11-23 13:00:00,123 INFO gateway.ingest: done",
    "segunda-feira, 23/11/2026, às 18h",
    "às 10:30-11:30",
    "CEP 70040-010",
    "CEP: 70.040-010",
    "CEP 70040010",
    "R$ 1.234.567,89",
    "R$ 123.456.789,01",
    "R$ 2.500,00",
    "período 2025-2026",
    "192.168.100.10",
    "peer ('127.0.0.1', 54321)",
    "INE 0001234567",
    "conta 123456789012",
    "CNPJ 12.345.678/0001-90",
    "SEI 25000.123456/2026-11",
    "ramal 1234",
    "sha256 3a39053344705b9f",
    "Message-ID: <ack.3fa9c01234567890@example.gov.br>",
    "Ana Souza <ana.souza@example.org>",
    "1764000000",
    "outbox #12345 (ack) sent",
    "",
]


@pytest.mark.parametrize(("text", "masked"), MASKED)
def test_personal_data_is_masked_in_every_common_form(text: str, masked: str) -> None:
    assert mask_personal_data(text) == masked


@pytest.mark.parametrize("text", KEPT)
def test_protocols_dates_money_and_other_numbers_stay_as_written(text: str) -> None:
    assert mask_personal_data(text) == text


def test_no_cpf_survives_in_any_form_whatever_its_digits() -> None:
    rng = random.Random(20261123)
    for _ in range(300):
        cpf = generate_cpf(rng, valid=rng.random() < 0.5, formatted=False)
        a, b, c, d = cpf[:3], cpf[3:6], cpf[6:9], cpf[9:]
        forms = [f"{a}.{b}.{c}-{d}", f"{a} {b} {c} {d}", f"{a}{b}{c}-{d}", cpf, f"{a}.{b}.{c}/{d}",
                 f"pii-{cpf}@cidada.example"]
        text = mask_personal_data("Meu CPF é " + "; ou ".join(forms) + ".")
        assert not re.search(r"[0-9][^0-9\n]{0,3}".join(cpf[:10]) + cpf[10], text), text


def test_masking_twice_changes_nothing_more() -> None:
    text = " ".join(text for text, _ in MASKED)
    once = mask_personal_data(text)
    assert mask_personal_data(once) == once


def test_a_structure_is_masked_string_by_string_except_the_keys_named() -> None:
    data = {"requester": f"{CPF}@cidada.example", "count": 2, "internal": True, "due_at": None,
            "messages": [{"text": f"tel (61) 99999-8888, cpf {CPF}", "message_id": f"<{CPF}@client.example>"}],
            "tags": ("urgente", "61 3333-4444")}
    masked = mask_personal_data_in(data, except_keys=frozenset({"message_id"}))
    assert masked == {"requester": f"***{B}{C}**@cidada.example", "count": 2, "internal": True, "due_at": None,
                      "messages": [{"text": f"tel (61) *****-8888, cpf ***{B}{C}**",
                                    "message_id": f"<{CPF}@client.example>"}],
                      "tags": ("urgente", "61 ****-4444")}
    assert data["requester"] == f"{CPF}@cidada.example"  # a copy: the caller's data is untouched
