"""What every command shares: the settings, the gateway, the process's umask
and the refusal of unsafe settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

import click

from gateway import logs
from gateway.config import Settings, load_settings
from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.services.views import TicketReads

# Owner read-write, group read, others nothing: the database holds citizens'
# mails and CPFs, the outbox their answers.  Applied before any file exists.
PRIVATE_UMASK: Final = 0o027

# sysexits.h: what a supervisor (systemd, Postfix) reads from our exit.
EX_TEMPFAIL: Final = 75  # the database is down: trying later may work
EX_CONFIG: Final = 78  # the database is at another schema revision: an operator must act

# Commands that are services: they wait this long for a database that is
# not up yet (started before PostgreSQL), logging each try, before exiting.
WAITING_COMMANDS: Final = frozenset({"run"})
DATABASE_WAIT: Final = 60.0

# Masking is the default because a terminal's output ends up in scrollback,
# screenshots and pasted tickets; seeing a CPF is a deliberate act.
REVEAL_HELP: Final = ("Show CPFs, phone numbers and addresses as written "
                      "(default: masked, e.g. ***.533.447-**, (61) *****-8888).")


def settings_of(ctx: click.Context) -> Settings:
    """The settings, with ``[log]`` applied to the process's logging."""
    try:
        settings = load_settings(ctx.obj.get("config"))
    except ConfigError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(2)
    logs.apply(settings.log, verbose=bool(ctx.obj.get("verbose")))
    return settings


def gateway_of(ctx: click.Context, settings: Settings | None = None, clock: Any = None) -> Any:
    """The Gateway for a command, or one line naming what is wrong and an exit:
    2 for a broken config or rule file, 78 (EX_CONFIG) for a database at the
    wrong schema revision, 75 (EX_TEMPFAIL) for a database that cannot be
    reached (``gateway run`` first waits DATABASE_WAIT seconds for it)."""
    settings = settings or settings_of(ctx)
    wait = DATABASE_WAIT if ctx.info_name in WAITING_COMMANDS else 0.0

    def build() -> Any:
        from gateway.app import Gateway

        return Gateway(settings, clock, wait_for_database=wait)

    return _opened(settings, build)


def database_of(ctx: click.Context, settings: Settings | None = None) -> Any:
    """The Database alone, its schema checked as ``Gateway()`` checks it
    (``store.schema.prepare``), with the same exits as :func:`gateway_of`.

    For commands that only read or change rows (``tickets``, ``link``):
    building the whole Gateway imports the pipeline, the templates, the
    listeners and the web pages, most of such a command's start-up."""
    from gateway.store import schema
    from gateway.store.db import Database

    settings = settings or settings_of(ctx)

    def build() -> Any:
        database = Database(settings.storage)
        try:
            schema.prepare(database)
        except BaseException:
            database.dispose()
            raise
        return database

    return _opened(settings, build)


@contextmanager
def ticket_reads(ctx: click.Context, settings: Settings | None = None) -> Iterator[TicketReads]:
    """Reads for a command that only looks at tickets: through the
    database's own driver when the database is ready for it
    (``store.direct``: SQLAlchemy, most of such a command's start-up, is
    never imported), else on the full path, whose schema check creates,
    refuses or reports as :func:`database_of`.  A database that does not
    answer exits 75 at once, as the full path would after its own wait."""
    from gateway.store import direct

    settings = settings or settings_of(ctx)
    try:
        reads = direct.open_reads(settings.storage)
    except direct.Unreachable as error:
        click.echo(f"database error: {error}", err=True)
        sys.exit(EX_TEMPFAIL)
    if reads is not None:
        with reads:
            yield reads
        return
    from gateway.store.reads import SessionReads

    with reading(ctx, settings) as tx:
        yield SessionReads(tx)


@contextmanager
def reading(ctx: click.Context, settings: Settings | None = None) -> Iterator[Any]:
    """A read-only transaction on the full path (:func:`database_of`), the
    Database disposed of after."""
    database = database_of(ctx, settings)
    try:
        with database.reading() as tx:
            yield tx
    finally:
        database.dispose()


def list_inbox_rows(ctx: click.Context, read: Callable[[Any], list[dict[str, Any]]], as_json: bool,
                    line: Callable[[dict[str, Any]], str]) -> None:
    """Print rows about kept mail (``quarantine list``, ``filed list``): read
    in one transaction, personal data masked (Message-IDs are identifiers,
    kept whole), as JSON or one ``line`` each."""
    import json

    from gateway.tickets.fields import mask_personal_data_in

    database = database_of(ctx)
    try:
        with database.transaction() as tx:
            rows = read(tx)
    finally:
        database.dispose()
    rows = mask_personal_data_in(rows, except_keys=frozenset({"message_id"}))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(line(row))


def _opened(settings: Settings, build: Callable[[], Any]) -> Any:
    """``build()``, its storage and config errors turned into one line and an exit."""
    from gateway.store.schema import DatabaseUnreachable, SchemaMismatch, storage_errors

    try:
        with storage_errors(settings.storage.url, settings.source):
            return build()
    except SchemaMismatch as error:
        click.echo(f"database error: {error}", err=True)
        sys.exit(EX_CONFIG)
    except ConfigError as error:  # a broken rule file, an unreadable storage URL
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(2)
    except DatabaseUnreachable as error:
        click.echo(f"database error: {error}", err=True)
        sys.exit(EX_TEMPFAIL)


def restrict_umask() -> None:
    """Take away at least group-write and every "others" bit from what we create.

    A service started from a shell or a unit without ``UMask=`` inherits
    022, and SQLite, the Maildir and any log file would be world-readable.
    A stricter umask inherited from the caller (077) is kept, never widened.
    """
    inherited = os.umask(PRIVATE_UMASK)
    os.umask(inherited | PRIVATE_UMASK)


def refuse_unsafe(problems: list[ConfigError], command: str) -> None:
    """Exit 2 before anything starts if the settings are unsafe on a network
    (``gateway.safety``), naming each key and its fix."""
    if not problems:
        return
    for problem in problems:
        click.echo(f"unsafe setting: {problem}", err=True)
    click.echo(f"gateway {command}: refusing to start; fix the setting(s) above "
               "(`gateway check-config` lists them all)", err=True)
    sys.exit(2)


def instant(text: str) -> Any:
    """``--now``: an ISO 8601 instant with its UTC offset."""
    from datetime import datetime

    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 instant like 2026-11-25T18:00-03:00",
                                 param_hint="--now") from None
    if value.tzinfo is None:
        raise click.BadParameter(f"{text!r} has no UTC offset; write e.g. 2026-11-25T18:00-03:00 or ...Z",
                                 param_hint="--now")
    return value


def iso(value: Any) -> str | None:
    return value.isoformat() if value else None
