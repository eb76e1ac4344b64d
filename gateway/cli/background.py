"""The MTA pipe's background ``gateway process``: started when no worker runs.

``gateway ingest`` stores the mail through the database's driver and exits
(``cli.mail``); the pipeline, which takes ~1.5 s to import, runs here, in
one process for a whole burst of pipes (``store.processors``: the start is
claimed in the database).  This module is imported by the pipe, so it
imports nothing heavy until a function needs it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Final

import click

from gateway.cli.common import EX_TEMPFAIL, settings_of
from gateway.cli.signals import stop_on_termination
from gateway.errors import ConfigError

log = logging.getLogger("gateway.pipe")

# Beside the rejected/ folder: the process's stderr (warnings and errors, and
# whatever kills it before it can log), set aside as process.log.1 past the size.
PROCESS_LOG: Final = "process.log"
_LOG_BYTES: Final = 1024 * 1024
CLAIMED_BY_ANOTHER: Final = "a gateway process another pipe started takes it"


def hand_over(config: str, folder: Path, settings: Any, *, claimed: bool) -> str:
    """What becomes of a stored mail no worker takes, for the pipe's line:
    ``gateway process`` started in the background if this pipe ``claimed``
    the start, else left to the one another pipe started; when no process
    can be started (fork fails), processed by this pipe itself, as
    ``gateway process`` would.  The mail is committed: nothing here changes
    the pipe's exit 0."""
    if not claimed:
        return CLAIMED_BY_ANOTHER
    pid = _start(config, folder)
    if pid is not None:
        return f"no processing worker runs: `gateway process` started in the background (pid {pid})"
    return _process(settings, leave_waiting=True) or "processed here"


def _start(config: str, folder: Path) -> int | None:
    """``gateway process --from-pipe FOLDER`` in a session of its own: the
    MTA does not wait for it, and its standard streams are not the MTA's
    (Postfix would wait for their end).  Its pid, or ``None`` (said on
    stderr) when it could not be started."""
    import subprocess

    command = [*_this_command(), "--config", str(Path(config).resolve()), "process", "--from-pipe",
               str(folder.resolve())]
    try:  # its stderr: what it logs, and what kills it before it can log (a settings error, an import)
        folder.mkdir(parents=True, exist_ok=True)  # [storage] pipe_folder may not exist yet
        stderr: Any = open(folder / PROCESS_LOG, "ab")
    except OSError as error:  # the process matters more than its log
        click.echo(f"gateway ingest: cannot write {folder / PROCESS_LOG} ({error}); "
                   "the background gateway process logs nothing", err=True)
        stderr = subprocess.DEVNULL
    try:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                start_new_session=True, close_fds=True).pid
    except OSError as error:
        click.echo(f"gateway ingest: could not start `gateway process` ({error})", err=True)
        return None
    finally:
        if stderr is not subprocess.DEVNULL:
            stderr.close()


def _this_command() -> list[str]:
    """How this process was started: the ``gateway`` script (a venv's, or a
    launcher that sets up its own path) through this interpreter,
    ``python -m gateway``, or one frozen binary.  Interpreter options
    (``-I``, ``-X``) are not carried over."""
    if getattr(sys, "frozen", False):  # one binary (PyInstaller): it is the command
        return [sys.executable]
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is None or script.name == "__main__.py" or not script.is_file():
        return [sys.executable, "-m", "gateway"]
    return [sys.executable, str(script.resolve())]


def process_for_the_pipe(ctx: click.Context, folder: Path) -> None:
    """``gateway process --from-pipe FOLDER``: what :func:`_start` runs.
    Warnings and errors only (its log is a file nobody rotates); SIGTERM
    ends it between groups (``cli.signals``)."""
    _keep_log_small(folder / PROCESS_LOG)
    settings = settings_of(ctx)
    if not ctx.obj.get("verbose"):  # the log holds what needs a person, not a line per mail
        logging.getLogger().setLevel(max(logging.getLogger().level, logging.WARNING))
    failure = _process(settings, leave_waiting=False)
    if failure is not None:
        log.error("%s", failure)
        sys.exit(EX_TEMPFAIL)


def _process(settings: Any, *, leave_waiting: bool) -> str | None:
    """``Gateway.process_backlog`` (registered as a worker, which lifts the
    start claim, and looking again before it leaves), then what is due in
    the outbox sent.  A broken rule file marks the pipes not ready
    (``store.processors.not_ready``): the next ones take the full path and
    answer 75 naming it, until a worker runs or a pipe's full path starts;
    the mails that came before wait in the inbox.  Returns ``None``, or
    why nothing was processed, for a line or the log; ``leave_waiting``: a
    failure of processing itself is said, not raised (the pipe's exit 0
    stands)."""
    from gateway.app import Gateway

    try:
        gateway = Gateway(settings)
    except ConfigError as error:
        _mark_not_ready(settings)
        return f"not processed ({error}); pipes answer 75 until it is fixed, the mail waits in the inbox"
    except Exception as error:  # noqa: BLE001 - the database gone: the mail waits
        return f"not processed ({type(error).__name__}: {error}); the mail waits in the inbox"
    stop_on_termination(gateway.stopping)
    try:
        if gateway.process_backlog():
            _send_what_is_due(gateway)
    except Exception as error:
        if not leave_waiting:
            raise
        return f"stored, but processing failed ({type(error).__name__}: {error}); the mail waits in the inbox"
    finally:
        gateway.close()
    return None


def _send_what_is_due(gateway: Any) -> None:
    """The acknowledgements just queued, sent now: no gateway runs here (a
    pipe started this process), so nothing else would send them before
    cron's ``gateway send``, and the citizen waits for a protocol number.
    A sender running elsewhere is no harm: each row is claimed by one."""
    try:
        gateway.sender.run_once(stop=gateway.stopping)
    except Exception as error:  # noqa: BLE001 - the rows stay queued for the next sender; processing is done
        log.warning("processed, but sending failed (%s: %s); the mails stay queued", type(error).__name__, error)


def _mark_not_ready(settings: Any) -> None:
    from gateway.store import processors
    from gateway.store.db import Database

    database = Database(settings.storage)
    try:
        processors.not_ready(database)
    except Exception as unmarked:  # noqa: BLE001 - then the next pipe starts a process that fails alike
        log.error("could not tell the pipes to take the full path (%s: %s)", type(unmarked).__name__, unmarked)
    finally:
        database.dispose()


def _keep_log_small(path: Path) -> None:
    """``process.log`` (the stderr of each process the pipes start, appended
    to) renamed to ``process.log.1`` once over ``_LOG_BYTES``: two files at
    most, whatever the processes write at once (a rename is atomic; a
    process goes on writing to the file it opened)."""
    try:
        if path.stat().st_size > _LOG_BYTES:
            path.replace(path.with_name(path.name + ".1"))
    except OSError:  # gone, or not ours to rename: the log is not worth a failure
        pass
