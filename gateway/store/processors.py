"""Which processing workers are alive: each says when it last looked.

A worker (``gateway run`` with the ``process`` role, or ``gateway process``
while it drains) renews its row every ``direct.ALIVE_EVERY`` seconds while
it runs and deletes it when it stops.  ``gateway ingest``
(``store.direct.DirectInbox.processor_alive``), once it has stored a mail,
asks whether any row was renewed within ``direct.ALIVE_WITHIN`` (three
renewals): then that worker takes the mail, and the pipe starts no
``gateway process`` of its own.  Both sides read the database's
clock, so a node whose clock is off cannot keep a pipe from having its mail processed; a
worker killed without stopping leaves its row, which simply grows old and
is deleted by the next worker's renewal a day later.

Two marks share the table (``!`` rows, never counted as workers): a pipe
that starts ``gateway process`` sets ``STARTING`` first, so that the pipes
of a burst do not start one each before it has registered; a process that
cannot start (a broken rule file) sets ``NOT_READY``, so that the next
pipes take the full path, which names the file and answers 75.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final

from sqlalchemy import text

from gateway.store.db import Database, Transaction
from gateway.store.direct import ALIVE_WITHIN, NOT_READY, SQLITE_NOW, STARTING
from gateway.store.utc import as_utc, from_sqlite_text

# The database's now, as each dialect stores a UtcDateTime; a day ago; the
# last instant a worker renewed within ALIVE_WITHIN seconds counts as alive.
_NOW: Final = {"sqlite": SQLITE_NOW, "postgresql": "now()"}
_DAY_AGO: Final = {"sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 day')", "postgresql": "now() - interval '1 day'"}
_ALIVE_SINCE: Final = {"sqlite": f"strftime('%Y-%m-%d %H:%M:%f', 'now', '-{ALIVE_WITHIN:g} seconds')",
                       "postgresql": f"now() - interval '{ALIVE_WITHIN:g} seconds'"}


def this_node() -> str:
    """``host:pid``: one row per worker process, several per host allowed."""
    return f"{socket.gethostname()[:200]}:{os.getpid()}"


def seen(db: Database, node: str) -> None:
    """Renew ``node``'s row, in a short transaction of its own, and forget
    rows a day old (workers killed without stopping).  A worker that runs
    also lifts the marks: the process a pipe started has started
    (``STARTING``), and processing can start (``NOT_READY``)."""
    with db.transaction() as tx:
        _renew(tx, db, node)
        tx.execute(text(f"DELETE FROM processor WHERE seen_at < {_DAY_AGO[_dialect(db)]} OR node IN (:a, :b)"),
                   {"a": STARTING, "b": NOT_READY})


def not_ready(db: Database) -> None:
    """The process a pipe started could not start (a broken rule file): the
    next pipes take the full path, which names the file and answers 75,
    until a worker renews its row (:func:`seen`) or a pipe's full path
    starts a gateway (:func:`ready`)."""
    with db.transaction() as tx:
        _renew(tx, db, NOT_READY)
        tx.execute(text("DELETE FROM processor WHERE node = :node"), {"node": STARTING})


def _renew(tx: Transaction, db: Database, node: str) -> None:
    tx.execute(text(f"INSERT INTO processor (node, seen_at) VALUES (:node, {_NOW[_dialect(db)]}) "
                    "ON CONFLICT (node) DO UPDATE SET seen_at = excluded.seen_at"), {"node": node})


def _dialect(db: Database) -> str:
    return "sqlite" if db.is_sqlite else "postgresql"


def ready(db: Database) -> None:
    """A pipe's full path started a gateway with these settings: pipes may take the quick path again."""
    with db.transaction() as tx:
        tx.execute(text("DELETE FROM processor WHERE node = :node"), {"node": NOT_READY})


def gone(db: Database, node: str) -> None:
    """``node`` stopped: pipes have their mail processed elsewhere again
    (unless another worker runs).  A ``STARTING`` mark goes too: a process
    that could not register (the database busy) must not leave the pipes
    believing one is on its way."""
    with db.transaction() as tx:
        tx.execute(text("DELETE FROM processor WHERE node IN (:node, :starting)"),
                   {"node": node, "starting": STARTING})


@dataclass(frozen=True)
class Backlog:
    """What ``gateway db status`` says of processing: mail waiting for a
    worker, the workers alive, and the pipes' marks (times as the database
    stored them, UTC)."""

    waiting: int
    oldest: datetime | None
    workers: int
    not_ready_since: datetime | None
    starting_since: datetime | None


def backlog(db: Database) -> Backlog:
    """Read in one transaction; workers alive: renewed within
    ``ALIVE_WITHIN`` seconds by the database's clock (the pipe also ignores
    rows dated ahead of it; this does not)."""
    with db.reading() as tx:
        waiting, oldest = tx.execute(text("SELECT count(*), min(received_at) FROM inbox "
                                          "WHERE status = 'accepted'")).one()
        workers = tx.execute(text(f"SELECT count(*) FROM processor WHERE node NOT LIKE '!%' "
                                  f"AND seen_at > {_ALIVE_SINCE[_dialect(db)]}")).scalar_one()
        marks = dict(tx.execute(text("SELECT node, seen_at FROM processor WHERE node IN (:a, :b)"),
                                {"a": STARTING, "b": NOT_READY}).all())
    return Backlog(waiting=int(waiting), oldest=_instant(oldest), workers=int(workers),
                   not_ready_since=_instant(marks.get(NOT_READY)), starting_since=_instant(marks.get(STARTING)))


def _instant(value: object) -> datetime | None:
    """A timestamp as either database hands it back in a text query: UTC, aware."""
    if isinstance(value, str):
        return from_sqlite_text(value)
    if isinstance(value, datetime):  # PostgreSQL's timestamptz: aware; naive would be UTC, as stored
        return as_utc(value) if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    return None
