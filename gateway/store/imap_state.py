"""Where each IMAP poller stands: UIDVALIDITY and the last acknowledged UID.

The poller (``gateway.transports.imap``) never imports the store; the app
hands it an ``ImapStateStore``, which fits the poller's ``FolderState``
protocol.  The row is written only after the mails up to ``last_uid`` were
committed *and* moved or flagged on the server, so a crash anywhere leaves
at worst a mail that is fetched again, and the pipeline's de-duplication
makes that second acceptance a no-op.  Two exceptions, both on purpose:
on first sight the position jumps to the folder's top past the old mail
left there (``max_age_days``), and a move that found mails already taken
by another session leaves them to the next, full, look.

``exclusive`` is the hold that keeps one session per folder across
processes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Final

from gateway.errors import ImapSetupError
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
    def exclusive(self, mailbox: str, folder: str) -> Iterator[FolderHold]:
        """Whether this process may poll ``mailbox``'s ``folder`` now: held
        for as long as the ``with`` lasts, not ``mine`` while another
        process holds it (an overlapping cron ``poll --once``, another
        node's ``gateway run``).  Two sessions on one folder each fetched and
        moved the same mails: copies in the processed folder, placeholders
        quarantined for mails the other had just taken.

        PostgreSQL: a session advisory lock on a connection of its own,
        outside the pool (a poller holds it for hours) and with TCP
        keepalives, so a node that vanished lets go within a minute or two,
        not the kernel's two hours; ``still()`` tells whether that
        connection, and so the lock, is still there (a server restart, an
        idle timeout end it).  It needs a session-mode connection: behind
        pgbouncer in transaction mode the lock would outlive its holder.
        SQLite: ``flock`` on a file beside the database, released when the
        process ends, however."""
        key = hashlib.sha256(f"gateway imap\0{mailbox}\0{folder}".encode()).digest()
        if self._db.is_postgres:
            with _advisory(self._db, int.from_bytes(key[:8], "big", signed=True)) as hold:
                yield hold
            return
        database = self._db.url.database
        if not database or database == ":memory:":
            yield FolderHold(True)  # one process's own database
            return
        path = Path(f"{database}.imap-{key.hex()[:16]}.lock")
        try:
            handle = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)  # flock needs no write access
        except OSError as error:
            raise ImapSetupError(f"cannot open the lock file {path} ({error.strerror}): the gateway's user must "
                                 "be able to create and read files beside the database") from error
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield FolderHold(False)
                return
            yield FolderHold(True)
        finally:
            os.close(handle)  # releases the lock


class FolderHold:
    """``mine``: this process polls the folder; ``still()``: and it still holds it."""

    def __init__(self, mine: bool, still: Callable[[], bool] | None = None) -> None:
        self.mine = mine
        self._still = still

    def still(self) -> bool:
        return self.mine and (self._still is None or self._still())


# Dead peer found within ~idle + interval * count seconds (libpq's names).
_KEEPALIVES: Final = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


@contextmanager
def _advisory(db: Database, key: int) -> Iterator[FolderHold]:
    dialect = db.engine.dialect
    args, params = dialect.create_connect_args(db.engine.url)
    connection = dialect.loaded_dbapi.connect(*args, **{**params, **_KEEPALIVES, "autocommit": True})

    def alive() -> bool:
        try:
            connection.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - the connection, and the lock with it, is gone
            return False

    try:
        mine = bool(connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0])
        yield FolderHold(mine, alive)
    finally:
        try:
            connection.close()  # ends the session: the lock goes with it
        except Exception:  # noqa: BLE001 - already gone
            pass
