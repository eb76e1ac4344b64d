"""The migrations build exactly the schema the models describe.

Alembic's autogenerate comparison between ``Base.metadata`` and a SQLite
database migrated to head must find nothing: a column added to a model
without a migration (or the reverse) fails here, not on someone's server.
"""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway.config import StorageConfig
from gateway.store.db import Database
from gateway.store.models import Base


def _migrated(tmp_path: Path) -> Database:
    db = Database(StorageConfig(url=f"sqlite:///{tmp_path}/schema.db"))
    db.migrate()
    return db


def test_models_and_migrations_agree(tmp_path):
    db = _migrated(tmp_path)
    try:
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
        assert differences == [], f"models and migrations differ: {differences}"
    finally:
        db.dispose()


def test_migrations_go_down_and_up_again(tmp_path):
    from alembic import command
    from alembic.config import Config

    from gateway.store.revisions import MIGRATIONS

    db = _migrated(tmp_path)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0003")
        with db.engine.connect() as connection:
            columns = {c["name"] for c in connection.dialect.get_columns(connection, "ticket")}
        assert "limit_at" not in columns and "due_at" in columns
        db.migrate()
        with db.engine.connect() as connection:
            columns = {c["name"] for c in connection.dialect.get_columns(connection, "ticket")}
        assert {"limit_at", "remind_at", "sla_done", "resolution_due_at"} <= columns
    finally:
        db.dispose()


def test_going_below_drafts_waits_for_the_queued_ones(tmp_path):
    """Revision 0018 marks the outbox's drafts (outbound.compose): an older
    gateway refuses the database rather than send a draft's bytes as a
    mail, and going down is refused while a draft is still to be sent."""
    from datetime import datetime, timezone

    import pytest
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from gateway.outbound import compose
    from gateway.outbound.render import Rendered
    from gateway.store import outbox
    from gateway.store.revisions import MIGRATIONS

    now = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
    db = _migrated(tmp_path)
    try:
        with db.transaction() as tx:
            for n, status in ((1, "sent"), (2, "queued")):
                envelope = compose.Envelope(from_name="Central", from_address="atendimento@example.gov.br",
                                            to=[f"cidadao{n}@example.org"], message_id=f"ack.{n}@example.gov.br", date=now)
                outbox.add(tx, ticket_id=None, kind="ack", message_id=envelope.message_id, at=now,
                           mail_from="atendimento@example.gov.br", rcpt_tos=list(envelope.to),
                           raw=compose.draft(Rendered("Recebida", "Texto.\n", "<p>Texto.</p>"), envelope))
            tx.flush()
            tx.execute(text("UPDATE outbox SET status = 'sent' WHERE message_id = 'ack.1@example.gov.br'"))
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with pytest.raises(RuntimeError, match="1 notice\\(s\\) wait in the outbox as drafts"):
            with db.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.downgrade(config, "0017")
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE outbox SET status = 'sent'"))
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0017")
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0017"
    finally:
        db.dispose()
