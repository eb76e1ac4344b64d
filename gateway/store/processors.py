"""Which processing workers are alive: each says when it last looked.

A worker (``gateway run`` with the ``process`` role) renews its row every
``EVERY`` seconds while it runs and deletes it when it stops.  ``gateway
ingest`` (``store.direct``) reads the newest: a worker seen within
``direct.ALIVE_WITHIN`` (three renewals) takes the mail the pipe just
stored, so the pipe does not load the pipeline to process one mail itself.
A worker killed without stopping leaves its row, which simply grows old.
Nodes' clocks are compared with the pipe's: they should agree to well
within that (NTP).
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Final

from sqlalchemy import delete

from gateway.store.db import Database
from gateway.store.direct import ALIVE_EVERY
from gateway.store.models import ProcessorRow

EVERY: Final = ALIVE_EVERY  # seconds between a worker's renewals (store.direct reads them)


def this_node() -> str:
    """``host:pid``: one row per worker process, several per host allowed."""
    return f"{socket.gethostname()[:200]}:{os.getpid()}"


def seen(db: Database, node: str, at: datetime) -> None:
    """Renew ``node``'s row, in a short transaction of its own."""
    with db.transaction() as tx:
        tx.merge(ProcessorRow(node=node, seen_at=at))


def gone(db: Database, node: str) -> None:
    """``node`` stopped: the pipe processes its mail itself again (unless another worker runs)."""
    with db.transaction() as tx:
        tx.execute(delete(ProcessorRow).where(ProcessorRow.node == node))
