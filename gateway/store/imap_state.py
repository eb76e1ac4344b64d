"""Where each IMAP poller stands: UIDVALIDITY and the last acknowledged UID.

The poller (``gateway.transports.imap``) never imports the store; the app
hands it an ``ImapStateStore``, which fits the poller's ``FolderState``
protocol.  The row is written only after the mails up to ``last_uid`` were
committed *and* moved or flagged on the server, so a crash anywhere leaves
at worst a mail that is fetched again, and the pipeline's de-duplication
makes that second acceptance a no-op.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import text

from gateway.store.db import Database
from gateway.store.models import ImapStateRow


class ImapStateStore:
    """``FolderState`` on the gateway's database."""

    def __init__(self, db: Database, now: Callable[[], datetime]) -> None:
        self._db, self._now = db, now

    def load(self, mailbox: str, folder: str) -> tuple[str, int, int] | None:
        """(account, uidvalidity, last_uid) recorded for this folder, if any."""
        with self._db.transaction() as tx:
            row = tx.get(ImapStateRow, (mailbox, folder))
            return None if row is None else (row.account, row.uidvalidity, row.last_uid)

    def save(self, mailbox: str, folder: str, *, account: str, uidvalidity: int, last_uid: int) -> None:
        with self._db.transaction() as tx:
            row = tx.get(ImapStateRow, (mailbox, folder))
            if row is None:
                tx.add(ImapStateRow(mailbox=mailbox, folder=folder, account=account, uidvalidity=uidvalidity,
                                    last_uid=last_uid, updated_at=self._now()))
                return
            row.account, row.uidvalidity, row.last_uid, row.updated_at = account, uidvalidity, last_uid, self._now()

    @contextmanager
    def exclusive(self, mailbox: str, folder: str) -> Iterator[bool]:
        """Whether this process may poll ``mailbox``'s ``folder`` now: held
        for as long as the ``with`` lasts, False while another process holds
        it (an overlapping cron ``poll --once``, another node's ``gateway
        run``).  Two sessions on one folder each fetched and moved the same
        mails: copies in the processed folder, placeholders quarantined for
        mails the other had just taken.  PostgreSQL: a session advisory lock
        on a connection kept for the ``with``; SQLite: ``flock`` on a file
        beside the database, released when the process dies, however."""
        key = hashlib.sha256(f"gateway imap\0{mailbox}\0{folder}".encode()).digest()
        if self._db.is_postgres:
            number = int.from_bytes(key[:8], "big", signed=True)
            with self._db.engine.connect() as connection:
                mine = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": number}).scalar())
                connection.commit()
                try:
                    yield mine
                finally:
                    if mine:
                        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": number})
                        connection.commit()
            return
        database = self._db.url.database
        if not database or database == ":memory:":
            yield True  # one process's own database
            return
        path = Path(f"{database}.imap-{key.hex()[:16]}.lock")
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(handle)  # releases the lock
