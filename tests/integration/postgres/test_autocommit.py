"""``Database.autocommit``: the sender's one-statement writes, on SQLite and
PostgreSQL.

Each write is committed when ``execute`` returns (another connection reads
it at once, and a crash after it cannot undo it); the connection goes back
to the pool as it came (a transaction taken from the pool afterwards rolls
back as a transaction, not statement by statement); a statement that
raises leaves nothing half-held, and the next one works.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import bindparam, select, update

from gateway.store import outbox
from gateway.store.compiled import Compiled
from gateway.store.db import Database
from gateway.store.models import OutboxRow

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
_TABLE = OutboxRow.__table__
# An UPDATE that fails in the database (a NOT NULL column set to NULL).
_BREAK = Compiled(update(_TABLE).where(_TABLE.c.id == bindparam("row_id")).values(kind=None))


def _queue(db: Database, count: int) -> list[int]:
    with db.transaction() as tx:
        for i in range(count):
            outbox.add(tx, ticket_id=None, kind="ack", message_id=f"<a{i}@example.gov.br>",
                       mail_from="atendimento@example.gov.br", rcpt_tos=[f"pessoa{i}@example.org"],
                       raw=b"Subject: x\r\n\r\nx\r\n", at=NOW)
    with db.reading() as tx:
        return list(tx.scalars(select(OutboxRow.id).order_by(OutboxRow.id)))


def _status(db: Database, row_id: int) -> str:
    with db.reading() as tx:
        return tx.scalar(select(OutboxRow.status).where(OutboxRow.id == row_id))


def _settle(writes: object, row_id: int) -> None:
    outbox.settle(writes, row_id, status="sent", results={"x@example.org": "sent"},  # type: ignore[arg-type]
                  last_error=None, at=NOW)


def test_each_write_is_committed_when_it_returns(db: Database) -> None:
    first, second = _queue(db, 2)
    with db.autocommit() as writes:
        _settle(writes, first)
        # Read on another connection while this one is still held: committed already.
        assert _status(db, first) == "sent"
        assert _status(db, second) == "queued"
        _settle(writes, second)
        assert _status(db, second) == "sent"


def test_the_connection_goes_back_to_the_pool_as_it_came(db: Database) -> None:
    (row_id,) = _queue(db, 1)
    with db.autocommit() as writes:
        _settle(writes, row_id)
    # The pool hands the same connection out again: a transaction on it must
    # still be one (all or nothing), not autocommitted statement by statement.
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.execute(update(OutboxRow).where(OutboxRow.id == row_id).values(status="queued"))
        raise RuntimeError("the transaction fails after its UPDATE")
    assert _status(db, row_id) == "sent"


def test_a_failed_statement_leaves_the_next_one_working(db: Database) -> None:
    first, second = _queue(db, 2)
    writes = db.autocommit()
    try:
        with pytest.raises(Exception) as raised:
            writes.execute(_BREAK, {"row_id": first})
        assert "null" in str(raised.value).lower()
        _settle(writes, second)
    finally:
        writes.close()
    assert _status(db, first) == "queued"
    assert _status(db, second) == "sent"
    with db.transaction() as tx:  # nothing left locked or open: the pool's connections still write
        tx.execute(update(OutboxRow).where(OutboxRow.id == first).values(status="failed"))
    assert _status(db, first) == "failed"


def test_a_connection_the_server_dropped_is_replaced(postgres_url: str) -> None:
    """PostgreSQL restarted, or an admin (or a pooler's idle timeout) ended
    the session during a long pass: the write is run once more on a fresh
    connection (an UPDATE by id may run twice), and nothing fails."""
    import psycopg

    from gateway.config import StorageConfig

    db = Database(StorageConfig(url=postgres_url))
    db.migrate()
    try:
        first, second = _queue(db, 2)
        with db.autocommit() as writes:
            _settle(writes, first)
            pid = writes._connection.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
            with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            _settle(writes, second)
            assert writes._connection.connection.dbapi_connection.info.backend_pid != pid  # type: ignore[union-attr]
        assert _status(db, second) == "sent"
    finally:
        db.dispose()
