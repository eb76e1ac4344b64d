"""Revision 0016 moves each accepted mail's bytes from ``inbox.raw`` to
``inbox_raw``, on SQLite and PostgreSQL: a database of an earlier version
keeps every mail, byte for byte, readable as ``InboxRow.raw``, and going
back down puts the bytes back in the inbox row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, select, text

from gateway.config import StorageConfig
from gateway.store.db import Database
from gateway.store.models import InboxRow
from gateway.store.revisions import MIGRATIONS

MAILS = [b"From: ana@example.org\r\nSubject: um\r\n\r\nBom dia.\r\n", b"\x00bytes \xff como vieram\r\n"]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/gateway.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def _to(db: Database, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def _columns(db: Database, table: str) -> set[str]:
    with db.engine.connect() as connection:
        return {column["name"] for column in inspect(connection).get_columns(table)}


def test_the_bytes_move_to_inbox_raw_and_back(url: str) -> None:
    db = Database(StorageConfig(url=url))
    try:
        _to(db, "0015")
        assert "raw" in _columns(db, "inbox")
        row: dict[str, Any] = {"received_at": "2026-12-07 10:00:00.000000", "via": "smtp", "peer": "", "mail_from": "",
                               "rcpt_tos": "[]", "sha256": "0" * 64, "status": "processed"}
        with db.engine.begin() as connection:
            for raw in MAILS:
                connection.execute(text("INSERT INTO inbox (received_at, via, peer, mail_from, rcpt_tos, sha256, size, "
                                        "raw, status) VALUES (:received_at, :via, :peer, :mail_from, :rcpt_tos, "
                                        ":sha256, :size, :raw, :status)"), {**row, "size": len(raw), "raw": raw})
        db.migrate()
        assert "raw" not in _columns(db, "inbox")
        with db.transaction() as tx:
            assert [bytes(r.raw) for r in tx.scalars(select(InboxRow).order_by(InboxRow.id))] == MAILS
        _to(db, "0015", down=True)
        assert "inbox_raw" not in inspect(db.engine).get_table_names()
        with db.engine.connect() as connection:
            assert [bytes(r) for (r,) in connection.execute(text("SELECT raw FROM inbox ORDER BY id"))] == MAILS
    finally:
        db.dispose()
