"""The seeds' distinctions as pure decisions (issue 15, "per-desk status
names"): *assigned*, a ticket with an assignee no analyst has acted on yet,
and *resolved*, a closed ticket a reply may still reopen (shown, never
stored); and the words each desk reads for them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from gateway.config.mailbox import STATE_KEYS
from gateway.durations import parse_duration
from gateway.errors import TransitionError
from gateway.tickets import analyst, moves
from gateway.tickets.change import Change
from gateway.tickets.commands import parse_commands
from gateway.tickets.kinds import EventKind
from gateway.tickets.states import (
    ACCEPTED,
    RESOLVED,
    SHOWN_STATES,
    TRANSITIONS,
    UNTOUCHED,
    Status,
    require_transition,
    shown_label,
    shown_state,
)

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)
MARIA = "maria@example.gov.br"
JOAO = "joao@example.gov.br"
SIOP = {"new": "Novo", "assigned": "Atribuído", "open": "Atribuído", "waiting": "Aguardando",
        "solved": "Validar", "resolved": "Resolvido", "closed": "Fechado"}


@dataclass
class Ticket:
    status: str = "new"
    language: str = "pt_BR"
    solution_round: int = 0
    category: str | None = None


DESK = analyst.Desk(address="siop@example.gov.br", may_assign=lambda a: a.endswith("@example.gov.br"),
                    ask_until=NOW + timedelta(days=10), wait_limit=parse_duration("10d"),
                    solve_until=NOW + timedelta(days=10), solved_limit=parse_duration("10d"))


def decide(text: str, status: str = "new") -> Change:
    return analyst.analyst_mail(Ticket(status=status), parse_commands(text), analyst=MARIA, desk=DESK).change


def moved(change: Change) -> list[tuple[str, str, str]]:
    return [(e.kind.value, e.from_status.value, e.to_status.value) for e in change.events if e.to_status]


# -- the state machine ------------------------------------------------------------

def test_assigning_a_new_ticket_makes_it_assigned_and_an_open_one_keeps_its_state():
    change = moves.assign(Status.NEW, "gateway", assignee=JOAO, note="joao (regra 'siop')")
    assert change.status is Status.ASSIGNED and change.fields == {"assignee": JOAO}
    assert moved(change) == [("assigned", "new", "assigned")] and change.events[0].note == "joao (regra 'siop')"
    for status in (Status.ASSIGNED, Status.OPEN, Status.WAITING):
        again = moves.assign(status, MARIA, assignee=JOAO)
        assert again.status is None, f"{status.value}: reassigning is no move"
        assert [e.kind for e in again.events] == [EventKind.ASSIGNED] and again.fields == {"assignee": JOAO}


def test_the_first_analyst_action_takes_an_assigned_ticket_up():
    assert moved(moves.take_up(Status.ASSIGNED, JOAO)) == [("opened", "assigned", "open")]
    assert moves.take_up(Status.OPEN, JOAO).status is None
    assert UNTOUCHED == {Status.NEW, Status.ASSIGNED}


def test_an_assigned_ticket_goes_wherever_a_new_one_may_but_never_back_to_new_or_to_assigned_again():
    assert TRANSITIONS[Status.ASSIGNED] == TRANSITIONS[Status.NEW] - {Status.ASSIGNED}
    for status in Status:
        if status is not Status.NEW:
            with pytest.raises(TransitionError):
                require_transition(status, Status.ASSIGNED)
    with pytest.raises(TransitionError):
        require_transition(Status.ASSIGNED, Status.NEW)


def test_atribuir_alone_or_with_filing_leaves_the_ticket_assigned():
    for text in (f"#atribuir {JOAO}", f"#atribuir {JOAO}\n#categoria Emendas\n#prioridade alta",
                 f"#atribuir {JOAO}\n#interno\nJoão conhece o módulo de emendas."):
        change = decide(text)
        assert change.status is Status.ASSIGNED, text
        assert moved(change) == [("assigned", "new", "assigned")], text


def test_atribuir_with_work_for_the_citizen_assigns_then_takes_up():
    relayed = decide(f"#atribuir {JOAO}\n\nJá estamos verificando o seu acesso.")
    assert moved(relayed) == [("assigned", "new", "assigned"), ("opened", "assigned", "open")]
    asked = decide(f"#atribuir {JOAO}\n#aguardando\nQual o número da emenda?")
    assert asked.status is Status.WAITING and moved(asked)[0] == ("opened", "new", "open")


def test_the_assignees_first_action_on_an_assigned_ticket_opens_it():
    assert moved(decide("Verifiquei: o perfil foi liberado.", "assigned"))[0] == ("opened", "assigned", "open")
    solved = decide("#solucao\nPerfil liberado.", "assigned")
    assert solved.status is Status.SOLVED
    assert moved(solved) == [("opened", "assigned", "open"), ("solved", "open", "solved")]
    assert decide("#devolver\nFora do escopo do SIOP.", "assigned").status is Status.REJECTED
    assert decide(f"#atribuir {JOAO}", "open").status is None, "reassigning open work keeps it open"


# -- what is shown ---------------------------------------------------------------

def test_a_closed_ticket_is_shown_resolved_while_a_reply_may_reopen_it():
    assert shown_state(Status.CLOSED, reopenable=True) == RESOLVED
    assert shown_state(Status.CLOSED, reopenable=False) == "closed"
    assert shown_state(Status.REJECTED, reopenable=True) == "rejected", "a returned ticket is never reopened by reply"
    assert shown_state(Status.ASSIGNED, reopenable=True) == "assigned"


def test_a_ticket_closed_with_its_solution_accepted_is_shown_accepted_once_no_reply_reopens_it():
    assert shown_state(Status.CLOSED, reopenable=False, accepted=True) == ACCEPTED
    assert shown_state(Status.CLOSED, reopenable=True, accepted=True) == RESOLVED, "SIOP: Resolvido first"
    assert shown_state(Status.OPEN, reopenable=False, accepted=True) == "open"
    causp = {"accepted": "Homologado", "closed": "Fechado"}
    assert shown_label(ACCEPTED, "pt_BR", causp) == "Homologado" and shown_label("closed", "pt_BR", causp) == "Fechado"
    assert shown_label(ACCEPTED) == "Fechado" and shown_label(ACCEPTED, "en") == "Closed", "ours: just closed"


def test_a_desk_reads_its_own_names_and_ours_for_the_states_it_did_not_name():
    assert [shown_label(state, "pt_BR", SIOP) for state in ("new", "assigned", "open", "solved", "resolved")] == [
        "Novo", "Atribuído", "Atribuído", "Validar", "Resolvido"]
    assert shown_label("rejected", "pt_BR", SIOP) == "Devolvido"
    assert shown_label("assigned", "en") == "Assigned" and shown_label(RESOLVED, "en") == "Resolved"
    assert shown_label("waiting") == "Aguardando solicitante"


def test_the_config_names_exactly_the_states_the_domain_shows():
    assert set(STATE_KEYS) == set(SHOWN_STATES) and len(STATE_KEYS) == len(SHOWN_STATES)
