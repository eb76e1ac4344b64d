"""Commands that take one mail: the MTA's pipe, and explain (the pipe's background process: ``cli.background``)."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from gateway.cli import background
from gateway.cli.common import gateway_of, settings_of
from gateway.config import load_settings
from gateway.errors import ConfigError
from gateway.mail import verp

log = logging.getLogger("gateway.pipe")


@click.command()
@click.option("--mailbox", default=None, help="Service address the mail is for, when the envelope does not say.")
@click.option("--sender", default=None,
              help="Envelope sender (Postfix: ${sender}); default: the mbox From_ line's, if any.")
@click.option("--recipient", "recipient_options", multiple=True, help="Envelope recipient; may be repeated.")
@click.option("--no-process", is_flag=True, help="Only store; leave processing to a running gateway.")
@click.argument("recipient_args", nargs=-1, metavar="[--] [RECIPIENT]...")
@click.pass_context
def ingest(ctx: click.Context, mailbox: str | None, sender: str | None, recipient_options: tuple[str, ...],
           no_process: bool, recipient_args: tuple[str, ...]) -> None:
    """Read one mail on standard input (MTA pipe): exit 0 stored, 75 retry later
    (storage down, config file broken), 65 never acceptable (kept on disk),
    67 no recipient is ours, 78 no config given or --mailbox unknown.

    Needs a config (--config before `ingest`, or GATEWAY_CONFIG): a pipe
    started elsewhere must not fill a stray ./var/gateway.db.  Recipients
    come as arguments (Postfix: `-- ${recipient}`) and/or --recipient.
    On a database ready for it the mail is only stored, and left to a
    running gateway's processing worker, or to `gateway process` started
    in the background when none runs; otherwise it is processed here too.
    """
    stored: list[bool] = []  # set once the mail is committed
    try:
        _ingest(ctx, mailbox, sender, recipient_options, no_process, recipient_args, stored)
    except Exception as error:
        if not stored:
            raise  # the group answers 75 for an error of ours (gateway.cli.LazyGroup.invoke)
        # Stored: 0, or the MTA would deliver it again (a second copy).
        click.echo(f"gateway ingest: unexpected {type(error).__name__}: {error}; the mail is stored", err=True)
        sys.exit(0)


def _ingest(ctx: click.Context, mailbox: str | None, sender: str | None, recipient_options: tuple[str, ...],
            no_process: bool, recipient_args: tuple[str, ...], stored: list[bool]) -> None:
    from gateway.transports import pipe

    def fail(code: int, message: str) -> NoReturn:
        click.echo(f"gateway ingest: {message}", err=True)
        sys.exit(code)

    config = ctx.obj.get("config") or os.environ.get("GATEWAY_CONFIG")
    if not config:
        fail(pipe.EX_CONFIG, "no configuration: pass --config FILE before `ingest` (or set GATEWAY_CONFIG); "
                             "refusing to guess where the mail should be stored")
    try:
        settings = load_settings(config)
    except ConfigError as error:
        # 75, not 78: Postfix bounces on 78 (5.3.5), and a typo in the file
        # must not send every citizen a bounce; the mail waits in the queue.
        fail(pipe.EX_TEMPFAIL, f"configuration error (the MTA keeps the mail; fix and flush): {error}")
    recipients = (*recipient_options, *recipient_args)
    if mailbox and settings.mailbox_for(mailbox) is None:
        fail(pipe.EX_CONFIG, f"--mailbox {mailbox}: no such mailbox in {settings.source}")
    domains = {m.domain for m in settings.mailboxes}
    if recipients and not any(settings.mailbox_for(r) or settings.is_postmaster(r)
                              or verp.is_return_path(r, domains) for r in recipients):
        fail(pipe.EX_NOUSER, f"none of {', '.join(recipients)} is a mailbox in {settings.source}; "
                             "regenerate the MTA's maps with `gateway mta-config postfix`")
    envelope = {"mailbox": mailbox, "sender": sender, "recipients": recipients}
    _store_for_a_worker(settings, fail, envelope, no_process=no_process, config=config, stored=stored)
    gateway = _open_gateway(settings, fail)
    try:
        code, message = _piped(gateway.ingest, gateway.clock, settings, settings.storage.pipe_place() / "rejected",
                               envelope)
        if code == pipe.EX_OK:
            stored.append(True)
        if code == pipe.EX_OK and not no_process:
            _process_now(gateway)
    finally:
        try:
            gateway.close()
        except Exception as error:  # noqa: BLE001 - the answer stands: a stored mail is stored
            click.echo(f"gateway ingest: closing failed ({type(error).__name__}: {error})", err=True)
    _exit(code, message)


def _piped(door: Any, clock: Any, settings: Any, rejects: Path, envelope: dict[str, Any]) -> tuple[int, str]:
    """The mail on standard input through ``door`` (the Gateway's Ingest, or store.direct's inbox)."""
    from gateway.transports import pipe

    return pipe.deliver(door, clock, stream=pipe.stdin_bytes(), max_size=settings.smtp.max_message_size,
                        rejects=rejects, **envelope)


def _exit(code: int, message: str) -> NoReturn:
    click.echo(message, err=code != 0)
    sys.exit(code)


def _store_for_a_worker(settings: Any, fail: Callable[[int, str], NoReturn], envelope: dict[str, Any], *,
                        no_process: bool, config: str, stored: list[bool]) -> None:
    """Store the mail and exit, leaving its processing to a worker: through
    the database's driver (``store.direct``), without loading SQLAlchemy
    and the pipeline (~0.17 s a mail instead of ~1.5 s on the 2-CPU machine).

    The mail is committed first, and only then is a worker looked for
    (``processor_alive``): a worker that leaves the living looks for mail
    once more after it left (``Gateway.process_backlog``), so a mail is
    either seen by a worker or finds none and has ``gateway process``
    started in the background (``cli.background``) by this pipe, or by the
    pipe that claimed the start a moment before (``claim_start``).
    Returns, having read nothing, when the full path must do it: a database
    not ready for the direct path (missing, at another revision...), or a
    process that could not start last time (``not_ready``): the full path
    then answers 75 naming the broken rule file, as before."""
    from gateway.clock import SystemClock
    from gateway.store import direct
    from gateway.transports import pipe

    try:
        door = direct.open_inbox(settings.storage)
    except direct.Unreachable as error:  # the MTA keeps the mail and retries
        fail(pipe.EX_TEMPFAIL, f"cannot open storage ({error})")
    if door is None:
        return
    with door:
        if not no_process and door.not_ready():
            return
        code, message = _piped(door, SystemClock(), settings, door.rejects, envelope)
        if code == pipe.EX_OK:
            stored.append(True)
        try:
            wanted = code == pipe.EX_OK and not no_process and not door.processor_alive()
            claimed = wanted and door.claim_start()
        except Exception as error:  # noqa: BLE001 - stored: 0 stands; a running gateway finds the mail
            wanted, message = False, f"{message}; no worker looked for ({type(error).__name__}: {error})"
    if wanted:
        try:
            message = f"{message}; {background.hand_over(config, door.rejects.parent, settings, claimed=claimed)}"
        except Exception as error:  # noqa: BLE001 - as above
            message = f"{message}; `gateway process` not started ({type(error).__name__}: {error})"
    _exit(code, message)


def _open_gateway(settings: Any, fail: Callable[[int, str], NoReturn]) -> Any:
    """The gateway, or the exit code that tells the MTA who must act.  One
    that starts lifts the pipes' ``store.processors.not_ready`` mark."""
    from gateway.app import Gateway
    from gateway.transports import pipe

    try:
        gateway = Gateway(settings)
    except ConfigError as error:  # a broken rule file, a schema to upgrade: the mail waits while the operator acts
        fail(pipe.EX_TEMPFAIL, f"not ready (the MTA keeps the mail; fix, then flush its queue): {error}")
    except Exception as error:  # the database is unreachable or full: the MTA keeps the mail and retries
        fail(pipe.EX_TEMPFAIL, f"cannot open storage ({settings.storage.url.split('@')[-1]}): "
                               f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
    from gateway.store import processors

    try:
        processors.ready(gateway.db)
    except Exception as error:  # noqa: BLE001 - no table or no right to it: pipes then keep the full path
        log.warning("could not lift the pipes' not-ready mark (%s: %s)", type(error).__name__, error)
    return gateway


def _process_now(gateway: Any) -> None:
    """Run the pipeline now; the mail is already stored, so a failure here
    only leaves it for a running gateway (or the next ingest) to process."""
    try:
        gateway.ingest.drain()
    except Exception as error:  # noqa: BLE001 - exit 0 stands: the mail is committed
        click.echo(f"gateway ingest: stored, but processing failed ({type(error).__name__}: {error}); "
                   "a running gateway will retry it", err=True)


@click.command()
@click.argument("mail_file", type=click.File("rb"))
@click.option("--mailbox", default=None, help="Service address the mail is for (else its To/Cc decide).")
@click.option("--sender", default="", help="Envelope sender, when it matters.")
@click.option("--via", type=click.Choice(["public", "mta"]), default="public", show_default=True,
              help="Judge the mail as arriving from the public Internet, or through the MTA in front "
                   "(whose Authentication-Results then count).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def explain(ctx: click.Context, mail_file: Any, mailbox: str | None, sender: str, via: str, as_json: bool) -> None:
    """Show what the pipeline would do with MAIL_FILE (- for stdin), changing nothing."""
    from gateway.explain import as_text, explain as explain_mail

    settings = settings_of(ctx)
    if mailbox and settings.mailbox_for(mailbox) is None:
        click.echo(f"--mailbox {mailbox}: no such mailbox in {settings.source}", err=True)
        sys.exit(2)
    gateway = gateway_of(ctx)
    try:
        report = explain_mail(gateway, mail_file.read(), mailbox=mailbox, sender=sender,
                              via="pipe" if via == "mta" else "explain")
    finally:
        gateway.close()
    click.echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else as_text(report))
