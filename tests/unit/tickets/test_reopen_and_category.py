"""Issue 15, bugs 4 and 5, as pure decisions: ``#reabrir`` and the SLA a
``#categoria`` brings (read from the rule files by ``rules.categories``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gateway.durations import parse_duration
from gateway.rules.categories import category_targets
from gateway.rules.loader import load_rules
from gateway.tickets import analyst
from gateway.tickets.change import Change, To
from gateway.tickets.commands import CommandName, help_text, parse_commands
from gateway.tickets.states import Status

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)
MARIA = "maria@example.gov.br"
RULES = Path(__file__).resolve().parents[3] / "rules"


@dataclass
class Ticket:
    status: str = "new"
    language: str = "pt_BR"
    solution_round: int = 0
    category: str | None = None


def desk(**options: object) -> analyst.Desk:
    return analyst.Desk(address="suporte.mapa@example.gov.br", may_assign=lambda a: True,
                        ask_until=NOW + timedelta(days=5), wait_limit=parse_duration("5d"),
                        solve_until=NOW + timedelta(days=3), solved_limit=parse_duration("3bd"), **options)


def decide(text: str, status: str, **options: object) -> analyst.Decision:
    return analyst.analyst_mail(Ticket(status=status), parse_commands(text), analyst=MARIA, desk=desk(**options))


def mails(change: Change) -> list[tuple[str, To]]:
    return [(str(getattr(n.template, "value", n.template)), n.to) for n in change.notices]


@pytest.mark.parametrize("status", ["rejected", "closed"])
def test_reabrir_takes_a_returned_or_closed_ticket_back_to_work_and_tells_the_requester(status):
    decision = decide("#reabrir A devolução foi um engano.", status)
    change = decision.change
    assert change.status is Status.OPEN and change.limit is None
    assert change.fields == {"resolved_at": None}
    assert [e.kind.value for e in change.events] == ["reopened"]
    assert mails(change) == [("reopened", To.REQUESTER), ("command_done", To.SENDER)]
    assert change.notices[0].context["text"] == "A devolução foi um engano."
    assert "chamado reaberto" in change.notices[1].context["done"][0]


@pytest.mark.parametrize("status", ["new", "open", "waiting", "solved"])
def test_reabrir_on_a_ticket_still_worked_is_refused_with_the_status(status):
    decision = decide("#reabrir", status)
    assert decision.change.status is None and mails(decision.change) == [("command_errors", To.SENDER)]
    problem = decision.change.notices[0].context["problems"][0]["problem"]
    assert "#reabrir" in problem and Status(status).label() in problem


def test_a_returned_ticket_refuses_a_question_and_names_reabrir():
    decision = decide("#aguardando\nQual o serviço?", "rejected")
    problem = decision.change.notices[0].context["problems"][0]["problem"]
    assert "Devolvido" in problem and "#reabrir" in problem


def test_reabrir_then_a_question_reopens_and_asks_with_the_body_as_the_question():
    change = decide("#reabrir Reabrimos o seu pedido.\n#aguardando\nQual o nome do serviço?", "rejected").change
    assert change.status is Status.WAITING
    assert [e.kind.value for e in change.events] == ["reopened", "asked"]
    assert mails(change) == [("reopened", To.REQUESTER), ("question", To.REQUESTER), ("command_done", To.SENDER)]
    assert change.notices[0].context["text"] == "Reabrimos o seu pedido."
    assert change.notices[1].context["text"] == "Qual o nome do serviço?"


def test_reabrir_is_parsed_in_both_languages_and_listed_in_the_help():
    assert parse_commands("#Reabrir").names() == (CommandName.REOPEN,)
    assert parse_commands("#reopen: by mistake").commands[0].argument == "by mistake"
    assert "#reabrir" in help_text("pt_BR") and "#reopen" in help_text("en")
    assert parse_commands("#reabrir\n#interno x").problems, "an internal note would reach the requester"
    assert parse_commands("#aguardando\n#fechar\nx").problems, "two moves besides #reabrir are still refused"


def test_a_category_brings_its_rule_targets_and_its_spelling():
    mapa = load_rules(RULES / "mapa.toml")
    targets = category_targets(mapa, "defeito SEM paralisacao")
    assert targets == analyst.CategoryTargets("Defeito sem paralisação", None, "24h")
    change = decide("#categoria defeito SEM paralisacao", "open",
                    category=lambda name: category_targets(mapa, name)).change
    assert change.fields == {"category": "Defeito sem paralisação", "sla_first_response": None,
                             "sla_resolution": "24h"}
    assert change.refresh and [e.kind.value for e in change.events] == ["category", "sla"]


def test_a_category_without_rule_targets_clears_the_old_ones():
    mapa = load_rules(RULES / "mapa.toml")
    assert category_targets(mapa, "Reclamação") == analyst.CategoryTargets("Reclamação")
    cnes = load_rules(RULES / "cnes.toml")
    assert category_targets(cnes, "FUNCIONALIDADE") == analyst.CategoryTargets("funcionalidade")
