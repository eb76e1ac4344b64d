"""Commands that run the gateway's parts: all of them, or one pass of one."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
import sys
from pathlib import Path
from typing import Final, NoReturn

import click

from gateway.cli.common import gateway_of, instant, refuse_unsafe, settings_of
from gateway.cli.signals import hold_hangups, stop_on_termination, take_hangup
from gateway.config import Settings
from gateway.errors import ConfigError

log = logging.getLogger("gateway.cli")

# What each listener's trouble means and what fixes it, by errno.
_BIND_FIXES: Final = {
    errno.EADDRINUSE: ("is in use", "change [{section}] port or stop the other process"),
    errno.EACCES: ("needs a privilege to bind", "use a port from 1024 up behind the MTA, or give the service "
                                                "CAP_NET_BIND_SERVICE (systemd/gateway-port25.conf)"),
    errno.EADDRNOTAVAIL: ("is not an address of this host", "change [{section}] host"),
}


@click.command()
@click.option("--only", default="", help="Comma-separated roles to run: smtp, process, send, imap, schedule, web, "
                                         "admin (default: all).")
@click.pass_context
def run(ctx: click.Context, only: str) -> None:
    """Run the gateway: listeners, processing, sending, scheduler and pages in one process.

    A problem at start (a port in use, a listener that cannot bind, a
    credentials file that cannot be read) is one line on stderr naming the
    key and the fix, and exit status 2; an unexpected error while running is
    one line and exit status 1 (`gateway -v run` adds the traceback).
    A SIGHUP while it starts is recorded, not fatal (cli.signals), and
    reloads the rules once the gateway serves.
    """
    hold_hangups(["run"])  # already done by the command line; here too for callers of this function
    from gateway.app import ROLES

    roles = [r.strip() for r in only.split(",") if r.strip()] or list(ROLES)
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise click.BadParameter(f"unknown role {unknown[0]!r}; expected some of {', '.join(ROLES)}", param_hint="--only")
    from gateway.safety import unsafe_settings

    settings = settings_of(ctx)
    refuse_unsafe(unsafe_settings(settings), "run")  # before a port, a file or a connection is opened
    _refuse_busy_ports(settings, roles)  # before the database is touched: the commonest mistake, said first
    gateway = gateway_of(ctx, settings)
    gateway.pending_reload = take_hangup
    print_welcome(gateway.settings)
    try:
        asyncio.run(gateway.serve(roles))
    except ConfigError as error:  # e.g. [submission] credentials_file unreadable
        _fail(f"configuration error: {error}", 2)
    except OSError as error:  # a listener lost the race for its port after the check above
        _fail(f"gateway run: cannot start: {_one_line(error)}; check the ports and hosts in {settings.source}", 2)
    except KeyboardInterrupt:
        pass
    except Exception as error:
        if log.isEnabledFor(logging.DEBUG):
            raise
        _fail(f"gateway run: stopped: {type(error).__name__}: {_one_line(error)} "
              "(`gateway -v run` shows the traceback)", 1)
    finally:
        hold_hangups(["run"])  # the loop's handlers are gone: a SIGHUP while stopping must not cut it short
        gateway.close()


def _listeners(settings: Settings, roles: list[str]) -> list[tuple[str, str, int]]:
    """``(section, host, port)`` of every listener the chosen roles open."""
    wanted = []
    if "smtp" in roles and settings.smtp.enabled:
        wanted.append(("smtp", settings.smtp.host, settings.smtp.port))
    if "smtp" in roles and settings.submission.enabled:
        wanted.append(("submission", settings.submission.host, settings.submission.port))
    if "web" in roles and settings.web.enabled:
        wanted.append(("web", settings.web.host, settings.web.port))
    if "admin" in roles and settings.admin.enabled:
        wanted.append(("admin", settings.admin.host, settings.admin.port))
    return wanted


def _refuse_busy_ports(settings: Settings, roles: list[str]) -> None:
    """Exit 2 with one line if a listener's address cannot be bound.

    Each address is bound the way the listener binds it (SO_REUSEADDR, every
    address the host name resolves to) and released at once, so the line
    can name the section and key; the listeners themselves still report a
    port taken in between.
    """
    seen: dict[tuple[str, int], str] = {}
    for section, host, port in _listeners(settings, roles):
        other = seen.setdefault((host, port), section)
        if other != section and port:
            _fail(f"gateway run: [{section}] port {port} on {host} is also [{other}]'s; "
                  f"give [{section}] port another number", 2)
        problem = _bind_problem(host, port) if port else None  # 0: any free port
        if problem is None:
            continue
        what, fix = _BIND_FIXES.get(problem.errno or 0, ("cannot be bound", "check [{section}] host and port"))
        _fail(f"gateway run: [{section}] port {port} on {host} {what} ({_one_line(problem)}); "
              f"{fix.format(section=section)}", 2)


def _bind_problem(host: str, port: int) -> OSError | None:
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        return OSError(errno.EADDRNOTAVAIL, f"{host!r} does not resolve: {error.strerror}")
    for family, kind, proto, _name, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as error:
                return error
    return None


def _one_line(error: BaseException) -> str:
    return " ".join(str(getattr(error, "strerror", None) or error).split()) or type(error).__name__


def _fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


@click.command()
@click.option("--once", is_flag=True, help="Drain each folder once and exit (cron, tests); without it, keep polling.")
@click.option("--mailbox", default=None, help="Only this mailbox's IMAP account (with --once).")
@click.option("--no-process", is_flag=True, help="Only store; leave processing to a running gateway.")
@click.pass_context
def poll(ctx: click.Context, once: bool, mailbox: str | None, no_process: bool) -> None:
    """Read mail from the mailboxes' IMAP accounts ([mailbox.imap]). Exit 1 if one failed."""
    from gateway.safety import unsafe_imap

    settings = settings_of(ctx)
    refuse_unsafe(unsafe_imap(settings, mailbox), "poll")
    gateway = gateway_of(ctx, settings)
    pollers = gateway.imap_pollers(mailbox)
    if not pollers:
        gateway.close()
        what = f"mailbox {mailbox}" if mailbox else "any mailbox"
        click.echo(f"no [mailbox.imap] for {what} in {gateway.settings.source}", err=True)
        sys.exit(2)
    if not once:
        try:
            asyncio.run(gateway.serve(["imap", "process", "send"]))
        finally:
            gateway.close()
        return
    failed = 0
    for poller in pollers:
        try:
            result = poller.drain_once()
        except Exception as error:  # noqa: BLE001 - reported per mailbox; the others still run
            failed += 1
            click.echo(poller.describe(error), err=True)
            continue
        if result.skipped:
            click.echo(f"{poller.mailbox}: another process is polling {poller.config.folder}; left to it")
            continue
        click.echo(f"{poller.mailbox}: took {result.accepted} mail(s), held {result.held} in quarantine")
    if not no_process:
        done = gateway.ingest.drain()
        click.echo(f"processed {done} mail(s)")
    gateway.close()
    sys.exit(1 if failed else 0)


@click.command(name="process")
@click.option("--from-pipe", "pipe_folder", default=None, hidden=True, type=click.Path(file_okay=False),
              help="Started by `gateway ingest`: its folder for rejected mails.")
@click.pass_context
def process_cmd(ctx: click.Context, pipe_folder: str | None) -> None:
    """Process every accepted mail, then exit; while it runs, pipes leave their mail to it."""
    if pipe_folder is not None:
        from gateway.cli.background import process_for_the_pipe

        process_for_the_pipe(ctx, Path(pipe_folder))
        return
    gateway = gateway_of(ctx)
    stop_on_termination(gateway.stopping)
    try:
        done = gateway.process_backlog()
    finally:
        gateway.close()
    click.echo(f"processed {done} mail(s)")


@click.command()
@click.pass_context
def send(ctx: click.Context) -> None:
    """Deliver what is due in the outbox once, then exit."""
    from gateway.errors import RelayUnavailable

    gateway = gateway_of(ctx)
    try:
        tried = gateway.sender.run_once()
    except RelayUnavailable as error:  # nothing was charged: the mails wait for the next run
        click.echo(f"gateway send: {error}; the mails stay queued, uncharged", err=True)
        sys.exit(75)
    finally:
        gateway.close()
    click.echo(f"tried {tried} mail(s)")


@click.command()
@click.option("--now", "now_text", default=None, metavar="ISO8601",
              help="Act as the scheduler would at this instant (default: the clock), e.g. 2026-11-25T18:00-03:00.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def sweep(ctx: click.Context, now_text: str | None, as_json: bool) -> None:
    """Run every due deadline once (reminders, closures, SLA warnings), then exit. Cron can call it."""
    from gateway.clock import FixedClock

    gateway = gateway_of(ctx, clock=FixedClock(instant(now_text)) if now_text else None)
    try:
        results = gateway.sweep_all()
    finally:
        gateway.close()
    if as_json:
        click.echo(json.dumps([{"now": r.now.isoformat(), "found": r.found, "acted": r.acted, "skipped": r.skipped,
                                "failed": r.failed, "done": dict(r.done)} for r in results], indent=2))
    else:
        for result in results:
            click.echo(result.summary())
    sys.exit(1 if any(r.failed for r in results) else 0)


def print_welcome(settings: Settings) -> None:
    """The first-look help: only for someone trying the embedded defaults at
    a terminal; a configured service (a file, a unit, a pipe to a log) gets
    the log lines alone.  The storage URL is shown with its password masked."""
    from gateway.config.checks import masked_url

    if settings.source != "<defaults>" or not sys.stdout.isatty():
        return
    smtp, mailbox = settings.smtp, settings.mailboxes[0]
    where = settings.outbound.path if settings.outbound.mode == "maildir" else f"{settings.outbound.host}:{settings.outbound.port}"
    click.echo(f"""
Ticket gateway listening on {smtp.host}:{smtp.port} ({'LMTP' if smtp.lmtp else 'SMTP'}), storage {masked_url(settings.storage.url)}
Mailbox: {mailbox.display_name} <{mailbox.address}> (protocol prefix {mailbox.protocol_prefix})

Send a first mail:
  swaks --server {smtp.host}:{smtp.port} --from ana@example.org --to {mailbox.address} \\
        --header 'Subject: Erro no cadastro' --body 'Não consigo incluir o profissional.'
or, with Python only:
  python3 -c "import smtplib; smtplib.SMTP('{smtp.host}', {smtp.port}).sendmail('ana@example.org', \\
        ['{mailbox.address}'], 'Subject: Erro no cadastro\\n\\nNao consigo incluir o profissional.')"

The acknowledgement and the team notification appear in {where}{'/new/' if settings.outbound.mode == 'maildir' else ''}.
Then: gateway tickets list   (stop with Ctrl-C)
Pages: {settings.web.base_url}/consulta (look-up; the mails carry the tracking and answer links)
""")
