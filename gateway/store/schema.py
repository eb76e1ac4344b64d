"""Which schema revision a database is at, and the one way it changes.

Ordinary commands never migrate: a gateway started with a newer version
on a production database must not rewrite it without the operator asking
(``gateway db upgrade``, after a backup).  The one exception is a database
with no tables at all, created at the newest revision at once so that
``make run`` and the tests need no extra step.

Creating and upgrading hold a lock, so that roles started together on an
empty database do not race to create ``alembic_version``: PostgreSQL's
``pg_advisory_xact_lock`` on a fixed key, SQLite's ``BEGIN IMMEDIATE``
(every write transaction of ``store.db`` begins that way).  Both run the
DDL in that one transaction: a second process waits, then reads the
revision the first one committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

from gateway.errors import ConfigError, StorageUnavailable
from gateway.store.revisions import MIGRATIONS, head

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

    from gateway.store.db import Database

log = logging.getLogger("gateway.store.schema")

# pg_advisory_xact_lock key: "gateway schema" on any database of the server.
# Arbitrary, fixed, and used for nothing else.
ADVISORY_KEY: Final = 0x6761_7465_7761_7901

UPGRADE_HINT: Final = ("stop the gateway, back the database up (`gateway db backup FILE` or pg_dump), "
                       "then run `gateway db upgrade`")


class SchemaMismatch(ConfigError):
    """The database's revision is not the one this gateway was built for.

    A ConfigError: it is fixed by the operator (``gateway db upgrade`` or
    installing the matching version), never by retrying, so ``ingest``
    answers 78 and a unit does not restart in a loop."""

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(url, "schema", problem)


class DatabaseUnreachable(StorageUnavailable):
    """The database could not be reached; trying later may work."""


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands against this version's migrations.

    ``status`` is one of ``empty`` (no tables at all), ``current``,
    ``behind``, ``ahead`` (a revision this version does not know) and
    ``foreign`` (tables but no Alembic version: not a gateway database)."""

    url: str  # password masked
    current: str | None
    head: str
    status: str

    def describe(self) -> str:
        """One line for ``db status`` and for the refusal of ordinary commands."""
        at = self.current or "none"
        return {
            "current": f"{self.url}: up to date (revision {at})",
            "empty": f"{self.url}: empty (no tables); any command creates it at revision {self.head}",
            "behind": f"{self.url}: behind: database at revision {at}, this gateway needs {self.head}; "
                      f"{UPGRADE_HINT}",
            "ahead": f"{self.url}: ahead: database at revision {at}, unknown to this gateway (newest {self.head}); "
                     "this gateway is older than the database: install the newer version",
            "foreign": f"{self.url}: holds tables but no alembic_version: not a gateway database; "
                       "point [storage] url at an empty or a gateway database",
        }[self.status]


def masked(database: Database) -> str:
    """The storage URL with its password hidden: it ends up in logs and terminals."""
    return database.url.render_as_string(hide_password=True)


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS))


def _current(connection: Connection) -> str | None:
    """``alembic_version``'s one row, as Alembic's MigrationContext reads it."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:  # branches: never ours; Alembic names the problem
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(connection).get_current_revision()
    return rows[0] if rows else None


def read_state(database: Database, connection: Connection) -> SchemaState:
    current = _current(connection)
    newest = head()
    if current is None:
        status = "empty" if not inspect(connection).get_table_names() else "foreign"
    elif current == newest:
        status = "current"
    elif _known(current):
        status = "behind"
    else:
        status = "ahead"
    return SchemaState(masked(database), current, newest, status)


def state(database: Database, *, wait: float = 0.0) -> SchemaState:
    """The database's schema state, without changing anything."""
    from gateway.store.db import READ_ONLY

    with _connected(database, wait) as connection:
        connection.execution_options(**{READ_ONLY: True})  # SQLite: BEGIN DEFERRED, no write lock to look
        return read_state(database, connection)


def prepare(database: Database, *, wait: float = 0.0) -> SchemaState:
    """What ``Gateway()`` runs: create an empty database at head, accept a
    current one, refuse any other with a SchemaMismatch naming the fix.

    ``wait``: seconds to keep trying while the database is unreachable
    (a role started before PostgreSQL), with a logged line per try."""
    found = state(database, wait=wait)  # the common case takes no lock
    if found.status == "empty":
        with _locked(database) as connection:
            found = read_state(database, connection)  # another role may have created it meanwhile
            if found.status == "empty":
                _upgrade(connection)
                log.info("created the schema at revision %s in %s", found.head, found.url)
                found = read_state(database, connection)
    if found.status != "current":
        raise SchemaMismatch(found.url, found.describe().split(": ", 1)[1])
    return found


def upgrade(database: Database) -> tuple[SchemaState, SchemaState]:
    """``gateway db upgrade``: to head, under the lock; the states before and after.
    A database ahead of this version, or not a gateway's, is refused."""
    with _locked(database) as connection:
        before = read_state(database, connection)
        if before.status in ("ahead", "foreign"):
            raise SchemaMismatch(before.url, before.describe().split(": ", 1)[1])
        if before.status != "current":
            _upgrade(connection)
        return before, read_state(database, connection)


def _known(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except Exception:  # alembic's ResolutionError / CommandError for an unknown id
        return False


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig


    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


@contextmanager
def _locked(database: Database) -> Iterator[Connection]:
    """One transaction that no other gateway process can be in at once."""
    with _connected(database, 0.0) as connection, connection.begin():  # SQLite: BEGIN IMMEDIATE (store.db)
        if database.is_postgres:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_KEY})
        yield connection


@contextmanager
def _connected(database: Database, wait: float) -> Iterator[Connection]:
    """A connection, or DatabaseUnreachable naming the URL and the cause.
    With ``wait``, retry with a doubling pause (1 s up to 10 s) until
    ``wait`` seconds have passed."""
    deadline, pause = time.monotonic() + wait, 1.0
    while True:
        try:
            connection = database.engine.connect()
            break
        except DBAPIError as error:
            cause = _first_line(error)
            if time.monotonic() + pause > deadline:
                raise DatabaseUnreachable(f"{masked(database)}: cannot connect: {cause}") from error
            log.warning("database %s not reachable (%s); trying again in %.0f s", masked(database), cause, pause)
            time.sleep(pause)
            pause = min(pause * 2, 10.0)
    with connection:
        yield connection


def _first_line(error: DBAPIError) -> str:
    words = str(error.orig if error.orig is not None else error).strip().splitlines()
    return words[0] if words else type(error).__name__


@contextmanager
def storage_errors(url: str, source: str = "[storage]") -> Iterator[None]:
    """Turn SQLAlchemy's errors about the storage into ours, for commands
    that open it: an URL it cannot read is a ConfigError on ``storage.url``,
    any database error one line naming the (masked) URL and the cause."""
    from sqlalchemy.exc import ArgumentError

    try:
        yield
    except ArgumentError as error:
        raise ConfigError(source, "storage.url", str(error)) from error
    except DBAPIError as error:  # connected, then refused (permissions, a dropped database)
        raise DatabaseUnreachable(f"{masked_url(url)}: {_first_line(error)}") from error


def masked_url(url: str) -> str:
    """``url`` with its password hidden; an unreadable one is not echoed at all."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - rather than print a password
        return "[storage] url"
