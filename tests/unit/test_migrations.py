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
