"""Two nodes clearing one dead address at once (its owner wrote twice, and
two workers took the mails): both transactions succeed, one of them finds
the mark gone.  An ORM delete of the vanished row would have failed the
second worker's whole group of mails."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from gateway.store import bounces
from gateway.store.db import Database

AT = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
ADDRESS = "ana@example.org"


def test_two_transactions_clearing_one_mark_both_succeed(db: Database) -> None:
    with db.transaction() as tx:
        bounces.mark(tx, ADDRESS, at=AT, status="5.1.1", reason="userunknown", diagnostic="", outbox_id=None)
    results: list[bool] = []
    second_done = threading.Event()

    def second() -> None:
        with db.transaction() as tx:  # waits for the first one's row lock (PostgreSQL) or write lock (SQLite)
            results.append(bounces.clear(tx, ADDRESS))
        second_done.set()

    with db.transaction() as tx:
        results.append(bounces.clear(tx, ADDRESS))
        thread = threading.Thread(target=second, daemon=True)
        thread.start()
        assert not second_done.wait(0.3), "the second clear must wait for the first transaction"
    thread.join(timeout=30)
    assert second_done.is_set(), "the second transaction did not finish"
    assert results == [True, False]
    with db.reading() as tx:
        assert bounces.mark_of(tx, ADDRESS) is None
