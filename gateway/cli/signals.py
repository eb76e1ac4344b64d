"""SIGHUP while ``gateway run`` starts: recorded, never fatal.

Python's default for SIGHUP ends the process, and ``gateway run`` spends
its first second importing, opening the database and reading the rules
before its event loop takes the signal over: an operator's (or systemd's
``ExecReload``) reload in that window killed the gateway, silently.  So
the ``gateway`` command installs :func:`hold_hangups` before its heavy
imports, when it is about to run the gateway; a SIGHUP that arrives then
is recorded, and ``Gateway.serve`` reloads the rules once ready if one came
after they were read (:func:`take_hangup`).  Other commands keep the
default: a terminal that closes still ends them.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

_hangup = threading.Event()


def _record(_signum: int, _frame: FrameType | None) -> None:
    _hangup.set()


def hold_hangups(argv: list[str] | None = None) -> None:
    """Record SIGHUP instead of dying, if ``argv`` (default ``sys.argv``) runs
    the gateway (``run``, or ``poll`` without ``--once``: they serve until
    stopped).  Idempotent; only from the main thread; an ignored SIGHUP
    (``nohup``) stays ignored."""
    args = sys.argv[1:] if argv is None else argv
    serving = "run" in args or ("poll" in args and "--once" not in args)
    if not serving or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
        return
    signal.signal(signal.SIGHUP, _record)


def take_hangup() -> bool:
    """Whether a SIGHUP arrived since the last call (and forget it)."""
    came = _hangup.is_set()
    _hangup.clear()
    return came


def stop_on_termination(stopping: threading.Event) -> None:
    """SIGTERM sets ``stopping``: a one-shot command (``gateway process``)
    ends between groups and leaves the living, instead of dying with its
    row still saying it takes the pipes' mail.  The pipe's background
    process gets it too when the MTA's unit stops (systemd stops the whole
    control group)."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.set())
