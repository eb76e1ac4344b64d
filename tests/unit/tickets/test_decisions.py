"""The ticket's decisions as values (issue 17): for each mail, page answer
and deadline, the pure function that decides it returns exactly the
status, fields, events and mails the writer will apply.  No database, no
clock: a ticket is a plain object with the row's attributes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from gateway.durations import parse_duration
from gateway.tickets import analyst, moves, requester, survey, timeouts
from gateway.tickets.change import KEEP, NOTHING, Change, Link, To
from gateway.tickets.commands import parse_commands
from gateway.tickets.deadlines import AUTO_ACCEPT, NO_RESPONSE, REMIND_SOLVED, SLA_BREACH, SURVEY_REMINDER, DueItem
from gateway.tickets.kinds import ClosedReason, EventKind, Template
from gateway.tickets.states import Status, TransitionError

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)
MARIA = "maria@example.gov.br"
ANA = "ana@example.org"


@dataclass
class Ticket:
    status: str = "new"
    language: str = "pt_BR"
    requester: str = ANA
    requester_name: str = "Ana"
    solution_round: int = 0
    closed_reason: str | None = None
    closed_at: datetime | None = None
    survey_score: int | None = None
    limit_at: datetime | None = None
    category: str | None = None
    sla_done: str = ""


DESK = analyst.Desk(address="cnes@example.gov.br", may_assign=lambda a: a.endswith("@example.gov.br"),
                    ask_until=NOW + timedelta(days=5), wait_limit=parse_duration("5d"),
                    solve_until=NOW + timedelta(days=3), solved_limit=parse_duration("3bd"))


def kinds(change: Change) -> list[str]:
    return [event.kind.value for event in change.events]


def mails(change: Change) -> list[tuple[str, To]]:
    return [(str(getattr(n.template, "value", n.template)), n.to) for n in change.notices]


def decide(text: str, ticket: Ticket | None = None) -> analyst.Decision:
    return analyst.analyst_mail(ticket or Ticket(), parse_commands(text), analyst=MARIA, desk=DESK)


# -- moves -----------------------------------------------------------------------

def test_a_move_sets_status_event_and_limit_and_refuses_what_the_life_forbids():
    change = moves.ask(Status.OPEN, MARIA, question="Qual o CNES?", until=NOW)
    assert (change.status, change.limit, kinds(change)) == (Status.WAITING, NOW, ["asked"])
    assert change.events[0].from_status is Status.OPEN and change.events[0].note == "Qual o CNES?"
    assert moves.refuse(Status.SOLVED, ANA, reason=" não funcionou ").events[0].note == "não funcionou"
    assert moves.take_up(Status.OPEN, MARIA) is NOTHING
    with pytest.raises(TransitionError):
        moves.solve(Status.REJECTED, MARIA, solution="x", until=NOW, round_=1)
    with pytest.raises(ValueError, match="needs a reason"):
        moves.refuse(Status.SOLVED, ANA, reason="  ")


def test_changes_compose_in_order():
    change = moves.take_up(Status.NEW, MARIA) + moves.solve(Status.OPEN, MARIA, solution="x", until=NOW, round_=1)
    assert change.status is Status.SOLVED and change.limit == NOW and change.fields == {"solution_round": 1}
    assert kinds(change) == ["opened", "solved"]
    assert (NOTHING + NOTHING).limit is KEEP


# -- analysts --------------------------------------------------------------------

def test_solve_on_a_new_ticket_takes_it_up_proposes_and_confirms():
    decision = decide("#solucao\nAtualize para a versão 3.3.")
    change = decision.change
    assert change.status is Status.SOLVED and change.fields["solution_round"] == 1
    assert kinds(change) == ["opened", "solved"]
    assert mails(change) == [("solution", To.REQUESTER), ("command_done", To.SENDER)]
    solution = change.notices[0]
    assert solution.links == frozenset({Link.SOLUTION}) and solution.deadline.at == DESK.solve_until
    assert solution.automatic is None, "a mail that asks for an answer is not automatic"
    assert decision.internal is False, "only a note, or a mail with no text, is kept as internal"


def test_a_plain_reply_is_relayed_and_a_note_stays_internal():
    relayed = decide("Bom dia, já estamos vendo.")
    assert kinds(relayed.change) == ["opened", "analyst_reply"]
    assert mails(relayed.change) == [("analyst_reply", To.REQUESTER)] and not relayed.internal
    noted = decide("#interno\nServidor 10.0.0.7 caiu.")
    assert kinds(noted.change) == ["opened", "note"] and mails(noted.change) == [("command_done", To.SENDER)]
    assert noted.internal


def test_fields_are_set_with_their_events_and_a_category_refreshes_deadlines():
    change = decide(f"#atribuir <{MARIA.upper()}>\n#categoria Funcionalidade\n#prioridade alta").change
    assert change.fields == {"assignee": MARIA, "category": "Funcionalidade", "priority": "alta",
                             # the old category's rule targets go (issue 15, bug 5): the desk has none here
                             "sla_first_response": None, "sla_resolution": None}
    # Handing a new ticket over and filing it is no work on it: it waits, assigned, for its assignee.
    assert kinds(change) == ["assigned", "category", "priority"] and change.refresh
    assert change.status is Status.ASSIGNED


@pytest.mark.parametrize("text, ticket, problem", [
    ("#atribuir mallory@evil.example", Ticket(), "não pode receber chamados"),
    ("#solucao\nx", Ticket(status="rejected"), "não aceita #solucao"),
    ("#solucionar\nx", Ticket(), "comando desconhecido"),
])
def test_nothing_of_a_refused_mail_is_applied(text, ticket, problem):
    decision = decide(text, ticket)
    assert decision.change.status is None and not decision.change.fields
    assert kinds(decision.change) == ["command_rejected"] and problem in decision.change.events[0].note
    assert mails(decision.change) == [("command_errors", To.SENDER)] and decision.internal


def test_a_colleague_is_told_and_a_forgery_warned_only_when_allowed():
    told = analyst.colleague_note(Ticket(), sender="pedro@example.gov.br", proof="SMTP AUTH", mailbox=DESK.address)
    assert kinds(told) == ["colleague_note"] and mails(told) == [("command_errors", To.SENDER)]
    assert mails(analyst.forged(MARIA, warn=False, excerpt="x", limit=3)) == []
    warned = analyst.forged(MARIA, warn=True, excerpt="x", limit=3).notices[0]
    assert warned.to is To.TEAM and warned.answerable is False, "a reply must not land on the ticket as Maria's"


# -- requesters --------------------------------------------------------------------

def reply(text: str, ticket: Ticket, *, round_kinds: frozenset[str] = frozenset(),
          proof: requester.Proof = requester.UNCHECKED, role: str = "requester") -> requester.Reply:
    return requester.follow_up(ticket, text, sender=ANA, role=role, round_kinds=round_kinds, proof=lambda: proof)


def test_answers_to_a_solution():
    solved = Ticket(status="solved", solution_round=1)
    accepted = reply("Sim, resolvido. Obrigada!", solved)
    assert accepted.change.status is Status.CLOSED and accepted.change.closed_reason is ClosedReason.ACCEPTED
    assert mails(accepted.change) == [("survey", To.REQUESTER)] and "ACEITOU" in accepted.headline
    refused = reply("Não. Continua com erro na tela de cadastro.", solved)
    assert refused.change.status is Status.OPEN and "RECUSOU" in refused.headline
    bare = reply("Não.", solved)
    assert kinds(bare.change) == ["refusal_without_reason"] and mails(bare.change) == [
        ("refusal_reason_request", To.REQUESTER)]
    reason = reply("A tela continua travando ao salvar.", solved, round_kinds=frozenset({"refusal_without_reason"}))
    assert reason.change.status is Status.OPEN
    unclear = reply("Vou testar amanhã.", solved)
    assert kinds(unclear.change) == ["clarification_sent"]
    assert reply("Vou testar amanhã.", solved, round_kinds=frozenset({"clarification_sent"})).change is NOTHING


def test_an_unproven_decision_is_kept_and_confirmed_once_per_proposal():
    solved = Ticket(status="solved", solution_round=2)
    unproven = requester.Proof(False, "dmarc=fail")
    first = reply("Sim, resolvido.", solved, proof=unproven)
    assert first.change.status is None and kinds(first.change) == ["decision_unconfirmed", "confirmation_sent"]
    assert mails(first.change) == [("confirm_decision", To.REQUESTER)]
    again = reply("Aceito.", solved, proof=unproven, round_kinds=frozenset({"confirmation_sent"}))
    assert kinds(again.change) == ["decision_unconfirmed"] and not again.change.notices
    waiting = reply("O CNES é 1234567.", Ticket(status="waiting"), proof=unproven)
    assert waiting.change.status is Status.OPEN, "an answer to a question is information, not a decision"


def test_replies_to_a_closed_ticket():
    closed = Ticket(status="closed", closed_reason="accepted", closed_at=NOW)
    common = dict(sender=ANA, now=NOW + timedelta(days=1), survey_until=NOW + timedelta(days=30),
                  reopen_until=None, proof=lambda: requester.UNCHECKED, kinds=())
    score = requester.reply_to_closed(closed, "Nota 4", role="requester", **common)
    assert score.kind == "survey" and score.change.fields["survey_score"] == 4 and kinds(score.change) == [
        "survey_answered"]
    assert requester.reply_to_closed(closed, "O erro voltou.", role="requester", **common).kind == "new"
    reopening = {**common, "reopen_until": NOW + timedelta(days=7)}
    assert requester.reply_to_closed(closed, "Voltou.", role="requester", **reopening).kind == "reopen"
    assert requester.reply_to_closed(closed, "Voltou.", role="participant", **reopening).kind == "hold"
    late = {**common, "now": NOW + timedelta(days=31)}
    late_score = requester.reply_to_closed(closed, "Nota 4", role="requester", **late)
    assert late_score.kind == "survey" and not late_score.change.fields, "a late rating is kept, opens no ticket"


def test_answers_on_a_page_tell_the_team():
    accepted = requester.accepted_on_page(Ticket(status="solved"), actor=ANA)
    assert accepted.status is Status.CLOSED and kinds(accepted) == ["accepted"]
    assert accepted.events[0].note == "via web"
    assert mails(accepted) == [("survey", To.REQUESTER), ("team_followup", To.TEAM)]
    with pytest.raises(ValueError):
        requester.refused_on_page(Ticket(status="solved"), "  ", actor=ANA)


def test_a_later_survey_answer_replaces_the_first_and_says_so():
    change = survey.answered(Ticket(status="closed", survey_score=2), 5, "Ótimo", actor=ANA, at=NOW)
    assert kinds(change) == ["survey_updated"] and change.events[0].note == "nota 5 (antes: 2): Ótimo"
    assert change.refresh, "no survey reminder any more"


# -- the clock -------------------------------------------------------------------

def test_what_each_deadline_does():
    limits = dict(wait_limit=parse_duration("5d"), solved_limit=parse_duration("3bd"))
    solved = Ticket(status="solved", solution_round=1, limit_at=NOW)
    reminded = timeouts.requester_item(solved, DueItem(REMIND_SOLVED, NOW), last_note="Atualize.", **limits)
    assert kinds(reminded) == ["reminded"] and reminded.fields == {"remind_at": None}
    assert reminded.notices[0].links == frozenset({Link.SOLUTION}) and reminded.notices[0].context["text"] == "Atualize."
    accepted = timeouts.requester_item(solved, DueItem(AUTO_ACCEPT, NOW), last_note="", **limits)
    assert accepted.closed_reason is ClosedReason.AUTO_ACCEPTED
    assert mails(accepted) == [("closed_auto_accepted", To.REQUESTER), ("survey", To.REQUESTER)]
    closed = timeouts.requester_item(Ticket(status="waiting", limit_at=NOW), DueItem(NO_RESPONSE, NOW), last_note="",
                                     **limits)
    assert closed.closed_reason is ClosedReason.NO_RESPONSE and closed.notices[0].deadline.limit == limits["wait_limit"]
    reminder = timeouts.requester_item(Ticket(status="closed", closed_reason="accepted"),
                                       DueItem(SURVEY_REMINDER, NOW), last_note="", **limits)
    assert kinds(reminder) == ["survey_reminded"] and reminder.notices[0].links == frozenset({Link.SURVEY})


def test_an_sla_breach_names_every_target_in_one_team_mail():
    items = [DueItem(SLA_BREACH, NOW, "first_response"), DueItem(SLA_BREACH, NOW, "resolution")]
    change = timeouts.sla_items(Ticket(category="Consulta Técnica", sla_done="first_response.warning"), SLA_BREACH,
                                items, due_of=lambda target: NOW)
    assert kinds(change) == ["sla_breach", "sla_breach"] and mails(change) == [("team_sla_breach", To.TEAM)]
    assert change.fields["sla_done"] == "first_response.warning first_response.breach resolution.breach"
    assert [line["target"] for line in change.notices[0].context["targets"]] == ["primeira resposta", "solução"]


def test_every_template_a_decision_names_exists():
    from gateway.outbound.render import Renderer

    shipped = set(Renderer().names())
    assert {template.value for template in Template} <= shipped
    assert EventKind("created") is EventKind.CREATED


def test_a_person_writing_proven_revives_their_address_and_nobody_else_does() -> None:
    from gateway.tickets.bounces import wrote_again
    from gateway.tickets.requester import UNCHECKED, Proof

    aligned, unproven = Proof(True, ""), Proof(False, "dmarc=none")
    forged_but_allowed = Proof(True, "dmarc=fail", failed=True)  # requester_decisions = "any", the MTA said fail
    assert wrote_again(ANA, aligned) == Change(revived=(ANA,))
    assert wrote_again(ANA, UNCHECKED) == Change(revived=(ANA,))  # a site deciding without [auth]
    assert wrote_again(ANA, unproven) == NOTHING
    assert wrote_again(ANA, forged_but_allowed) == NOTHING
    assert wrote_again("", aligned) == NOTHING  # a mail naming nobody in From
    composed = moves.answered(Status.WAITING, ANA) + wrote_again(ANA, aligned) + wrote_again(MARIA, aligned)
    assert composed.revived == (ANA, MARIA) and composed.status is Status.OPEN
