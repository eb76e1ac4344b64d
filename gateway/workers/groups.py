"""One transaction per group of items; a failing group redone one item at a time.

Processing accepted mails and acting on due tickets share this: with a
backlog, a commit (an fsync on SQLite) and a transaction's set-up are a
large share of each item's cost, so items share a transaction by groups.
The guarantees stay those of one transaction per item: a crash before the
commit leaves the whole group to do again, and an item that raises (or a
deadlock, a lost connection) rolls its group back, after which each item
of the group runs alone, so only the faulty one is quarantined or left for
later.  Failures are rare; a savepoint per item, paid on every item to
spare that redo, costs more (two more statements each).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def run_in_groups(items: Sequence[Item], size: int, *, together: Callable[[Sequence[Item]], Sequence[Result]],
                  alone: Callable[[Item], Result], log: logging.Logger, what: str,
                  redo: str) -> Iterator[Result]:
    """Run ``items`` a group of ``size`` at a time, yielding results as groups finish.

    ``together(group)`` does a group of two or more in one transaction and
    returns its results; if it raises, the group was rolled back, the
    fallback is logged on ``log`` as "a group of N {what} was rolled back
    (...); {redo} one by one", and ``alone(item)`` runs for each item of
    the group.  A group of one goes straight to ``alone``, which handles
    its own failure (quarantines the mail, leaves the ticket due)::

        for result in run_in_groups(ids, 32, together=process_group, alone=process_one,
                                    log=log, what="mails", redo="processing them"):
            ...
    """
    size = max(1, size)
    for start in range(0, len(items), size):
        group = items[start:start + size]
        if len(group) == 1:
            yield alone(group[0])
            continue
        try:
            results = together(group)
        except Exception as error:
            log.warning("a group of %d %s was rolled back (%s: %s); %s one by one",
                        len(group), what, type(error).__name__, error, redo)
            results = [alone(item) for item in group]
        yield from results
