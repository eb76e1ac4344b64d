"""The form's data a desk may require besides contact data (gov.br's
Plataforma de Automação): órgão, serviço, a choice field (tipo de
solicitante) and a list field (protocolos afetados), read from the lines
people write and from the filled-in lines of our own request."""

from __future__ import annotations

import pytest

from gateway.rules.engine import FIELD_LABELS, field_is_valid, missing_fields
from gateway.rules.ruling import check_fields
from gateway.tickets.fields import choice_of, extract_fields, list_items

GOVBR = ("orgao", "servico", "tipo_solicitante", "alcance", "protocolos", "telefone")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Órgão: Ministério da Gestão", {"orgao": "Ministério da Gestão"}),
        ("Nome do Órgão: MGI", {"orgao": "MGI"}),
        ("Nome do serviço: Emitir certidão", {"servico": "Emitir certidão"}),
        ("Serviço - Emitir certidão", {"servico": "Emitir certidão"}),
        ("Tipo de solicitante: Solicitante/Cidadão", {"tipo_solicitante": "Solicitante/Cidadão"}),
        ("Tipo de usuário: analista", {"tipo_solicitante": "analista"}),
        ("Alcance do defeito: todos os usuários", {"alcance": "todos os usuários"}),
        ("Protocolos afetados: 2026.000123, 2026.000456", {"protocolos": "2026.000123, 2026.000456"}),
        ("Número do protocolo: 123", {"protocolos": "123"}),
    ],
)
def test_form_labels(line: str, expected: dict[str, str]) -> None:
    assert extract_fields(line) == expected


@pytest.mark.parametrize("line", ["Tipo: Erro", "Tipo de problema: Erro", "Nome e órgão: Ana, MGI",
                                  "Nome: Ana"])
def test_lines_that_are_not_form_fields(line: str) -> None:
    assert not set(extract_fields(line)) & set(GOVBR)


def test_our_own_filled_in_labels_come_back() -> None:
    """The request lists each field by its label, hints included; the
    requester's reply fills those very lines."""
    reply = "\n".join(f"{FIELD_LABELS[name]}: {value}" for name, value in (
        ("orgao", "MGI"), ("servico", "Certidão"), ("tipo_solicitante", "cidadão"), ("alcance", "só eu"),
        ("protocolos", "123"), ("telefone", "(61) 3333-4444")))
    assert missing_fields(GOVBR, extract_fields(reply)) == []


def test_a_list_under_its_label_one_item_a_line() -> None:
    text = "Protocolos afetados:\n- 2026.000123\n• 2026.000456\n  2026.000789\n\nObrigado,\nAna"
    assert extract_fields(text) == {"protocolos": "2026.000123, 2026.000456, 2026.000789"}


def test_a_list_stops_at_the_next_label() -> None:
    text = "Protocolos afetados:\n\n123\n456\nTelefone: (61) 3333-4444"
    assert extract_fields(text) == {"protocolos": "123, 456", "telefone": "(61) 3333-4444"}


def test_an_empty_list_label_gives_nothing() -> None:
    assert extract_fields("Protocolos afetados:\n\n\n") == {}
    assert "protocolos" not in extract_fields("Nome:\n- Ana")


@pytest.mark.parametrize(("value", "choice"), [
    ("Analista do Serviço", "analista"), ("gestor do serviço", "analista"), ("Solicitante/Cidadão", "cidadao"),
    ("cidadã", "cidadao"), ("CIDADAO", "cidadao"), ("analista ou cidadão", None), ("outro", None), ("", None),
])
def test_a_choice_is_valid_when_it_names_exactly_one(value: str, choice: str | None) -> None:
    assert choice_of("tipo_solicitante", value) == choice
    assert field_is_valid("tipo_solicitante", value) is (choice is not None)


@pytest.mark.parametrize(("value", "valid"), [
    ("2026.000123", True), ("123, 456; 789 e 1011", True), ("nenhum", False), ("123, sei lá", False), ("", False),
])
def test_a_list_of_protocols_needs_digits_in_every_item(value: str, valid: bool) -> None:
    assert field_is_valid("protocolos", value) is valid


def test_list_items() -> None:
    assert list_items("123, 456; 789 e 1011\n12") == ["123", "456", "789", "1011", "12"]


def test_invalid_choice_is_reported_as_invalid_not_missing() -> None:
    missing, invalid = check_fields(["tipo_solicitante", "alcance"], {"tipo_solicitante": "outro"})
    assert missing == ["tipo_solicitante", "alcance"] and invalid == ["tipo_solicitante"]
