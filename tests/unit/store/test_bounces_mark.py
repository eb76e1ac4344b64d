"""store.bounces.mark_of reads an address's mark without flushing the
transaction, and still sees what this transaction did to it."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from gateway.config import StorageConfig
from gateway.store import bounces, schema
from gateway.store.db import Database

AT = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


def test_a_mark_is_read_from_the_table_and_from_this_transactions_own_changes(tmp_path: Path) -> None:
    db = Database(StorageConfig(url=f"sqlite:///{tmp_path / 'g.db'}"))
    schema.prepare(db)
    try:
        with db.transaction() as tx:
            bounces.mark(tx, "morto@example.org", at=AT, status="5.1.1", reason="user_unknown", diagnostic="",
                         outbox_id=None)
            assert bounces.mark_of(tx, "morto@example.org") == ("5.1.1", "user_unknown", AT), "added, not flushed"
            assert bounces.mark_of(tx, "vivo@example.org") is None
        with db.transaction() as tx:
            assert bounces.mark_of(tx, "morto@example.org") == ("5.1.1", "user_unknown", AT), "from the table"
            bounces.mark(tx, "morto@example.org", at=AT, status="5.2.2", reason="mailbox_full", diagnostic="",
                         outbox_id=None)
            assert bounces.mark_of(tx, "morto@example.org").reason == "mailbox_full", "changed, not flushed"
            assert bounces.clear(tx, "morto@example.org")
            assert bounces.mark_of(tx, "morto@example.org") is None, "cleared, not flushed"
    finally:
        db.dispose()
