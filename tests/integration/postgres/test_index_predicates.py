"""The indexes a database the migrations built holds are the models' ones,
on SQLite and PostgreSQL: each partial one with the same predicate, each
whole one whole, and none that the models do not declare (the primary
key's and unique constraints' own indexes aside).

Alembic's autogenerate (``tests/unit/test_migrations.py``) compares an
index's columns and uniqueness, never its ``sqlite_where`` or
``postgresql_where``: a migration that forgot a predicate, or a model that
lost one, would pass it while the index holds other rows than the queries
that read it expect (a ``WHERE ... IS NULL`` index that a range query can
never use, or a whole one every new row pays for).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text

from gateway.store.db import Database
from gateway.store.models import Base


def _normal(predicate: str) -> str:
    """A predicate as both databases may spell it: lowercase, single spaces, without
    parentheses (PostgreSQL adds them; the models' predicates are single terms)."""
    return " ".join(re.sub(r"[()]", " ", predicate.lower()).split())


def definitions(database: Database) -> dict[str, str]:
    """Each index's definition as the database keeps it, but a constraint's own."""
    with database.engine.connect() as connection:
        if database.is_postgres:  # a constraint's own index (primary key, unique) is not the models' Index
            rows = connection.execute(text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = indexname)"))
        else:  # nor is SQLite's autoindex of one (it has no SQL)
            rows = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
        return {name: definition for name, definition in rows}


def _built(database: Database) -> dict[str, str]:
    """Each index's predicate in the database ("" for a whole index)."""
    found = {}
    for name, definition in definitions(database).items():
        parts = re.split(r"\swhere\s", definition, maxsplit=1, flags=re.IGNORECASE)
        found[name] = _normal(parts[1]) if len(parts) == 2 else ""
    return found


def _declared(dialect: str) -> dict[str, str]:
    """Each named index of the models, with its predicate for ``dialect`` ("" if whole)."""
    declared = {}
    for table in Base.metadata.sorted_tables:
        for index in table.indexes:
            where: Any = index.dialect_options[dialect].get("where")
            if index.name:
                declared[index.name] = _normal(str(where)) if where is not None else ""
    return declared


def test_the_models_partial_indexes_are_built_partial_and_the_whole_ones_whole(db: Database) -> None:
    declared = _declared("postgresql" if db.is_postgres else "sqlite")
    built = _built(db)
    assert any(declared.values()), "the models declare no partial index: is this test reading them?"
    missing, extra = sorted(set(declared) - set(built)), sorted(set(built) - set(declared))
    assert not missing, f"indexes of the models not in the database: {missing}"
    assert not extra, f"indexes in the database that no model declares: {extra}"
    differing = {name: (predicate, built[name]) for name, predicate in declared.items() if built[name] != predicate}
    assert not differing, f"predicate (model, database) differs: {differing}"
