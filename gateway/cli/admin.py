"""Commands for the operator: check the configuration, make a password line,
migrate a legacy mailbox."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from gateway.cli.common import settings_of
from gateway.config import Settings
from gateway.errors import ConfigError


@click.command(name="hash-password")
@click.argument("address")
@click.password_option(prompt="Password", confirmation_prompt=True)
def hash_password_cmd(address: str, password: str) -> None:
    """Print a credentials line for ADDRESS (for [submission] credentials_file)."""
    from gateway.credentials import hash_password

    click.echo(f"{address.strip().lower()}:{hash_password(password)}")


def _migrate_options(function: Any) -> Any:
    from gateway.migrate.command import options

    return options(function)


@click.command()
@_migrate_options
@click.pass_context
def migrate(ctx: click.Context, source: str, mailbox_address: str, **values: Any) -> None:
    """Import a legacy mailbox (mbox, Maildir, folder of .eml, imap[s]:// URL) into tickets."""
    from gateway.migrate.command import run as run_migration

    sys.exit(run_migration(settings_of(ctx), source, mailbox_address, **values))


@click.command(name="check-config")
@click.pass_context
def check_config(ctx: click.Context) -> None:
    """Validate the config, the database, the templates and the rule files; exit 2 naming what is wrong.

    Each problem is one line on stderr that names the file, the key and the
    fix; the database is connected (never migrated or created).
    """
    from gateway.calendar.mailboxes import calendar_for
    from gateway.outbound.render import Renderer, sample_context
    from gateway.safety import unsafe_settings

    settings = settings_of(ctx)  # ports, URL dialect and every other key: checked at load
    try:
        renderer = Renderer(settings.templates.path or None)
        for mailbox in settings.mailboxes:
            calendar_for(mailbox)  # a closed_calendar file, read as whole days off
            for name in renderer.names(mailbox.language):
                if not name.startswith("_"):
                    renderer.render(name, language=mailbox.language, mailbox=mailbox.address,
                                    context=sample_context(mailbox.protocol_prefix, mailbox.display_name,
                                                           mailbox.address))
    except ConfigError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(2)
    except Exception as error:  # a template that does not render
        click.echo(f"template error: {type(error).__name__}: {error}", err=True)
        sys.exit(2)
    problems = _check_rules(settings, renderer)
    for problem in problems:
        click.echo(f"rules error: {problem}", err=True)
    unsafe = unsafe_settings(settings)
    for error in unsafe:
        click.echo(f"unsafe setting: {error}", err=True)
    database = _check_database(settings)
    if problems or unsafe or database:
        sys.exit(2)
    if settings.storage.pipe_place() == Path():  # not an error: a desk on LMTP or IMAP never runs the pipe
        click.echo(f"note: storage.pipe_folder is not set: the MTA pipe (`gateway ingest`) would keep the mail it "
                   "refuses, and the log of the process it starts, in its working directory (Postfix's queue "
                   "directory); set it if the MTA pipes mail to the gateway")
    click.echo(f"{settings.source}: OK ({len(settings.mailboxes)} mailbox(es))")


def _check_database(settings: Settings) -> str:
    """Connect to ``[storage] url`` and ask it one question; the problem in one
    line (also printed), or "" when it answers.  A SQLite file that does not
    exist yet is not created here: `gateway run` or `gateway db upgrade` will."""
    from pathlib import Path

    from gateway.config.checks import masked_url
    from gateway.store import stats
    from gateway.store.db import Database

    url = masked_url(settings.storage.url)
    if settings.storage.url.startswith("sqlite:///") and settings.storage.url != "sqlite:///:memory:":
        path = Path(settings.storage.url.removeprefix("sqlite:///"))
        if not path.exists():
            click.echo(f"storage: {url}: no database yet; it is created in {path.parent.resolve()} "
                       "at the first start")
            return ""
    try:
        database = Database(settings.storage)
        try:
            with database.reading() as tx:
                stats.ping(tx)
        finally:
            database.dispose()
    except ConfigError as error:
        problem = str(error)
    except Exception as error:  # noqa: BLE001 - the driver's own words, on one line
        cause = getattr(error, "orig", None) or error
        words = " ".join(str(cause).split()) or type(cause).__name__
        problem = (f"{settings.source}: storage.url: cannot connect to {url}: {words}; "
                   "check that the server is up and the URL (user, host, port, database)")
    else:
        click.echo(f"storage: {url}: connected")
        return ""
    click.echo(f"database error: {problem}", err=True)
    return problem


def _check_rules(settings: Settings, renderer: Any) -> list[str]:
    """Every mailbox's rule file, loaded and its templates rendered; one line per broken file."""
    from gateway.rules.loader import load_rules
    from gateway.services.rulebook import check_templates

    problems = []
    for mailbox in settings.mailboxes:
        if not mailbox.rules:
            continue
        try:
            ruleset = load_rules(mailbox.rules)
            check_templates(ruleset, mailbox, renderer)
        except ConfigError as error:
            problems.append(f"{mailbox.address}: {error}")
            continue
        click.echo(f"{mailbox.address}: {ruleset.source}: {len(ruleset.rules)} rule(s), {ruleset.mode} match")
    return problems
