"""Migration 0008 (issue 15): a ticket a rule assigned before the
*assigned* state existed stayed ``new``; upgraded, it is ``assigned``, and
downgraded it is ``new`` again, as the older code knew it.  Run the way
``gateway db upgrade`` runs it (``Database.migrate``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from gateway.config import StorageConfig
from gateway.store.db import Database
from gateway.store.revisions import MIGRATIONS

_ROW = ("INSERT INTO ticket (protocol, mailbox, status, requester, requester_name, subject, priority, language, "
        "created_at, updated_at, solution_round, sla_done, missing_fields, assignee) VALUES "
        "(?, 'siop@example.gov.br', ?, 'ana@example.org', '', 'Erro', 'normal', 'pt_BR', "
        "'2026-11-20 13:00:00', '2026-11-20 13:00:00', 0, '', '', ?)")


def _to(db: Database, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _statuses(db: Database) -> dict[str, str]:
    with db.engine.connect() as connection:
        return dict(connection.exec_driver_sql("SELECT protocol, status FROM ticket").all())


def test_new_tickets_with_an_assignee_become_assigned_and_go_back_to_new(tmp_path: Path):
    db = Database(StorageConfig(url=f"sqlite:///{tmp_path}/gateway.db"))
    try:
        db.migrate()
        _to(db, "0007")
        with db.engine.begin() as connection:
            for protocol, status, assignee in (("SIOP-1", "new", "joao@example.gov.br"), ("SIOP-2", "new", None),
                                               ("SIOP-3", "open", "joao@example.gov.br")):
                connection.exec_driver_sql(_ROW, (protocol, status, assignee))
        db.migrate()
        assert _statuses(db) == {"SIOP-1": "assigned", "SIOP-2": "new", "SIOP-3": "open"}
        _to(db, "0007")
        assert _statuses(db) == {"SIOP-1": "new", "SIOP-2": "new", "SIOP-3": "open"}
    finally:
        db.dispose()
