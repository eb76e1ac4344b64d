"""Contact fields from labelled lines, CPF check digits and masking.

CPFs here are generated from random bases with a fixed seed (the check
digits computed independently of the code under test); the only literal
CPFs are the corpus's fictitious ones.
"""

from __future__ import annotations

import os
import random

import pytest

from gateway.tickets.fields import (
    UFS,
    cpf_check_digits,
    cpf_is_valid,
    extract_fields,
    mask_cpf,
    uf_is_valid,
)
from tests.helpers.corpus import ptbr_cases, require_corpus

def corpus_cases() -> list[dict]:
    require_corpus("ptbr-clients")
    return [{**case, "name": eml.stem} for eml, case in ptbr_cases()]


def generated_cpf(rng: random.Random) -> str:
    """A valid CPF by the official algorithm, written out here on purpose (not the module's)."""
    while True:
        digits = [rng.randrange(10) for _ in range(9)]
        if len(set(digits)) > 1:
            break
    for weights in (range(10, 1, -1), range(11, 1, -1)):
        remainder = sum(digit * weight for digit, weight in zip(digits, weights)) % 11
        digits.append(0 if remainder < 2 else 11 - remainder)
    return "".join(map(str, digits))


def punctuated(cpf: str) -> str:
    return f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"


def with_wrong_last_digit(cpf: str) -> str:
    return cpf[:-1] + str((int(cpf[-1]) + 1) % 10)


GENERATED = [generated_cpf(random.Random(20261116 + index)) for index in range(200)]


# --- corpus ---------------------------------------------------------------------------------


def test_corpus_fields_match_the_ground_truth() -> None:
    disagreements = {}
    for case in corpus_cases():
        if case["reply_text"] is None:
            continue
        found = extract_fields(case["reply_text"])
        if found != case["fields"]:
            disagreements[case["name"]] = (found, case["fields"])
    assert disagreements == {}


def test_corpus_cpf_validity() -> None:
    checked = 0
    for case in corpus_cases():
        if "cpf" in case["fields"]:
            assert cpf_is_valid(case["fields"]["cpf"]) is case["cpf_valid"], case["name"]
            checked += 1
    assert checked >= 4


# --- labelled lines -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Nome: Ana Souza", {"nome": "Ana Souza"}),
        ("Nome completo - Ana Souza", {"nome": "Ana Souza"}),
        ("NOME:Ana Souza  ", {"nome": "Ana Souza"}),
        ("C.P.F.: 000", {"cpf": "000"}),
        ("CPF - 000", {"cpf": "000"}),
        ("Nº do CPF: 000", {"cpf": "000"}),
        ("Fone: (11) 3000-0000", {"telefone": "(11) 3000-0000"}),
        ("Tel.: (11) 3000-0000", {"telefone": "(11) 3000-0000"}),
        ("Telefone: (11) 3000-0000", {"telefone": "(11) 3000-0000"}),
        ("Celular: (11) 90000-0000", {"telefone": "(11) 90000-0000"}),
        ("Telefone/Celular: (11) 90000-0000", {"telefone": "(11) 90000-0000"}),
        ("Telefone para contato - (11) 3000-0000", {"telefone": "(11) 3000-0000"}),
        ("E-mail: ana@example.org", {"email": "ana@example.org"}),
        ("e-mail - ana@example.org", {"email": "ana@example.org"}),
        ("Email: ana@example.org", {"email": "ana@example.org"}),
        ("UF: SP", {"uf": "SP"}),
        ("UF - sp", {"uf": "sp"}),
        ("Estado: Bahia", {"uf": "Bahia"}),
        ("Município: Juiz de Fora", {"municipio": "Juiz de Fora"}),
        ("Municipio: São José dos Campos", {"municipio": "São José dos Campos"}),
        ("Cidade: Campinas", {"municipio": "Campinas"}),
        ("Município/UF: Campinas/SP", {"municipio": "Campinas", "uf": "SP"}),
        ("Municipio / UF: Campinas - SP", {"municipio": "Campinas", "uf": "SP"}),
        ("Município - UF: Recife (PE)", {"municipio": "Recife", "uf": "PE"}),
        ("Cidade/Estado: Porto Alegre, RS", {"municipio": "Porto Alegre", "uf": "RS"}),
        ("Municipio: Feira de Santana / BA", {"municipio": "Feira de Santana", "uf": "BA"}),
        ("Município: Embu-Guaçu", {"municipio": "Embu-Guaçu"}),
        ("Município/UF: Campinas/XX", {"municipio": "Campinas/XX"}),
        ("  - Nome: Ana", {"nome": "Ana"}),
        ("• CPF: 000", {"cpf": "000"}),
    ],
)
def test_label_variants(line: str, expected: dict[str, str]) -> None:
    assert extract_fields(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "Nome da unidade: UBS Jardim", "Perfil: Unidade Orçamentária - consulta e alteração", "Estado: pendente",
        "Seguem os dados para contato:", "Nome:", "CPF:   ", "Assuntos urgentes: suporte@example.org",
        "Secretaria Municipal de Saúde - Campinas", "Bom dia, o telefone não funciona: erro 403",
        "Nome e telefone: Ana, 3000-0000",
    ],
)
def test_lines_that_are_not_fields(line: str) -> None:
    assert extract_fields(line) == {}


def test_first_line_for_a_field_wins_and_uf_line_beats_city_suffix() -> None:
    text = "UF: MG\nNome: Ana\nNome: Beatriz\nMunicípio: Contagem / SP"
    assert extract_fields(text) == {"uf": "MG", "nome": "Ana", "municipio": "Contagem"}


def test_fields_among_free_text_and_crlf() -> None:
    text = "Bom dia,\r\n\r\nNão consigo acessar.\r\n\r\nNome: Ana Souza\r\nE-mail: ana@example.org\r\nUF: DF\r\n\r\nObrigada"
    assert extract_fields(text) == {"nome": "Ana Souza", "email": "ana@example.org", "uf": "DF"}


# --- CPF ------------------------------------------------------------------------------------


def test_generated_cpfs_are_valid_with_and_without_punctuation() -> None:
    for cpf in GENERATED:
        assert cpf_is_valid(cpf), cpf
        assert cpf_is_valid(punctuated(cpf)), cpf
        assert cpf_is_valid(f"  {punctuated(cpf)} "), cpf
        assert cpf_check_digits(cpf[:9]) == cpf[9:]


def test_a_wrong_check_digit_is_invalid() -> None:
    for cpf in GENERATED:
        assert not cpf_is_valid(with_wrong_last_digit(cpf)), cpf
        wrong_first_check = cpf[:9] + str((int(cpf[9]) + 1) % 10) + cpf[10]
        assert not cpf_is_valid(punctuated(wrong_first_check)), cpf


@pytest.mark.parametrize("digit", "0123456789")
def test_repeated_digits_are_invalid(digit: str) -> None:
    assert not cpf_is_valid(digit * 11)
    assert not cpf_is_valid(punctuated(digit * 11))


@pytest.mark.parametrize("text", ["", "123", "1234567890", "123456789012", "abc.def.ghi-jk", "１２３４５６７８９０９"])
def test_malformed_cpfs_are_invalid(text: str) -> None:
    assert not cpf_is_valid(text)


def test_check_digits_need_a_nine_digit_base() -> None:
    with pytest.raises(ValueError, match="nine digits"):
        cpf_check_digits("12345")


def test_mask_keeps_the_middle_six_digits_and_the_punctuation() -> None:
    assert mask_cpf("123.456.789-09") == "***.456.789-**"
    for cpf in GENERATED[:20]:
        assert mask_cpf(punctuated(cpf)) == f"***.{cpf[3:6]}.{cpf[6:9]}-**"
        assert mask_cpf(cpf) == f"***{cpf[3:9]}**"


def test_mask_refuses_what_is_not_a_cpf() -> None:
    with pytest.raises(ValueError, match="11 digits"):
        mask_cpf("123.456")


# --- UF -------------------------------------------------------------------------------------


def test_there_are_27_ufs() -> None:
    assert len(UFS) == 27
    assert {"SP", "DF", "TO", "AP"} <= UFS


@pytest.mark.parametrize("uf", ["SP", "sp", " MG ", "df"])
def test_valid_ufs(uf: str) -> None:
    assert uf_is_valid(uf)


@pytest.mark.parametrize("uf", ["", "XX", "São Paulo", "S P", None, 35])
def test_invalid_ufs(uf: object) -> None:
    assert not uf_is_valid(uf)
