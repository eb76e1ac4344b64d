"""Commands that take one mail: the MTA's pipe, and explain."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gateway.cli.common import gateway_of, settings_of
from gateway.config import load_settings
from gateway.errors import ConfigError


@click.command()
@click.option("--mailbox", default=None, help="Service address the mail is for, when the envelope does not say.")
@click.option("--sender", default="", help="Envelope sender (Postfix: ${sender}).")
@click.option("--recipient", "recipients", multiple=True, help="Envelope recipient (Postfix: ${recipient}).")
@click.option("--no-process", is_flag=True, help="Only store; leave processing to a running gateway.")
@click.pass_context
def ingest(ctx: click.Context, mailbox: str | None, sender: str, recipients: tuple[str, ...], no_process: bool) -> None:
    """Read one mail on standard input (MTA pipe). Exit 0 stored, 75 retry, 65 refused."""
    from gateway.app import Gateway
    from gateway.transports import pipe

    try:
        settings = load_settings(ctx.obj.get("config"))
        gateway = Gateway(settings)
    except ConfigError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(pipe.EX_TEMPFAIL)  # the MTA keeps the mail while the admin fixes the config
    except Exception as error:  # database unreachable
        click.echo(f"cannot open storage: {error}", err=True)
        sys.exit(pipe.EX_TEMPFAIL)
    if mailbox and settings.mailbox_for(mailbox) is None:
        click.echo(f"--mailbox {mailbox}: no such mailbox in {settings.source}", err=True)
        sys.exit(pipe.EX_DATAERR)
    db_path = Path(gateway.db.url.database or "var/gateway.db")
    code, message = pipe.deliver(gateway.ingest, gateway.clock, stream=pipe.stdin_bytes(), mailbox=mailbox,
                                 sender=sender, recipients=recipients, max_size=settings.smtp.max_message_size,
                                 rejects=db_path.parent / "rejected")
    if code == pipe.EX_OK and not no_process:
        gateway.ingest.drain()
    gateway.close()
    click.echo(message, err=code != pipe.EX_OK)
    sys.exit(code)


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
