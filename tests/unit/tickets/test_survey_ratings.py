"""Survey answers as the seed desks' citizens write them (issue 15, bug 2):
stars, number words, "Nota 4", "4/5", a level's label, "Homologado. Nota
5"; each is a score and the rest its comment.  Text that is no score stays
what it was, and a rating never opens a ticket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from gateway.tickets import requester
from gateway.tickets.answers import Answer, read_solution_answer, read_survey_answer

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)
ANA = "ana@example.org"


@dataclass
class Ticket:
    status: str = "closed"
    language: str = "pt_BR"
    requester: str = ANA
    requester_name: str = "Ana"
    solution_round: int = 1
    closed_reason: str | None = "accepted"
    closed_at: datetime | None = NOW
    survey_score: int | None = None


@pytest.mark.parametrize(("text", "score", "comment"), [
    ("⭐⭐⭐⭐ Bom atendimento.", 4, "Bom atendimento"),
    ("⭐️⭐️⭐️ ok", 3, "ok"),  # with the emoji selector phones add
    ("★★★☆☆", 3, None),
    ("Atendimento rápido ⭐⭐⭐⭐⭐", 5, "Atendimento rápido"),
    ("quatro", 4, None),
    ("Cinco estrelas, adorei", 5, "adorei"),
    ("Nota 4", 4, None),
    ("4/5", 4, None),
    ("muito satisfeito", 5, None),
    ("Homologado. Nota 5", 5, "Homologado"),
    ("Bom dia,\n\n⭐⭐ Demorou muito.", 2, "Demorou muito"),
])
def test_ratings_are_scores_with_the_rest_as_comment(text, score, comment):
    answer = read_survey_answer(text)
    assert answer is not None and (answer.score, answer.comment) == (score, comment)


@pytest.mark.parametrize("text", [
    "O erro voltou.", "Um problema novo apareceu", "Dois usuários não conseguem entrar",
    "⭐⭐⭐⭐⭐⭐ perfeito",  # six stars: no 1-5 score
    "nota 3 ⭐⭐⭐⭐⭐",  # a number and stars that disagree
    "Obrigado",
])
def test_text_that_is_no_rating_is_no_score(text):
    assert read_survey_answer(text) is None


def _to_closed(text: str, *, ticket: Ticket | None = None, proof: requester.Proof = requester.UNCHECKED,
               days: int = 1, reopen_days: int | None = None) -> requester.ToClosed:
    return requester.reply_to_closed(
        ticket or Ticket(), text, sender=ANA, role="requester", now=NOW + timedelta(days=days),
        survey_until=NOW + timedelta(days=30),
        reopen_until=NOW + timedelta(days=reopen_days) if reopen_days else None, proof=lambda: proof, kinds=())


def test_a_star_rating_answers_the_survey_instead_of_opening_a_ticket():
    outcome = _to_closed("⭐⭐⭐⭐ Bom atendimento.")
    assert outcome.kind == "survey"
    assert (outcome.change.fields["survey_score"], outcome.change.fields["survey_comment"]) == (4, "Bom atendimento")
    assert outcome.change.refresh, "the deadlines are recomputed: no survey reminder"


def test_a_star_rating_does_not_reopen_within_the_reopen_window():
    assert _to_closed("⭐⭐⭐", reopen_days=7).kind == "survey"


def test_an_unproven_rating_is_confirmed_by_link_and_not_recorded():
    outcome = _to_closed("⭐⭐", proof=requester.Proof(False, "no trusted Authentication-Results"))
    assert outcome.kind == "survey" and "survey_score" not in outcome.change.fields
    assert [n.template.value for n in outcome.change.notices] == ["confirm_decision"]
    assert dict(outcome.change.notices[0].context) == {"decision": "survey", "score": 2}


def test_a_rating_after_the_survey_closed_is_kept_and_opens_nothing():
    outcome = _to_closed("⭐⭐⭐⭐", days=31)
    assert outcome.kind == "survey" and not outcome.change.fields and not outcome.change.notices


def test_a_rating_on_a_ticket_never_surveyed_is_what_it_was():
    assert _to_closed("⭐⭐⭐⭐", ticket=Ticket(closed_reason="closed")).kind == "new"


def test_homologado_with_a_score_accepts_and_answers_the_survey_at_once():
    assert read_solution_answer("Homologado. Nota 5").answer is Answer.ACCEPT
    reply = requester.follow_up(Ticket(status="solved", closed_reason=None, closed_at=None), "Homologado. Nota 5",
                                sender=ANA, role="requester", round_kinds=frozenset(),
                                proof=lambda: requester.UNCHECKED, at=NOW)
    assert reply.change.status.value == "closed" and reply.change.fields["survey_score"] == 5
    assert [n.template.value for n in reply.change.notices] == [], "no survey to ask: it was answered"
    assert "nota 5" in reply.headline
