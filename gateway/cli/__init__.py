"""``gateway``: one thin function per command; the work is elsewhere.

The commands live in modules by what they do (``serve``, ``mail``,
``tickets``, ``quarantine``, ``admin``) and are added to the group here.
"""

from __future__ import annotations

from gateway.cli.signals import hold_hangups

hold_hangups()  # before the heavy imports below: a SIGHUP while starting must not end `gateway run`

import click  # noqa: E402

from gateway import logs  # noqa: E402
from gateway.cli import admin, db, filed, mail, mta, privacy, quarantine, serve, tickets  # noqa: E402
from gateway.cli.common import restrict_umask  # noqa: E402


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """Print the installed distribution's version; looked up only when asked
    (reading package metadata at every start would cost every command)."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("ticket-gateway")
    except PackageNotFoundError:  # run from a checkout that was never installed
        installed = "unknown"
    click.echo(f"gateway (ticket-gateway) {installed}")
    ctx.exit()


@click.group()
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_show_version,
              help="Show the installed version and exit.")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="TOML config file (default: $GATEWAY_CONFIG, else the embedded defaults).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
@click.pass_context
def main(ctx: click.Context, config: str | None, verbose: bool) -> None:
    """E-mail gateway for ticket-based service desks."""
    restrict_umask()
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    ctx.obj["verbose"] = verbose  # for logs.apply, once the settings are read
    logs.configure(verbose=verbose)  # personal data masked in every record, -v included


for command in (serve.run, mail.ingest, serve.poll, serve.process_cmd, serve.send, tickets.tickets, serve.sweep,
                admin.hash_password_cmd, tickets.link, quarantine.quarantine, admin.migrate, admin.check_config,
                mail.explain):
    main.add_command(command)
main.add_command(mta.mta_config)  # gateway mta-config postfix
main.add_command(db.db)  # gateway db status | upgrade | backup
main.add_command(filed.filed)  # gateway filed list: automatic mail kept without a ticket
for command in (privacy.purge, privacy.forget):  # LGPD: retention and erasure
    main.add_command(command)
