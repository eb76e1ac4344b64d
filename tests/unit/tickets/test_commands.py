"""Analyst commands at the top of a reply: what is read, what is refused, and why."""

from __future__ import annotations

import email
import email.policy

import pytest

from gateway.tickets.commands import (
    ALIASES,
    Command,
    CommandName,
    help_text,
    parse_commands,
)
from tests.helpers.corpus import collapse, ptbr_case





# --- the corpus analyst reply ---------------------------------------------------------------


def test_corpus_analyst_reply_from_reply_text_and_commands() -> None:
    case, _ = ptbr_case("22-analyst-aguardando-outlook")
    text = "\n".join(case["commands"]) + "\n\n" + case["reply_text"]
    parsed = parse_commands(text)
    assert [f"#{command.name.value}" for command in parsed.commands] == case["commands"]
    assert parsed.problems == ()
    assert parsed.body == case["reply_text"]


def test_corpus_analyst_reply_from_the_raw_mail_body() -> None:
    case, eml = ptbr_case("22-analyst-aguardando-outlook")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",)).get_content()
    parsed = parse_commands(body)
    assert parsed.names() == (CommandName.ASK,)
    assert parsed.commands[0].line == 1
    assert parsed.problems == ()
    assert collapse(parsed.body).startswith(collapse(case["reply_text"]))


# --- recognising commands -----------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    ["#solucao", "#solução", "#Solucao", "#SOLUÇÃO", "#solução:", "#Solução :", "  #solucao", "#solution", "#solve", "#SOLVE:"],
)
def test_spellings_of_solve(spelling: str) -> None:
    parsed = parse_commands(f"{spelling}\n\nReinicie o serviço de integração.")
    assert parsed.names() == (CommandName.SOLVE,)
    assert parsed.problems == ()
    assert parsed.body == "Reinicie o serviço de integração."


@pytest.mark.parametrize(
    ("word", "name"),
    [
        ("aguardando", CommandName.ASK), ("waiting", CommandName.ASK), ("ask", CommandName.ASK),
        ("interno", CommandName.NOTE), ("internal", CommandName.NOTE), ("note", CommandName.NOTE),
        ("fechar", CommandName.CLOSE), ("close", CommandName.CLOSE), ("Fechar", CommandName.CLOSE),
    ],
)
def test_aliases_without_argument(word: str, name: CommandName) -> None:
    assert parse_commands(f"#{word}\nTexto.").names() == (name,)


def test_every_alias_maps_to_a_command_and_every_command_has_its_portuguese_name() -> None:
    assert set(ALIASES.values()) == set(CommandName)
    for name in CommandName:
        assert ALIASES[name.value] is name


def test_several_commands_keep_their_order_and_line_numbers() -> None:
    text = "\n#prioridade: Alta.\n#atribuir <Maria@Example.gov.br>\n\n#categoria Cadastro CNES\n#fechar\n\nEncerrado."
    parsed = parse_commands(text)
    assert parsed.commands == (
        Command(CommandName.PRIORITY, "alta", 2),
        Command(CommandName.ASSIGN, "Maria@Example.gov.br", 3),
        Command(CommandName.CATEGORY, "Cadastro CNES", 5),
        Command(CommandName.CLOSE, "", 6),
    )
    assert parsed.problems == ()
    assert parsed.body == "Encerrado."


@pytest.mark.parametrize(("written", "priority"), [("baixa", "baixa"), ("NORMAL", "normal"), ("urgente", "urgente"), ("high", "alta"), ("low", "baixa"), ("urgent", "urgente")])
def test_priorities_are_normalised_to_portuguese(written: str, priority: str) -> None:
    parsed = parse_commands(f"#priority {written}")
    assert parsed.commands == (Command(CommandName.PRIORITY, priority, 1),)
    assert parsed.problems == ()


def test_a_hash_after_the_free_text_starts_is_text() -> None:
    text = "Prezada Ana,\n#fechar\nveja o item #3 e o #solucao da semana."
    parsed = parse_commands(text)
    assert parsed.commands == ()
    assert parsed.problems == ()
    assert parsed.body == text


def test_a_hash_followed_by_a_digit_or_space_starts_the_text() -> None:
    assert parse_commands("#1 primeiro passo\n#fechar").commands == ()
    assert parse_commands("# Título\n#fechar").commands == ()


def test_no_commands_leaves_the_text_alone_but_trims_blank_edges() -> None:
    parsed = parse_commands("\n\n  Olá,\n\nSegue a resposta.\n\n")
    assert parsed == parse_commands("  Olá,\n\nSegue a resposta.")
    assert parsed.body == "  Olá,\n\nSegue a resposta."


def test_crlf_and_byte_order_mark() -> None:
    parsed = parse_commands("\ufeff#aguardando\r\n\r\nQual o número CNES?\r\n")
    assert parsed.names() == (CommandName.ASK,)
    assert parsed.body == "Qual o número CNES?"


def test_text_for_joins_argument_and_body() -> None:
    assert parse_commands("#solução: Reinicie o serviço").text_for(CommandName.SOLVE) == "Reinicie o serviço"
    assert parse_commands("#solucao Passo 1\n\nPasso 2").text_for(CommandName.SOLVE) == "Passo 1\n\nPasso 2"
    assert parse_commands("#devolver fora do escopo").text_for(CommandName.REJECT) == "fora do escopo"
    assert parse_commands("Sem comandos").text_for(CommandName.SOLVE) == "Sem comandos"


# --- problems -------------------------------------------------------------------------------


def problems_of(text: str) -> list[str]:
    return [problem.problem for problem in parse_commands(text).problems]


def test_unknown_command_is_a_problem_with_its_line() -> None:
    parsed = parse_commands("#fechar\n#solucionar\n\nTexto")
    assert [(problem.line, problem.text) for problem in parsed.problems] == [(2, "#solucionar")]
    assert parsed.problems[0].problem.startswith("comando desconhecido '#solucionar'")
    assert parsed.names() == (CommandName.CLOSE,)


@pytest.mark.parametrize("argument", ["", "maria", "maria@", "@example.gov.br", "maria at example.gov.br"])
def test_assign_needs_an_email_address(argument: str) -> None:
    [problem] = problems_of(f"#atribuir {argument}")
    assert problem.startswith("'#atribuir' precisa de um endereço de e-mail")


def test_assign_accepts_mailto_and_angle_brackets() -> None:
    assert parse_commands("#assign mailto:joao@example.gov.br").commands[0].argument == "joao@example.gov.br"


def test_invalid_priority_names_the_value_and_the_choices() -> None:
    assert problems_of("#prioridade altíssima") == ["prioridade 'altíssima' inválida; use baixa, normal, alta ou urgente"]
    assert problems_of("#prioridade") == ["'#prioridade' precisa de um valor; use baixa, normal, alta ou urgente"]


def test_category_needs_a_name() -> None:
    assert problems_of("#categoria\nTexto") == ["'#categoria' precisa do nome da categoria, ex.: #categoria Cadastro"]


@pytest.mark.parametrize("command", ["#aguardando", "#solucao"])
def test_ask_and_solve_need_text(command: str) -> None:
    [problem] = problems_of(f"{command}\n\n   \n")
    assert problem.startswith(f"'{command}' precisa de")


def test_reject_needs_a_reason_on_the_line_or_in_the_text() -> None:
    assert problems_of("#devolver") == ["'#devolver' precisa de um motivo, na mesma linha ou no texto"]
    assert problems_of("#devolver: não é atendido por este canal") == []
    assert problems_of("#return\n\nProcure a Secretaria Estadual.") == []


@pytest.mark.parametrize(
    ("first", "second"),
    [("#aguardando", "#solucao"), ("#solução", "#fechar"), ("#devolver motivo", "#close"), ("#ask", "#reject x")],
)
def test_two_state_commands_conflict(first: str, second: str) -> None:
    parsed = parse_commands(f"{first}\n  {second}\n\nTexto.")
    [problem] = parsed.problems
    assert (problem.line, problem.text) == (2, second)
    assert problem.problem.endswith("não podem ser usados juntos")


def test_the_conflict_message_uses_portuguese_names() -> None:
    assert problems_of("#aguardando\n#solucao\nTexto") == ["'#aguardando' e '#solucao' não podem ser usados juntos"]


def test_internal_note_cannot_carry_a_message_for_the_requester() -> None:
    assert problems_of("#interno\n#solucao\nTexto") == ["'#interno' e '#solucao' não podem ser usados juntos"]
    assert problems_of("#interno\n#fechar\n#prioridade alta\nTexto") == []


def test_repeated_command_is_a_problem() -> None:
    assert problems_of("#prioridade alta\n#prioridade baixa") == ["'#prioridade' repetido; use cada comando uma vez"]


def test_problems_are_sorted_by_line() -> None:
    lines = [problem.line for problem in parse_commands("#xyz\n#atribuir\n#aguardando\n#solucao").problems]
    assert lines == sorted(lines)


# --- help -----------------------------------------------------------------------------------


def test_help_lists_every_command_in_both_languages() -> None:
    portuguese, english = help_text(), help_text("en")
    for tag in ("#aguardando", "#solucao", "#interno", "#atribuir", "#categoria", "#prioridade", "#devolver", "#fechar"):
        assert tag in portuguese
    for tag in ("#waiting", "#solution", "#internal", "#assign", "#category", "#priority", "#reject", "#close"):
        assert tag in english
    assert help_text("pt-BR") == portuguese
    assert help_text("en_US") == english


def test_help_in_an_unknown_language_names_the_choices() -> None:
    with pytest.raises(ValueError, match="'fr'.*'pt_BR' or 'en'"):
        help_text("fr")
