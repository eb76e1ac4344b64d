"""Commands that run the gateway's parts: all of them, or one pass of one."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from gateway.cli.common import gateway_of, instant, refuse_unsafe, settings_of
from gateway.config import Settings


@click.command()
@click.option("--only", default="", help="Comma-separated roles to run: smtp, process, send, imap, schedule, web "
                                         "(default: all).")
@click.pass_context
def run(ctx: click.Context, only: str) -> None:
    """Run the gateway: listener, processing and sending in one process."""
    from gateway.app import ROLES

    roles = [r.strip() for r in only.split(",") if r.strip()] or list(ROLES)
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise click.BadParameter(f"unknown role {unknown[0]!r}; expected some of {', '.join(ROLES)}", param_hint="--only")
    from gateway.safety import unsafe_settings

    settings = settings_of(ctx)
    refuse_unsafe(unsafe_settings(settings), "run")  # before a port, a file or a connection is opened
    gateway = gateway_of(ctx, settings)
    print_welcome(gateway.settings)
    try:
        asyncio.run(gateway.serve(roles))
    finally:
        gateway.close()


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
        click.echo(f"{poller.mailbox}: took {result.accepted} mail(s), held {result.held} in quarantine")
    if not no_process:
        done = gateway.ingest.drain()
        click.echo(f"processed {done} mail(s)")
    gateway.close()
    sys.exit(1 if failed else 0)


@click.command(name="process")
@click.pass_context
def process_cmd(ctx: click.Context) -> None:
    """Process every accepted mail once, then exit."""
    gateway = gateway_of(ctx)
    done = gateway.ingest.drain()
    gateway.close()
    click.echo(f"processed {done} mail(s)")


@click.command()
@click.pass_context
def send(ctx: click.Context) -> None:
    """Deliver what is due in the outbox once, then exit."""
    gateway = gateway_of(ctx)
    tried = gateway.sender.run_once()
    gateway.close()
    click.echo(f"tried {tried} mail(s)")


@click.command()
@click.option("--now", "now_text", default=None, metavar="ISO8601",
              help="Act as the scheduler would at this instant (default: the clock), e.g. 2026-11-25T18:00-03:00.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def sweep(ctx: click.Context, now_text: str | None, as_json: bool) -> None:
    """Run every due deadline once (reminders, closures, SLA warnings), then exit. Cron can call it."""
    from gateway.app import Gateway
    from gateway.clock import FixedClock

    settings = settings_of(ctx)
    gateway = Gateway(settings, FixedClock(instant(now_text)) if now_text else None)
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
    smtp, mailbox = settings.smtp, settings.mailboxes[0]
    where = settings.outbound.path if settings.outbound.mode == "maildir" else f"{settings.outbound.host}:{settings.outbound.port}"
    click.echo(f"""
Ticket gateway listening on {smtp.host}:{smtp.port} ({'LMTP' if smtp.lmtp else 'SMTP'}), storage {settings.storage.url}
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
