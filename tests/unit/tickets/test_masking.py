"""What ``mask_personal_data`` hides and what it leaves as written.

Every CPF here comes from ``generate_cpf`` (random bases, fictitious use);
phone numbers use the 99999/3333 patterns of fictitious examples.
"""

from __future__ import annotations

import random
import re
import unicodedata

import pytest

from gateway.tickets.fields import mask_personal_data, mask_personal_data_in
from tests.unit.rules.rule_helpers import generate_cpf

CPF = generate_cpf(random.Random(13), formatted=False)
A, B, C, D = CPF[:3], CPF[3:6], CPF[6:9], CPF[9:]
BAD_CPF = generate_cpf(random.Random(14), valid=False, formatted=False)  # wrong check digits: masked all the same
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

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
    # What Word, Outlook and phone keyboards write: matched in NFKC, kept as written.
    (f"{A}.{B}.{C} - {D}", f"***.{B}.{C} - **"),
    (f"{A}.{B}.{C}- {D}", f"***.{B}.{C}- **"),
    (f"{A} . {B} . {C} / {D}", f"*** . {B} . {C} / **"),
    (f"{A}.{B}.{C}\u2013{D}", f"***.{B}.{C}\u2013**"),  # en dash (autocorrect)
    (f"{A}.{B}.{C}\u2011{D}", f"***.{B}.{C}\u2011**"),  # non-breaking hyphen (mobile keyboards)
    (f"{A}\u2010{B}\u2012{C}\u2014{D}", f"***\u2010{B}\u2012{C}\u2014**"),  # hyphen, figure dash, em dash
    (f"{A}.{B}.{C}\u2212{D}", f"***.{B}.{C}\u2212**"),  # minus sign
    (f"{A},{B},{C}-{D}", f"***,{B},{C}-**"),
    (f"{A}, {B}, {C} - {D}", f"***, {B}, {C} - **"),
    (f"{A}.{B}.{C}-{D}".translate(FULL_WIDTH), f"***.{B}.{C}-**".translate(FULL_WIDTH)),
    (CPF.translate(FULL_WIDTH), f"***{B}{C}**".translate(FULL_WIDTH)),
    (f"{A}．{B}．{C}－{D}".translate(FULL_WIDTH), f"***．{B}．{C}－**".translate(FULL_WIDTH)),
    (f"CPF：{A}.{B}.{C}-{D}", f"CPF：***.{B}.{C}-**"),
    (f"nº{CPF}", f"nº***{B}{C}**"),  # "º" stays a mark: read as "o" it would glue the number to a word
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
    ("61-9-9999-8888", "61-*-****-8888"),
    ("(61) 9-9999-8888", "(61) *-****-8888"),
    ("9-9999-8888", "*-****-8888"),
    ("(61) 99999 - 8888", "(61) ***** - 8888"),
    ("+55 61 9 9999 - 8888", "+55 61 * **** - 8888"),
    ("61\u20139\u20139999\u20138888", "61\u2013*\u2013****\u20138888"),
    ("3333\u20134444", "****\u20134444"),
    ("（６１）９９９９９－８８８８", "（６１）*****－８８８８"),
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
    "US$ 123,456,789.01",
    "R$ 1.234,56 - R$ 2.345,67",
    "Ｒ＄ １．２３４．５６７，８９",
    "período 2025 - 2026",
    "período 2025\u20132026",
    "de 2010 a 2015, 2016 - 2020",
    "às 10:30\u201311:30",
    "das 10:00 - 12:00",
    "23/11/2026 - 10:00",
    "２３/１１/２０２６ １０:００",
    "CEP 70040\u2013010",
    "CEP 70040 - 010",
    "CNES\u20132026\u2013000005\u20136",
    "ＣＮＥＳ-２０２６-０００００５-６",
    "itens 123, 456, 789, 10",
    "páginas 123 - 456",
    "ramal 1234 - 5678",
    "192.168.100.10 - 10.0.0.1",
    "processo 123.456.789/2026-11",
    "versão 3.3.1 - 4.5.6",
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
                 f"pii-{cpf}@cidada.example", f"{a}.{b}.{c} - {d}", f"{a}.{b}.{c}\u2013{d}", f"{a},{b},{c}-{d}",
                 f"{a}.{b}.{c}\u2011{d}", f"{a}.{b}.{c}-{d}".translate(FULL_WIDTH)]
        text = unicodedata.normalize("NFKC", mask_personal_data("Meu CPF é " + "; ou ".join(forms) + "."))
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
