"""Sign-offs as Brazilian analysts and citizens write them (issue 15, bug 9):
a closing with the name on the same line ("Att., Maria"), a first name
over a role ("Maria\\nAnalista"), a thanks over a name.  The sign-off
leaves the text (an analyst's ``#solucao`` reaches the citizen without
it) and :func:`signature` returns it."""

from __future__ import annotations

import pytest

from gateway.mail.quotes import reply_text, signature

SOLUTION = "#solucao\nAbra o menu Cadastro > Profissionais e clique em Incluir."


@pytest.mark.parametrize("sign_off", [
    "Att., Maria\nAnalista",
    "Att, Maria",
    "Atenciosamente, Maria Lima\nAnalista de Suporte\nCentral de Atendimento",
    "Att.\nMaria\nAnalista",
    "Maria\nAnalista de Suporte",
    "Cordialmente,\nMaria da Silva",
])
def test_an_analysts_sign_off_is_not_part_of_the_solution(sign_off: str) -> None:
    text = f"{SOLUTION}\n\n{sign_off}"
    assert reply_text(text) == SOLUTION
    assert signature(text) == sign_off


def test_a_sign_off_above_the_quoted_history_goes_too() -> None:
    text = (f"{SOLUTION}\n\nAtt., Maria\nAnalista\n\n-----Mensagem original-----\nDe: Central\n"
            "Assunto: [ATD-2026-000001-0] Novo chamado\n\n> texto antigo\n")
    assert reply_text(text) == SOLUTION


@pytest.mark.parametrize("text", [
    "Obrigada,\nMaria Lima",  # a thanks over a name is the mail's own text (corpus 20); a requester's
    # own name is read off their answers in gateway.tickets.answers instead
    "Bom dia,\n\npreciso de ajuda com o cadastro.\n\nJosé Carlos",  # a name alone is kept (test_quotes)
    "Atenciosamente, aguardo retorno.",
    "Att., Maria",  # nothing above it: the whole text
    "Siga os passos:\n1. Abra o menu\n2. Clique em Incluir\nAnalista responsável: Maria",
])
def test_text_that_only_looks_like_a_sign_off_stays(text: str) -> None:
    assert reply_text(text) == text.strip()
