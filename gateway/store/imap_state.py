"""Where each IMAP poller stands: UIDVALIDITY and the last acknowledged UID.

The poller (``gateway.transports.imap``) never imports the store; the app
hands it an ``ImapStateStore``, which fits the poller's ``FolderState``
protocol.  The row is written only after the mails up to ``last_uid`` were
committed *and* moved or flagged on the server, so a crash anywhere leaves
at worst a mail that is fetched again, and the pipeline's de-duplication
makes that second acceptance a no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

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
