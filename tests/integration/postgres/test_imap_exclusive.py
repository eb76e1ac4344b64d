"""One IMAP session per folder across processes: the hold the poller takes
(``ImapStateStore.exclusive``) on SQLite (a file lock) and PostgreSQL (a
session advisory lock on a connection of its own), with two Database
objects as two processes have."""

from __future__ import annotations

from datetime import datetime, timezone

from gateway.config import StorageConfig
from gateway.store.db import Database
from gateway.store.imap_state import ImapStateStore

BOX, FOLDER = "atendimento@example.gov.br", "INBOX"


def _now() -> datetime:
    return datetime(2026, 12, 7, tzinfo=timezone.utc)


def test_one_holder_per_folder_and_the_next_after_it_lets_go(db: Database) -> None:
    other = Database(StorageConfig(url=db.url.render_as_string(hide_password=False)))
    try:
        ours, theirs = ImapStateStore(db, _now), ImapStateStore(other, _now)
        with ours.exclusive(BOX, FOLDER) as held:
            assert held.mine and held.still()
            with theirs.exclusive(BOX, FOLDER) as also:
                assert not also.mine and not also.still(), "a second session on the same folder"
            with theirs.exclusive(BOX, "Entradas") as elsewhere:
                assert elsewhere.mine, "another folder is another hold"
            with theirs.exclusive("cnes@example.gov.br", FOLDER) as other_box:
                assert other_box.mine
        with theirs.exclusive(BOX, FOLDER) as now_mine:
            assert now_mine.mine, "released when the first let go"
    finally:
        other.dispose()


def test_a_hold_whose_connection_ends_says_so_and_frees_the_folder(postgres_url: str) -> None:
    """A server restart, an idle-session timeout: the advisory lock ends
    with its connection; the holder must learn it before its next drain
    (the poller then ends its session) while another process takes over."""
    import psycopg

    first, second = (Database(StorageConfig(url=postgres_url)) for _ in range(2))
    try:
        with ImapStateStore(first, _now).exclusive(BOX, FOLDER) as held:
            assert held.mine and held.still()
            with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as admin:
                database = postgres_url.rsplit("/", 1)[1]
                killed = admin.execute("SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_database d "
                                       "ON d.oid = l.database WHERE l.locktype = 'advisory' AND l.granted "
                                       "AND d.datname = %s", (database,)).fetchall()
            assert killed == [(True,)]
            assert not held.still()
            with ImapStateStore(second, _now).exclusive(BOX, FOLDER) as taken:
                assert taken.mine, "the folder is free for another process"
    finally:
        first.dispose()
        second.dispose()
