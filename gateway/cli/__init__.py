"""``gateway``: one thin function per command; the work is elsewhere.

The commands live in modules by what they do (``serve``, ``mail``,
``tickets``, ``quarantine``, ``admin``) and are added to the group here.
"""

from __future__ import annotations

import click

from gateway import logs
from gateway.cli import admin, mail, quarantine, serve, tickets
from gateway.cli.common import restrict_umask


@click.group()
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="TOML config file (default: $GATEWAY_CONFIG, else the embedded defaults).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
@click.pass_context
def main(ctx: click.Context, config: str | None, verbose: bool) -> None:
    """E-mail gateway for ticket-based service desks."""
    restrict_umask()
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    logs.configure(verbose=verbose)  # personal data masked in every record, -v included


for command in (serve.run, mail.ingest, serve.poll, serve.process_cmd, serve.send, tickets.tickets, serve.sweep,
                admin.hash_password_cmd, tickets.link, quarantine.quarantine, admin.migrate, admin.check_config,
                mail.explain):
    main.add_command(command)
