"""The SQLite connections' settings, read back from a connection of the
gateway's own engine: each one is what the store's code counts on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.config.settings import StorageConfig
from gateway.store.db import Database


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(StorageConfig(url=f"sqlite:///{tmp_path / 'gateway.db'}"))
    yield db
    db.engine.dispose()


def test_each_connection_has_the_stores_settings(database: Database) -> None:
    with database.engine.connect() as connection:
        read = {name: connection.execute(text(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "temp_store", "busy_timeout")}
    assert read == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "temp_store": 2,
                    "busy_timeout": read["busy_timeout"]}
    assert read["busy_timeout"] > 0


def _temp_files() -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed since listed (the listing's own descriptor)
            continue
        if "etilqs" in target:  # SQLite's temporary files, unlinked once opened
            found.append(target)
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads the open files from /proc (Linux)")
def test_a_savepoints_undo_copies_stay_in_memory(database: Database) -> None:
    """Every mail of a processing group runs in a savepoint; the first change
    to a page after it copies the page aside for a rollback, and past 64 KiB
    SQLite wrote those copies to a temporary file, a write per page, inside
    the group's write lock.  ``temp_store=MEMORY`` keeps them in memory."""
    with database.transaction() as tx:
        tx.execute(text("CREATE TABLE filler (x TEXT)"))
        tx.execute(text("INSERT INTO filler VALUES (:x)"), [{"x": "a" * 500}] * 2000)  # ~1 MB of pages
    with database.transaction() as tx, tx.begin_nested():
        tx.execute(text("UPDATE filler SET x = 'b' || x"))  # every page changed inside the savepoint
        assert _temp_files() == []
