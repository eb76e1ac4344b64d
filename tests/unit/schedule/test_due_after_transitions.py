"""What is due after each transition, on the Friday-holiday case, computed by
hand.  Friday 2026-11-20 is Consciência Negra (national holiday); São Paulo
is UTC-3, so 10:00 local is 13:00 UTC and 18:00 local is 21:00 UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sqlalchemy import text

from gateway.config import StorageConfig, load_settings
from gateway.services import deadlines
from gateway.services.writer import TicketWriter
from gateway.store import tickets
from gateway.store.db import Database
from gateway.store.models import TicketRow
from gateway.tickets import moves
from gateway.tickets.change import Change
from gateway.tickets.kinds import ClosedReason
from gateway.tickets.states import Status

FRIDAY_10H = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture(scope="module", autouse=True)
def _database(tmp_path_factory: pytest.TempPathFactory):
    """A real SQLite database where the writer puts its events, on
    ticket #1 (each test's ticket object plays that row, detached)."""
    global _DB
    _DB = Database(StorageConfig(url=f"sqlite:///{tmp_path_factory.mktemp('due')}/due.db"))
    _DB.migrate()
    with _DB.transaction() as tx:
        tickets.add_ticket(tx, protocol="ATD-2026-000001-1", mailbox="atendimento@example.gov.br",
                           requester="ana@example.org", created_at=FRIDAY_10H, updated_at=FRIDAY_10H)
    yield
    _DB.dispose()


_DB: Database


def _settings(**mailbox: Any):
    return load_settings(overrides={"mailbox": [{"address": "atendimento@example.gov.br", "protocol_prefix": "ATD",
                                                 **mailbox}]})


def _ticket(category: str | None = None, status: str = "new") -> TicketRow:
    return TicketRow(id=1, protocol="ATD-2026-000001-1", mailbox="atendimento@example.gov.br", status=status,
                     requester="ana@example.org", category=category, language="pt_BR", created_at=FRIDAY_10H,
                     updated_at=FRIDAY_10H, sla_done="")


def _apply(settings: Any, ticket: TicketRow, change: Change, at: datetime) -> None:
    with _DB.transaction() as tx:
        TicketWriter(settings, notifier=None).apply(tx, ticket, change, at=at)  # type: ignore[arg-type]
        assert [kind for (kind,) in tx.execute(text("select kind from event order by id desc limit 1"))] == [
            change.events[-1].kind.value]


def test_asking_on_the_holiday_reminds_tuesday_and_closes_wednesday():
    settings, ticket = _settings(), _ticket(status="open")
    limit = utc(25, 13)  # 5d: Wednesday 25 at the same clock time, 10:00 local
    _apply(settings, ticket, moves.ask(Status.OPEN, "maria@example.gov.br", question="CNES?", until=limit), FRIDAY_10H)
    assert ticket.limit_at == limit
    assert ticket.remind_at == utc(24, 13)  # one business day before: Tuesday 24, 10:00 local
    assert (ticket.due_kind, ticket.due_at) == ("remind_waiting", utc(24, 13))


def test_solving_on_the_holiday_reminds_tuesday_evening_and_accepts_wednesday_evening():
    settings, ticket = _settings(), _ticket(status="open")
    limit = utc(25, 21)  # 3bd after the holiday: Mon 23, Tue 24, Wed 25, at 18:00 local
    _apply(settings, ticket, moves.solve(Status.OPEN, "maria@example.gov.br", solution="v3.2", until=limit, round_=1), FRIDAY_10H)
    assert (ticket.due_kind, ticket.due_at, ticket.limit_at) == ("remind_solved", utc(24, 21), limit)
    assert ticket.resolved_at == FRIDAY_10H and ticket.first_response_at == FRIDAY_10H


def test_the_answer_clears_the_limit_and_the_reminder():
    settings, ticket = _settings(), _ticket(status="open")
    _apply(settings, ticket, moves.ask(Status.OPEN, "maria@example.gov.br", question="CNES?", until=utc(25, 13)), FRIDAY_10H)
    _apply(settings, ticket, moves.answered(Status.WAITING, "maria@example.gov.br"), utc(23, 12))
    assert (ticket.due_at, ticket.due_kind, ticket.limit_at, ticket.remind_at) == (None, None, None, None)


def test_no_reminder_when_the_limit_is_too_short_for_one():
    settings, ticket = _settings(solved_limit="1bd"), _ticket(status="open")
    # 1bd after Friday: Monday 23 at 18:00 local; 1bd before that is Friday (the question's own day): none.
    _apply(settings, ticket, moves.solve(Status.OPEN, "maria@example.gov.br", solution="x", until=utc(23, 21), round_=1), FRIDAY_10H)
    assert (ticket.remind_at, ticket.due_kind, ticket.due_at) == (None, "auto_accept", utc(23, 21))


def test_reminders_can_be_switched_off():
    settings, ticket = _settings(wait_reminder=""), _ticket(status="open")
    _apply(settings, ticket, moves.ask(Status.OPEN, "maria@example.gov.br", question="?", until=utc(25, 13)), FRIDAY_10H)
    assert (ticket.due_kind, ticket.due_at) == ("no_response", utc(25, 13))


def test_acceptance_schedules_one_survey_reminder_three_business_days_later():
    settings, ticket = _settings(), _ticket(status="solved")
    _apply(settings, ticket, moves.accept(Status.SOLVED, "maria@example.gov.br"), FRIDAY_10H)
    assert (ticket.due_kind, ticket.due_at) == ("survey_reminder", utc(25, 21))  # Wed 25, 18:00 local


def test_closing_by_the_analyst_sends_no_survey_so_schedules_nothing():
    settings, ticket = _settings(), _ticket(status="open")
    _apply(settings, ticket, moves.close(Status.OPEN, "maria@example.gov.br", reason=ClosedReason.BY_ANALYST), FRIDAY_10H)
    assert (ticket.due_at, ticket.due_kind) == (None, None)


MAPA = {"sla_default": {"resolution": "24h"},
        "sla": {"Consulta Técnica": {"resolution": "2h"},
                "Defeito com paralisação": {"first_response": "1h", "resolution": "4h", "warning": "30min"},
                "Defeito sem paralisação": {"resolution": "24h"},
                "Cadastro": {"resolution": "4bh"}}}


@pytest.mark.parametrize(("category", "kind", "due", "resolution_due"), [
    # 2h wall clock from 10:00 local: 12:00 local; warn with 25% (30 min) left.
    ("Consulta Técnica", "sla_warning", utc(20, 14, 30), utc(20, 15)),
    ("consulta tecnica", "sla_warning", utc(20, 14, 30), utc(20, 15)),  # case and accents ignored
    # First response 1h (warn 30 min before: 10:30 local); resolution 4h.
    ("Defeito com paralisação", "sla_warning", utc(20, 13, 30), utc(20, 17)),
    # 24h from Friday 10:00: Saturday 10:00 local; warn 6h (25%) before.
    ("Defeito sem paralisação", "sla_warning", utc(21, 7), utc(21, 13)),
    # 4 working hours from the holiday: Monday 23, 08:00 -> 12:00 local; warn with 1h of work left (11:00).
    ("Cadastro", "sla_warning", utc(23, 14), utc(23, 15)),
    (None, "sla_warning", utc(21, 7), utc(21, 13)),  # sla_default
])
def test_sla_targets_per_category(category, kind, due, resolution_due):
    settings, ticket = _settings(**MAPA), _ticket(category=category)
    deadlines.refresh(ticket, settings.mailboxes[0], FRIDAY_10H)
    assert (ticket.due_kind, ticket.due_at, ticket.resolution_due_at) == (kind, due, resolution_due)


def test_the_first_analyst_action_meets_the_first_response_target():
    settings, ticket = _settings(**MAPA), _ticket(category="Defeito com paralisação")
    deadlines.refresh(ticket, settings.mailboxes[0], FRIDAY_10H)
    assert ticket.first_response_due_at == utc(20, 14)
    _apply(settings, ticket, moves.take_up(Status.NEW, "maria@example.gov.br"), utc(20, 13, 20))
    assert ticket.first_response_at == utc(20, 13, 20)
    # Only the resolution target is left: 4h, warned 30 min before.
    assert (ticket.due_kind, ticket.due_at) == ("sla_warning", utc(20, 16, 30))
    assert deadlines.late_targets(ticket, utc(20, 18)) == ["resolution"]


def test_no_sla_configured_means_nothing_due_on_a_new_ticket():
    settings, ticket = _settings(), _ticket()
    deadlines.refresh(ticket, settings.mailboxes[0], FRIDAY_10H)
    assert (ticket.due_at, ticket.first_response_due_at, ticket.resolution_due_at) == (None, None, None)
