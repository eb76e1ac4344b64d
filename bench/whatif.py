"""Diagnosis only: run the gateway with the acceptance writer swapped.

Not the product, and nothing here is imported by it.  ``bench/ingest.py``
uses these to show where acceptance time goes: the same ``gateway run``
with the group-commit writer's insert done another way, same durability
(SQLite WAL, ``synchronous=FULL``, one ``BEGIN IMMEDIATE`` ... ``COMMIT``
per batch, ``250`` only after the commit).

    python bench/whatif.py core --config FILE run --only smtp
        inbox.add_accepted as one SQLAlchemy Core INSERT .. RETURNING
        (executemany) instead of ORM objects + flush
    python bench/whatif.py raw --config FILE run --only smtp
        Ingest._commit on a dedicated sqlite3 (DB-API) connection: no
        Session, no ORM, plain parameterised INSERTs
"""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import timezone
from typing import Any


def core() -> None:
    from sqlalchemy import insert

    from gateway.store import inbox
    from gateway.store.models import InboxRow

    table = InboxRow.__table__
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)

    def add_accepted(tx: Any, rows: Any) -> list[int]:
        return list(tx.execute(statement, [dict(status="accepted", **row) for row in rows]).scalars())

    inbox.add_accepted = add_accepted


def raw() -> None:
    from gateway import ingest
    from gateway.delivery import Receipt, ReceiptStatus

    sql = ("INSERT INTO inbox (received_at, via, peer, mail_from, rcpt_tos, authenticated_as, mailbox_hint, sha256,"
           " message_id, size, raw, status) VALUES (?,?,?,?,?,?,?,?,?,?,?,'accepted')")

    def _commit(self: Any, batch: Any) -> None:
        con = getattr(self, "_bench_raw", None)
        if con is None:
            con = self._bench_raw = sqlite3.connect(self.db.url.database, isolation_level=None,
                                                    check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=60000"):
                con.execute(f"PRAGMA {pragma}")
        ids = []
        try:
            con.execute("BEGIN IMMEDIATE")
            for delivery, _ in batch:
                r = ingest._row(delivery)
                at = r["received_at"].astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
                ids.append(con.execute(sql, (at, r["via"], r["peer"], r["mail_from"], json.dumps(r["rcpt_tos"]),
                                             r["authenticated_as"], r["mailbox_hint"], r["sha256"],
                                             r["message_id"], r["size"], r["raw"])).lastrowid)
            con.execute("COMMIT")
        except Exception as error:
            try:
                con.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            for _, future in batch:
                future.set_result(Receipt(ReceiptStatus.TEMPFAIL, reason=f"storage unavailable: {error}"))
            return
        self.accepted.set()
        for (_, future), inbox_id in zip(batch, ids):
            future.set_result(Receipt(ReceiptStatus.ACCEPTED, inbox_id=inbox_id))

    ingest.Ingest._commit = _commit


def main() -> None:
    variant = sys.argv.pop(1)
    {"core": core, "raw": raw}[variant]()
    from gateway.cli import main as gateway_main

    sys.argv[0] = "gateway"
    gateway_main()


if __name__ == "__main__":
    main()
