"""``gateway db``: the database's schema revision (and what waits for processing), its upgrade and its backup.

These commands open the database themselves instead of building a Gateway:
a Gateway refuses a database at another revision, and these are what an
operator runs to find out and fix that.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gateway.cli.common import EX_CONFIG, EX_TEMPFAIL, settings_of
from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.store.db import Database
    from gateway.store.processors import Backlog


@click.group(name="db")
def db() -> None:
    """Schema revision (status, upgrade) and backups of the database."""


@db.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Say whether the database is at this version's schema, and, when it is,
    what waits for processing. Exit 0 up to date, 1 otherwise."""
    from gateway.store import schema

    database = _database(ctx)
    try:
        found = _or_exit(database, lambda: schema.state(database))
        backlog = _backlog(database) if found.status == "current" else None
    finally:
        database.dispose()
    click.echo(f"database: {found.url}")
    click.echo(f"revision: {found.current or 'none'}")
    click.echo(f"head:     {found.head} (this gateway)")
    click.echo({
        "current": "up to date",
        "empty": "empty: no tables yet; `gateway db upgrade` (or any command) creates them",
        "behind": "behind: run gateway db upgrade (stop the gateway and back up first)",
        "ahead": "ahead: this gateway is older than the database; install the newer version",
        "foreign": "not a gateway database: it holds tables but no alembic_version",
    }[found.status])
    if backlog is not None:
        _say_backlog(backlog)
    sys.exit(0 if found.status == "current" else 1)


def _backlog(database: Database) -> Backlog | str:
    """Mail waiting for processing, the workers alive, and the pipes' marks:
    where a desk without `gateway run` sees mail stuck (README, "Pipe"); or
    why it could not be read."""
    from gateway.store import processors

    try:
        return processors.backlog(database)
    except Exception as error:  # noqa: BLE001 - the revision was read: this is extra
        return f"could not tell ({type(error).__name__}: {error})"


def _say_backlog(backlog: Backlog | str) -> None:
    if isinstance(backlog, str):
        click.echo(f"processing: {backlog}")
        return
    oldest = f", the oldest received {backlog.oldest:%Y-%m-%d %H:%M:%S} UTC" if backlog.oldest else ""
    click.echo(f"processing: {backlog.waiting} mail(s) waiting{oldest}; "
               f"{backlog.workers} processing worker(s) alive")
    if backlog.not_ready_since is not None:
        click.echo(f"pipes: not ready since {backlog.not_ready_since:%Y-%m-%d %H:%M:%S} UTC: a background "
                   "`gateway process` could not start (`gateway check-config` names why); pipes answer 75")
    if backlog.starting_since is not None:
        click.echo(f"pipes: a background `gateway process` claimed its start at "
                   f"{backlog.starting_since:%Y-%m-%d %H:%M:%S} UTC")


@db.command()
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Upgrade the database's schema to this version's newest revision."""
    from gateway.store import schema

    database = _database(ctx)
    try:
        before, after = _or_exit(database, lambda: schema.upgrade(database))
    finally:
        database.dispose()
    if before.current == after.current:
        click.echo(f"{after.url}: already at revision {after.current}; nothing to do")
    else:
        click.echo(f"{after.url}: upgraded from {before.current or '(empty)'} to {after.current}")


@db.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE if it exists (only after the new copy checked out).")
@click.pass_context
def backup(ctx: click.Context, file: Path, force: bool) -> None:
    """Copy a SQLite database to FILE while the gateway runs (PostgreSQL: prints the pg_dump line)."""
    from gateway.store.backup import BackupError, backup_sqlite, pg_dump_command, pg_restore_command, sqlite_path

    settings = settings_of(ctx)
    if settings.storage.url.startswith("postgresql"):
        url = settings.storage.url
        click.echo("gateway db backup copies SQLite only; for PostgreSQL use pg_dump "
                   "(password in PGPASSWORD or ~/.pgpass):", err=True)
        click.echo(f"  {pg_dump_command(url, str(file))}", err=True)
        click.echo(f"restore into an empty database with:\n  {pg_restore_command(url, str(file))}", err=True)
        sys.exit(2)
    database = sqlite_path(settings.storage.url)
    if database is None:
        click.echo(f"{settings.source}: storage.url: {settings.storage.url!r} is not a SQLite database file", err=True)
        sys.exit(2)
    try:
        result = backup_sqlite(database, file, force=force)
    except BackupError as error:
        click.echo(f"backup error: {error}", err=True)
        sys.exit(1)
    click.echo(f"{result.path}: {result.size} bytes, integrity ok, {result.tickets} ticket(s)")


def _database(ctx: click.Context) -> Any:
    from gateway.store.db import Database
    from gateway.store.schema import storage_errors

    settings = settings_of(ctx)
    try:
        with storage_errors(settings.storage.url, settings.source):
            return Database(settings.storage)
    except ConfigError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(2)


def _or_exit(database: Any, action: Any) -> Any:
    """Run ``action``; a refused or unreachable database is one line and an exit."""
    from gateway.store.schema import DatabaseUnreachable, SchemaMismatch, storage_errors

    try:
        with storage_errors(database.url.render_as_string(hide_password=True)):
            return action()
    except SchemaMismatch as error:
        click.echo(f"database error: {error}", err=True)
        sys.exit(EX_CONFIG)
    except DatabaseUnreachable as error:
        click.echo(f"database error: {error}", err=True)
        sys.exit(EX_TEMPFAIL)
