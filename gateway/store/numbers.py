"""Protocol numbers on PostgreSQL: blocks reserved in a short transaction of their own.

The protocol sequence is one row per prefix and year (``protocol_sequence``).
Bumping it inside the processing group's transaction held that row's lock
until the group committed, 32 mails later, so two ``run --only process``
workers on one PostgreSQL took turns (41% of backend samples waiting on
``Lock:transactionid``, issue 19).  Here a process reserves a block of
numbers with one upsert on a connection of its own, commits at once, and
hands the block out to its transactions: the row is locked for one short
statement, never across a group.

What this gives up: a number taken by a transaction that rolls back is not
given back, and a process that stops (or is killed) loses the rest of its
block, so the numbers have gaps.  Duplicates and reuse cannot happen: a
block is committed before any of its numbers is used, and the row only
grows.  To keep the gaps small on a quiet desk, a key's first block is one
number and a block twice the last only when the last ran out quickly
(up to ``MAX_BLOCK``).

SQLite keeps the upsert in the mail's own transaction (store.tickets): it
has one writer at a time anyway, and there the sequence has no gaps.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Final

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine

from gateway.store.models import SequenceRow

MAX_BLOCK: Final = 64
#: A block that ran out within this many seconds of being reserved is
#: followed by one twice its size; a slower one by a block of one.
QUICK_SECONDS: Final = 10.0

_SEQUENCE: Table = SequenceRow.__table__  # type: ignore[assignment]
_RESERVE = (postgresql.insert(_SEQUENCE)
            .values(prefix=bindparam("prefix"), year=bindparam("year"), last=bindparam("count"))
            .on_conflict_do_update(index_elements=[_SEQUENCE.c.prefix, _SEQUENCE.c.year],
                                   set_={"last": _SEQUENCE.c.last + bindparam("count")})
            .returning(_SEQUENCE.c.last))


class _Block:
    """The numbers ``next``..``last`` of one key, not handed out yet."""

    __slots__ = ("next", "last", "size", "reserved_at")

    def __init__(self) -> None:
        self.next, self.last, self.size, self.reserved_at = 1, 0, 0, 0.0


class NumberBlocks:
    """One process's blocks of protocol numbers, per (prefix, year), for one engine."""

    def __init__(self, engine: Engine, *, max_block: int = MAX_BLOCK) -> None:
        self._engine, self._max_block = engine, max(1, max_block)
        self._lock = threading.Lock()  # the threads of one process share the blocks
        self._blocks: dict[tuple[str, int], _Block] = {}

    def take(self, prefix: str, year: int) -> int:
        """A number for ``prefix`` in ``year`` no other transaction, process
        or node was or will be given."""
        with self._lock:
            block = self._blocks.setdefault((prefix, year), _Block())
            if block.next > block.last:
                self._reserve(block, prefix, year)
            number = block.next
            block.next += 1
            return number

    def _reserve(self, block: _Block, prefix: str, year: int) -> None:
        now = time.monotonic()
        quick = block.size > 0 and now - block.reserved_at < QUICK_SECONDS
        size = min(self._max_block, block.size * 2) if quick else 1
        # Its own connection and transaction, committed before any number
        # of the block is used: the caller's transaction may roll back or
        # die, the block stays reserved.
        with self._engine.begin() as connection:
            last = int(connection.execute(_RESERVE, {"prefix": prefix, "year": year, "count": size}).scalar_one())
        block.next, block.last, block.size, block.reserved_at = last - size + 1, last, size, now


_BY_ENGINE: weakref.WeakKeyDictionary[Engine, NumberBlocks] = weakref.WeakKeyDictionary()
_BY_ENGINE_LOCK = threading.Lock()


def blocks_for(engine: Engine) -> NumberBlocks:
    """The blocks of ``engine``'s process: one per engine, so that every
    transaction of a node draws from the same blocks, and they go with it."""
    with _BY_ENGINE_LOCK:
        found = _BY_ENGINE.get(engine)
        if found is None:
            found = _BY_ENGINE[engine] = NumberBlocks(engine)
        return found
