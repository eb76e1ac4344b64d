"""Reading a requester's answer to a solution and to the survey (PITFALLS K, item 5)."""

from __future__ import annotations

import pytest

from gateway.tickets.answers import (
    SURVEY_LEVELS,
    SURVEY_LEVELS_EN,
    Answer,
    SolutionAnswer,
    SurveyAnswer,
    read_solution_answer,
    read_survey_answer,
)
from tests.helpers.corpus import collapse, ptbr_case

SOLUTION_CASES = [
    "12-solution-accept-gmail-pode-encerrar",
    "13-solution-refuse-outlook-erro-continua",
    "14-solution-unclear-obrigado-pelo-retorno",
    "15-solution-accept-yahoo-funcionou",
    "16-solution-unclear-parcial",
]
SURVEY_CASES = ["17-survey-gmail-5", "18-survey-outlook-nota-4"]




# --- corpus ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", SOLUTION_CASES)
def test_corpus_solution_answers(stem: str) -> None:
    case, _ = ptbr_case(stem)
    result = read_solution_answer(case["reply_text"])
    assert result.answer.value == case["answer"]
    assert collapse(result.reason) == collapse(case["refuse_reason"])


@pytest.mark.parametrize("stem", SURVEY_CASES)
def test_corpus_survey_answers(stem: str) -> None:
    case, _ = ptbr_case(stem)
    result = read_survey_answer(case["reply_text"])
    assert result is not None and result.score == case["survey_score"]


@pytest.mark.parametrize("stem", SOLUTION_CASES)
def test_corpus_solution_answers_are_not_survey_scores(stem: str) -> None:
    assert read_survey_answer(ptbr_case(stem)[0]["reply_text"]) is None


def test_corpus_survey_comment() -> None:
    assert read_survey_answer(ptbr_case("18-survey-outlook-nota-4")[0]["reply_text"]) == SurveyAnswer(4, "bom atendimento")
    assert read_survey_answer(ptbr_case("17-survey-gmail-5")[0]["reply_text"]) == SurveyAnswer(5, None)


# --- solution: accept -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Sim, resolvido. Obrigado!", "SIM", "sim", "Sim.", "aceito", "Aceito a solução.", "Pode encerrar",
        "pode fechar o chamado", "funcionou", "Funcionou!!!", "Deu certo, obrigada", "Problema resolvido.",
        "Tudo certo, podem finalizar.", "Bom dia,\n\nSim, pode encerrar.", "Olá, funcionou sim.",
        "Agora no sistema funcionou", "Sim, o erro não aparece mais.", "Yes", "yes, it works now",
        "Solved, thanks", "You can close it.", "I accept",
    ],
)
def test_accept(text: str) -> None:
    assert read_solution_answer(text) == SolutionAnswer(Answer.ACCEPT, None)


def test_signature_like_lines_after_the_answer_do_not_matter() -> None:
    text = "Sim.\n\nJoão da Silva\nSecretaria Municipal de Saúde - não responda a este endereço\n(11) 3000-0000"
    assert read_solution_answer(text).answer is Answer.ACCEPT


# --- solution: refuse -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Não, o erro continua: a tela fica em branco.", "o erro continua: a tela fica em branco."),
        ("NAO", None), ("Não", None), ("não.", None), ("Nao!", None),
        ("Não - ainda aparece a mesma mensagem", "ainda aparece a mesma mensagem"),
        ("Não funcionou", None),  # no more than "no": its reason is asked (issue 15, bug 7)
        ("Ainda não resolveu, o sistema\nsegue travando", "Ainda não resolveu, o sistema segue travando"),
        ("Bom dia, não resolveu.", None),
        ("O problema persiste.", "O problema persiste."),
        ("Recuso a solução proposta", "Recuso a solução proposta"),
        ("No, still broken", "still broken"),
        ("It doesn't work", None),
        ("It doesn’t work", None),
        ("Não pode encerrar, falta o relatório", "Não pode encerrar, falta o relatório"),
    ],
)
def test_refuse_with_reason(text: str, reason: str | None) -> None:
    assert read_solution_answer(text) == SolutionAnswer(Answer.REFUSE, reason)


def test_the_reason_keeps_accents_from_the_original() -> None:
    result = read_solution_answer("Não,\no cadastro da técnica continua bloqueado.")
    assert result.reason == "o cadastro da técnica continua bloqueado."


def test_decomposed_unicode_is_read_like_composed() -> None:
    decomposed = "Na\u0303o, continua o erro"
    assert read_solution_answer(decomposed) == SolutionAnswer(Answer.REFUSE, "continua o erro")


# --- solution: unclear (a false unclear is cheaper than a wrong answer) -----------------------


@pytest.mark.parametrize(
    "text",
    [
        "Obrigado pelo retorno", "Obrigado!", "Obrigada.", "ok", "OK", "Certo", "Recebido", "não sei",
        "Não sei se funcionou", "Não consegui testar ainda", "Ainda não testei.", "Vou verificar e retorno.",
        "Sim, mas ainda falta o relatório", "Funcionou, porém só no Chrome", "Sim, mas o erro continua.",
        "Pode fechar?", "Funcionou?", "Não, funcionou sim", "Thanks", "Thank you for the answer", "",
        "   \n\n", "Bom dia,", "O erro não persiste mais",
    ],
)
def test_unclear(text: str) -> None:
    assert read_solution_answer(text) == SolutionAnswer(Answer.UNCLEAR, None)


def test_thanks_is_neither_refusal_nor_acceptance() -> None:
    # glpi#5020: any reply to a solved ticket was read as a refusal.
    for text in ("Obrigado pelo retorno", "Muito obrigado pela atenção!", "Agradeço o retorno."):
        assert read_solution_answer(text).answer is Answer.UNCLEAR


def test_only_the_first_paragraph_answers() -> None:
    assert read_solution_answer("Obrigado.\n\nSim, funcionou.").answer is Answer.UNCLEAR
    assert read_solution_answer("Funcionou.\n\nO outro problema continua, abro outro chamado.").answer is Answer.ACCEPT


# --- survey ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", SurveyAnswer(5, None)),
        ("1", SurveyAnswer(1, None)),
        ("Nota 4", SurveyAnswer(4, None)),
        ("nota: 3", SurveyAnswer(3, None)),
        ("Minha nota é 2", SurveyAnswer(2, "Minha")),
        ("4 - satisfeito", SurveyAnswer(4, None)),
        ("5/5", SurveyAnswer(5, None)),
        ("5 de 5, excelente", SurveyAnswer(5, "excelente")),
        ("5 estrelas\n\nÓtimo atendimento", SurveyAnswer(5, "Ótimo atendimento")),
        ("Muito insatisfeito", SurveyAnswer(1, None)),
        ("Insatisfeito, demorou demais", SurveyAnswer(2, "demorou demais")),
        ("Indiferente", SurveyAnswer(3, None)),
        ("Satisfeita.", SurveyAnswer(4, None)),
        ("MUITO SATISFEITO!", SurveyAnswer(5, None)),
        ("Fiquei muito satisfeita com a rapidez", SurveyAnswer(5, "Fiquei com a rapidez")),
        ("Atendimento rápido, nota cinco", SurveyAnswer(5, "Atendimento rápido")),
        ("Bom dia,\n\nNota: 3", SurveyAnswer(3, None)),
        ("Very satisfied", SurveyAnswer(5, None)),
        ("dissatisfied", SurveyAnswer(2, None)),
        ("score: 4", SurveyAnswer(4, None)),
    ],
)
def test_survey_scores(text: str, expected: SurveyAnswer) -> None:
    assert read_survey_answer(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "", "Obrigado", "Sim", "10", "0", "6", "Nota 10", "4,5", "4.5", "às 5:30 estava fora do ar",
        "não fiquei satisfeito", "nada satisfeito", "5 - insatisfeito", "Erro 403 de novo",
        "Satisfeito com uma parte, insatisfeito com outra",
    ],
)
def test_no_survey_score(text: str) -> None:
    assert read_survey_answer(text) is None


def test_longest_label_wins() -> None:
    assert read_survey_answer("muito insatisfeito").score == 1
    assert read_survey_answer("insatisfeito").score == 2
    assert read_survey_answer("satisfeito").score == 4
    assert read_survey_answer("muito satisfeito").score == 5


def test_levels_in_both_languages() -> None:
    assert list(SURVEY_LEVELS) == list(SURVEY_LEVELS_EN) == [1, 2, 3, 4, 5]
    assert SURVEY_LEVELS[1] == "Muito insatisfeito" and SURVEY_LEVELS[5] == "Muito satisfeito"
    for score, label in (*SURVEY_LEVELS.items(), *SURVEY_LEVELS_EN.items()):
        assert read_survey_answer(label) == SurveyAnswer(score, None)
        assert read_survey_answer(f"{score} - {label}") == SurveyAnswer(score, None)
