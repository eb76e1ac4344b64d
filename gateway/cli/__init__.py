"""``gateway``: one thin function per command; the work is elsewhere.

The commands live in modules by what they do (``serve``, ``mail``,
``tickets``, ``quarantine``, ``admin``...).  The group knows them by name
(``COMMANDS``) and imports a command's module only when that command runs:
``gateway tickets list`` must not pay for the SMTP listener, the web pages
and the pipeline (issue 19: 1.3 s to start, 95% of it imports).
"""

from __future__ import annotations

from gateway.cli.signals import hold_hangups

hold_hangups()  # before the heavy imports below: a SIGHUP while starting must not end `gateway run`

from importlib import import_module  # noqa: E402
from typing import Final  # noqa: E402

import click  # noqa: E402

from gateway import logs  # noqa: E402
from gateway.cli.common import restrict_umask  # noqa: E402

_EX_TEMPFAIL: Final = 75  # sysexits.h: try again later

# Command name -> (module under gateway.cli, attribute); `gateway --help`
# lists them sorted, as click does.
COMMANDS: Final = {
    "run": ("serve", "run"),
    "ingest": ("mail", "ingest"),
    "poll": ("serve", "poll"),
    "process": ("serve", "process_cmd"),
    "send": ("serve", "send"),
    "tickets": ("tickets", "tickets"),
    "sweep": ("serve", "sweep"),
    "hash-password": ("admin", "hash_password_cmd"),
    "link": ("tickets", "link"),
    "quarantine": ("quarantine", "quarantine"),
    "migrate": ("admin", "migrate"),
    "check-config": ("admin", "check_config"),
    "explain": ("mail", "explain"),
    "mta-config": ("mta", "mta_config"),  # gateway mta-config postfix
    "db": ("db", "db"),  # gateway db status | upgrade | backup
    "filed": ("filed", "filed"),  # gateway filed list: automatic mail kept without a ticket
    "purge": ("privacy", "purge"),  # LGPD: retention and erasure
    "forget": ("privacy", "forget"),
    "report": ("report", "report"),  # issue 18: how the desk did over a period
    "digest": ("digest", "digest"),  # issue 18: the daily digest by hand, or printed
    "monthly-report": ("monthly_report", "monthly_report"),  # issue 18: last month's report mail by hand
}


#: Run by an MTA, which bounces the mail on any exit but 0 and 75
#: (Postfix pipe(8)): a wrong option in master.cf must keep it queued.
_RUN_BY_THE_MTA: Final = frozenset({"ingest"})


class LazyGroup(click.Group):
    """A group whose commands are imported when one is looked up by name."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: object) -> click.Context:
        given = list(args)  # click consumes the list
        try:
            return super().make_context(info_name, args, parent=parent, **extra)  # type: ignore[arg-type]
        except click.UsageError as error:  # e.g. --config naming a folder
            if _RUN_BY_THE_MTA & set(given):
                error.exit_code = _EX_TEMPFAIL
            raise

    def invoke(self, ctx: click.Context) -> object:
        # The command's name: click 8.2 keeps it in _protected_args, 8.1 in protected_args.
        named = getattr(ctx, "_protected_args", None)
        if named is None:
            named = ctx.protected_args
        by_the_mta = bool(_RUN_BY_THE_MTA & {*named[:1], *ctx.args[:1]})
        try:
            return super().invoke(ctx)
        except click.UsageError as error:  # e.g. an option `ingest` does not have
            if ctx.invoked_subcommand in _RUN_BY_THE_MTA or by_the_mta:
                error.exit_code = _EX_TEMPFAIL
            raise
        except (click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:  # a bug, a broken install (the command's module would not import)...
            # Any exit but 0 and 75 makes the MTA bounce (Postfix pipe(8)):
            # an error of ours keeps the mail in its queue.
            if not by_the_mta:
                raise
            click.echo(f"gateway ingest: unexpected {type(error).__name__}: {error}; the MTA keeps the mail and "
                       "retries", err=True)
            raise SystemExit(_EX_TEMPFAIL) from error

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = COMMANDS.get(cmd_name)
        if found is None:
            return super().get_command(ctx, cmd_name)
        module, attribute = found
        command: click.Command = getattr(import_module(f"gateway.cli.{module}"), attribute)
        return command


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


@click.group(cls=LazyGroup)
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
