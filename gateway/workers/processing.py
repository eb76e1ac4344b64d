"""The processing worker: runs the pipeline over accepted mails as they come.

Acceptance sets ``accepted`` after each commit; the worker clears it,
drains the backlog (``Ingest.drain``: oldest first, a group of mails per
transaction) and waits for the next acceptance, or ``interval`` seconds at
most, so mail another node accepted (PostgreSQL) does not wait for a mail
of this one.  It takes the backlog as a seam (:class:`Backlog`) rather
than importing ``Ingest``: the door sits above the workers, and calls
:func:`gateway.workers.groups.run_in_groups` for its processing.

A pass that fails (a storage error: the disk is full, the database is
down; the mails stay accepted) is tried again after a pause that doubles
up to ``_MAX_PAUSE``, so a full disk is not hammered, and the first pass
that succeeds brings the pause back to its start.  ``stop`` (SIGTERM) ends
the pass between groups: the group in hand is finished, the rest waits for
the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final, Protocol

from gateway.errors import StorageUnavailable

log = logging.getLogger("gateway.processing")

_FIRST_PAUSE: Final = 0.5
_MAX_PAUSE: Final = 30.0


class Backlog(Protocol):
    """What the worker needs of ``Ingest``."""

    @property
    def accepted(self) -> threading.Event:
        """Set after each commit of accepted mail."""
        ...

    def drain(self, limit: int | None = None, stop: threading.Event | None = None) -> int:
        """Process every accepted mail (until ``stop`` is set); how many were."""
        ...


def process_loop(backlog: Backlog, stop: threading.Event, interval: float, *,
                 alive: Callable[[], None] | None = None, alive_every: float = 0.0) -> None:
    """Run until ``stop`` is set, draining at each acceptance or ``interval``.

    ``alive`` is called after a pass that succeeded, every ``alive_every``
    seconds (the loop looks at least that often): it tells others (the
    MTA pipe) that this worker takes the mail they store.  It is never
    called after a failed pass: a worker that cannot reach the database
    takes nothing."""
    wait = min(interval, alive_every) if alive is not None and alive_every > 0 else interval
    pause = _FIRST_PAUSE
    said = float("-inf")
    while not stop.is_set():
        backlog.accepted.clear()
        try:
            backlog.drain(stop=stop)
        except Exception as error:  # the database went away or is full: keep the worker alive
            log.error("processing pass failed (%s: %s); the mails stay accepted, trying again in %.1f s",
                      type(error).__name__, error, pause, exc_info=not isinstance(error, StorageUnavailable))
            stop.wait(pause)  # not woken by acceptances: a full disk is not hammered
            pause = min(pause * 2, _MAX_PAUSE)
            continue
        pause = _FIRST_PAUSE
        if alive is not None and not stop.is_set() and time.monotonic() - said >= alive_every:
            said = say_alive(alive, said)
        backlog.accepted.wait(wait)


def say_alive(alive: Callable[[], None], said: float) -> float:
    """When ``alive`` last succeeded: a failure (the database busy) is
    logged and tried again after the next pass, never stops processing."""
    try:
        alive()
    except Exception as error:  # noqa: BLE001 - the pipe then has its mail processed elsewhere: slower, never lost
        log.warning("could not record this processing worker as alive (%s: %s)", type(error).__name__, error)
        return said
    return time.monotonic()
