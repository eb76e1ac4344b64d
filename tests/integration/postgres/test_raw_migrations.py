"""Revisions 0016 and 0017 move each stored mail's bytes beside its row:
the inbox's from ``inbox.raw`` to ``inbox_raw``, the outbox's from
``outbox.raw`` to ``outbox_raw`` (keyed by the row's unique Message-ID), on
SQLite and PostgreSQL.  A database of an earlier version keeps every mail,
byte for byte, readable as ``InboxRow.raw`` / ``OutboxRow.raw``, and going
back down puts the bytes back in the rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, select, text

from gateway.config import StorageConfig
from gateway.store.db import Database
from gateway.store.models import InboxRow, OutboxRow
from gateway.store.revisions import MIGRATIONS

MAILS = [b"From: ana@example.org\r\nSubject: um\r\n\r\nBom dia.\r\n", b"\x00bytes \xff como vieram\r\n"]
SENT = [b"From: cnes@example.gov.br\r\nSubject: Protocolo\r\n\r\nRecebemos.\r\n", b"\x00bytes \xff como sairam\r\n"]


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


def test_the_bytes_move_to_outbox_raw_and_back(url: str) -> None:
    db = Database(StorageConfig(url=url))
    try:
        _to(db, "0016")
        assert "raw" in _columns(db, "outbox")
        row: dict[str, Any] = {"kind": "ack", "mail_from": "cnes@example.gov.br", "rcpt_tos": '["ana@example.org"]',
                               "first_rcpt": "ana@example.org", "status": "queued", "attempts": 0,
                               "created_at": "2026-12-07 10:00:00.000000", "next_attempt_at": "2026-12-07 10:00:00.000000"}
        with db.engine.begin() as connection:
            for index, raw in enumerate(SENT):
                connection.execute(text(
                    "INSERT INTO outbox (kind, message_id, mail_from, rcpt_tos, first_rcpt, raw, status, attempts, "
                    "created_at, next_attempt_at) VALUES (:kind, :message_id, :mail_from, :rcpt_tos, :first_rcpt, "
                    ":raw, :status, :attempts, :created_at, :next_attempt_at)"),
                    {**row, "message_id": f"ack.{index}@example.gov.br", "raw": raw})
        db.migrate()
        assert "raw" not in _columns(db, "outbox")
        with db.transaction() as tx:
            assert [bytes(r.raw) for r in tx.scalars(select(OutboxRow).order_by(OutboxRow.id))] == SENT
        _to(db, "0016", down=True)
        assert "outbox_raw" not in inspect(db.engine).get_table_names()
        with db.engine.connect() as connection:
            assert [bytes(r) for (r,) in connection.execute(text("SELECT raw FROM outbox ORDER BY id"))] == SENT
    finally:
        db.dispose()
