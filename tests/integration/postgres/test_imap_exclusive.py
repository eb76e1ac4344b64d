"""One IMAP session per folder across processes: the hold the poller takes
(``ImapStateStore.exclusive``) on SQLite (a file lock) and PostgreSQL (a
session advisory lock), with two Database objects as two processes have."""

from __future__ import annotations

from datetime import datetime, timezone

from gateway.config import StorageConfig
from gateway.store.db import Database
from gateway.store.imap_state import ImapStateStore


def _now() -> datetime:
    return datetime(2026, 12, 7, tzinfo=timezone.utc)


def test_one_holder_per_folder_and_the_next_after_it_lets_go(db: Database) -> None:
    other = Database(StorageConfig(url=db.url.render_as_string(hide_password=False)))
    try:
        ours, theirs = ImapStateStore(db, _now), ImapStateStore(other, _now)
        with ours.exclusive("atendimento@example.gov.br", "INBOX") as mine:
            assert mine
            with theirs.exclusive("atendimento@example.gov.br", "INBOX") as also:
                assert not also, "a second session on the same folder"
            with theirs.exclusive("atendimento@example.gov.br", "Entradas") as elsewhere:
                assert elsewhere, "another folder is another hold"
            with theirs.exclusive("cnes@example.gov.br", "INBOX") as other_box:
                assert other_box
        with theirs.exclusive("atendimento@example.gov.br", "INBOX") as now_mine:
            assert now_mine, "released when the first let go"
    finally:
        other.dispose()
