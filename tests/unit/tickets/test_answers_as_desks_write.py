"""Issue 15, bugs 7 and 9, in the pure readers and decisions: a reply that
asks for more, reports the problem persists or asks a question is a
refusal (or, if truly unclear, held for a person with the auto-acceptance
suspended), never left for the clock to accept; a bare "não resolveu" is
asked its reason like a bare "Não"; and the requester's sign-off is no
comment or reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from gateway.tickets import requester
from gateway.tickets.answers import (
    Answer,
    SolutionAnswer,
    SurveyAnswer,
    only_courtesy,
    read_solution_answer,
    read_survey_answer,
)
from gateway.tickets.change import To
from gateway.tickets.states import Status

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)
LIMIT = datetime(2026, 11, 26, 13, 0, tzinfo=timezone.utc)
FERNANDA = "fernanda.lima@example.org"
SIGNER = ("Fernanda Lima", FERNANDA)


@dataclass
class Ticket:
    status: str = "solved"
    language: str = "pt_BR"
    requester: str = FERNANDA
    requester_name: str = "Fernanda Lima"
    solution_round: int = 1
    closed_reason: str | None = None
    closed_at: datetime | None = None
    survey_score: int | None = None
    limit_at: datetime | None = LIMIT


# -- what a reply to a proposed solution says -----------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("Obrigado pelo retorno", SolutionAnswer(Answer.UNCLEAR, None)),
    ("Sim, resolvido", SolutionAnswer(Answer.ACCEPT, None)),
    ("Não", SolutionAnswer(Answer.REFUSE, None)),
    # A bare refusal in words is a bare "Não": its reason is asked for.
    ("nao resolveu", SolutionAnswer(Answer.REFUSE, None)),
    ("Não resolveu.", SolutionAnswer(Answer.REFUSE, None)),
    ("Não funcionou!", SolutionAnswer(Answer.REFUSE, None)),
    ("não, não deu certo", SolutionAnswer(Answer.REFUSE, None)),
    ("Em andamento", SolutionAnswer(Answer.REFUSE, None)),  # CAU/SP's word for "not satisfied"
    # The problem persists: what it says is the reason.
    ("ainda não funciona", SolutionAnswer(Answer.REFUSE, "ainda não funciona")),
    ("Continua dando erro 500 ao salvar", SolutionAnswer(Answer.REFUSE, "Continua dando erro 500 ao salvar")),
    # Asking for more, or a question: the work is not done.
    ("Em andamento: preciso de mais explicações, não encontro o menu",
     SolutionAnswer(Answer.REFUSE, "Em andamento: preciso de mais explicações, não encontro o menu")),
    ("como faço para emitir o relatório?", SolutionAnswer(Answer.REFUSE, "como faço para emitir o relatório?")),
    ("Onde fica o menu Relatórios?", SolutionAnswer(Answer.REFUSE, "Onde fica o menu Relatórios?")),
    ("Preciso de mais informações, se possível com imagens",
     SolutionAnswer(Answer.REFUSE, "Preciso de mais informações, se possível com imagens")),
    ("Não encontro a opção indicada", SolutionAnswer(Answer.REFUSE, "Não encontro a opção indicada")),
    ("Não consigo acessar a tela de homologação",
     SolutionAnswer(Answer.REFUSE, "Não consigo acessar a tela de homologação")),
    ("Não entendi o passo 3", SolutionAnswer(Answer.REFUSE, "Não entendi o passo 3")),
    # Still neither.
    ("Vou testar amanhã e retorno.", SolutionAnswer(Answer.UNCLEAR, None)),
    ("Não sei se funcionou", SolutionAnswer(Answer.UNCLEAR, None)),
    ("Pode fechar?", SolutionAnswer(Answer.UNCLEAR, None)),
    ("Não consegui testar ainda", SolutionAnswer(Answer.UNCLEAR, None)),
    ("Sim, resolvido. Como faço para emitir a segunda via?", SolutionAnswer(Answer.UNCLEAR, None)),
    ("Não preciso de mais nada", SolutionAnswer(Answer.UNCLEAR, None)),
])
def test_replies_to_a_solution_as_citizens_write_them(text: str, expected: SolutionAnswer) -> None:
    assert read_solution_answer(text) == expected


@pytest.mark.parametrize(("text", "courtesy"), [
    ("Obrigado pelo retorno", True), ("Muito obrigada pela atenção!", True), ("ok", True), ("", True),
    ("Recebido, obrigado.", True), ("Vou testar amanhã e retorno.", False), ("Não sei se funcionou", False),
    ("Sim, resolvido. Como faço para emitir a segunda via?", False),
])
def test_only_courtesy_is_a_thanks_and_nothing_else(text: str, courtesy: bool) -> None:
    assert only_courtesy(text) is courtesy


def test_the_requesters_sign_off_is_no_reason() -> None:
    assert read_solution_answer("Não resolveu\nFernanda", signer=SIGNER) == SolutionAnswer(Answer.REFUSE, None)
    assert read_solution_answer("O menu continua sumido.\nAtt., Fernanda Lima", signer=SIGNER) == SolutionAnswer(
        Answer.REFUSE, "O menu continua sumido.")


# -- the survey: a sign-off is not a comment -------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("nota 5: Fernanda", SurveyAnswer(5, None)),
    ("Nota 5\n\nFernanda", SurveyAnswer(5, None)),
    ("Nota 5\nFernanda Lima", SurveyAnswer(5, None)),
    ("5 - Excelente atendimento, Fernanda.", SurveyAnswer(5, "Excelente atendimento")),
    ("Nota 4. Demorou um pouco.\n\nAtenciosamente,\nFernanda", SurveyAnswer(4, "Demorou um pouco")),
    ("Nota 5, a Maria ajudou muito", SurveyAnswer(5, "a Maria ajudou muito")),  # someone else's name stays
    ("5 - Excelente", SurveyAnswer(5, "Excelente")),
])
def test_survey_comments_without_the_sign_off(text: str, expected: SurveyAnswer) -> None:
    assert read_survey_answer(text, signer=SIGNER) == expected


def test_a_lower_case_word_that_is_also_the_name_stays() -> None:
    assert read_survey_answer("Nota 5, muita paz", signer=("Paz Souza",)) == SurveyAnswer(5, "muita paz")


def test_a_survey_answer_to_a_closed_ticket_keeps_no_sign_off() -> None:
    closed = Ticket(status="closed", closed_reason="accepted", closed_at=NOW, limit_at=None)
    outcome = requester.reply_to_closed(closed, "nota 5: Fernanda", sender=FERNANDA, role="requester", now=NOW,
                                        survey_until=LIMIT, reopen_until=None, proof=lambda: requester.UNCHECKED,
                                        kinds=["solved", "accepted"])
    assert outcome.kind == "survey"
    assert outcome.change.fields["survey_score"] == 5 and outcome.change.fields["survey_comment"] is None


# -- what a reply does: never left for the clock to accept ----------------------------------------

def _reply(text: str, ticket: Ticket | None = None, round_kinds: frozenset[str] = frozenset()) -> requester.Reply:
    return requester.follow_up(ticket or Ticket(), text, sender=FERNANDA, role="requester", round_kinds=round_kinds,
                               proof=lambda: requester.UNCHECKED, at=NOW)


def _mails(reply: requester.Reply) -> list[tuple[str, To]]:
    return [(str(getattr(n.template, "value", n.template)), n.to) for n in reply.change.notices]


def test_a_dissatisfied_homologation_answer_is_a_refusal_with_its_text() -> None:
    reply = _reply("Em andamento: preciso de mais explicações, não encontro o menu")
    assert reply.change.status is Status.OPEN
    assert reply.change.events[-1].note == "Em andamento: preciso de mais explicações, não encontro o menu"
    assert "RECUSOU" in (reply.headline or "")


def test_a_bare_nao_resolveu_is_asked_its_reason_and_the_clock_stops() -> None:
    reply = _reply("nao resolveu")
    assert [e.kind.value for e in reply.change.events] == ["refusal_without_reason", "note"]
    assert reply.change.events[-1].note.startswith("auto-acceptance suspended")
    assert _mails(reply) == [("refusal_reason_request", To.REQUESTER)]
    assert reply.change.fields.get("limit_at", LIMIT) is None, "a 'no' is never accepted by the clock"
    assert "aceite automático" in (reply.headline or "")


def test_a_truly_unclear_reply_stops_the_auto_acceptance_and_asks_for_a_person() -> None:
    reply = _reply("Vou testar amanhã e retorno.")
    assert _mails(reply) == [("clarification", To.REQUESTER)]
    assert reply.change.fields["limit_at"] is None and reply.change.fields["remind_at"] is None
    assert reply.change.refresh, "the due item is recomputed without the limit"
    assert "analista" in (reply.headline or "") and "aceite automático" in (reply.headline or "")
    again = _reply("Ainda estou vendo.", Ticket(limit_at=None), frozenset({"clarification_sent"}))
    assert again.change.notices == () and "analista" in (again.headline or "")


def test_a_thanks_keeps_the_clock_the_solution_mail_promised() -> None:
    reply = _reply("Obrigado pelo retorno")
    assert _mails(reply) == [("clarification", To.REQUESTER)]
    assert "limit_at" not in reply.change.fields


def test_accepting_on_a_page_tells_the_team_where_the_answer_was_given() -> None:
    change = requester.accepted_on_page(Ticket(), actor=FERNANDA)
    [team] = [n for n in change.notices if n.to is To.TEAM]
    assert team.context["via"] == "web" and "ACEITOU" in team.context["headline"]
