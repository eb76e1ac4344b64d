"""The processing worker: runs the pipeline over accepted mails as they come.

Acceptance sets ``accepted`` after each commit; the worker clears it,
drains the backlog (``Ingest.drain``: oldest first, a group of mails per
transaction) and waits for the next acceptance, or ``interval`` seconds at
most, so mail another node accepted (PostgreSQL) does not wait for a mail
of this one.  It takes the backlog as a seam (:class:`Backlog`) rather
than importing ``Ingest``: the door sits above the workers, and calls
:func:`gateway.workers.groups.run_in_groups` for its processing.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

log = logging.getLogger("gateway.processing")


class Backlog(Protocol):
    """What the worker needs of ``Ingest``."""

    @property
    def accepted(self) -> threading.Event:
        """Set after each commit of accepted mail."""
        ...

    def drain(self, limit: int | None = None) -> int:
        """Process every accepted mail; how many were."""
        ...


def process_loop(backlog: Backlog, stop: threading.Event, interval: float) -> None:
    """Run until ``stop`` is set, draining at each acceptance or ``interval``."""
    while not stop.is_set():
        backlog.accepted.clear()
        try:
            backlog.drain()
        except Exception:  # the database went away: keep the worker alive
            log.exception("processing pass failed; trying again shortly")
        backlog.accepted.wait(interval)
