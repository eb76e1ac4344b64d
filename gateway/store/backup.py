"""``gateway db backup``: a consistent copy of a live SQLite database.

SQLite's online backup API copies the pages while the gateway keeps
accepting mail (WAL: the writer is not stopped, the copy is one commit's
state).  The copy is then checked with ``PRAGMA integrity_check`` and
switched to a rollback journal, so it is one self-contained file that
``sqlite3`` or a gateway opens as it is.  PostgreSQL has pg_dump for this,
which knows far more than we would (consistent snapshots, custom format,
parallel restore): ``pg_dump_command`` says how to call it.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from gateway.errors import GatewayError


class BackupError(GatewayError):
    """The backup could not be written or the copy is not sound; names the file."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int  # bytes
    tickets: int  # rows in the copy's ticket table, so the operator sees it holds data


def backup_sqlite(database_path: Path, target: Path, *, force: bool = False) -> BackupResult:
    """Copy ``database_path`` to ``target`` (mode 0600).  An existing target
    is refused unless ``force``; even then it is replaced only once the new
    copy passed its integrity check."""
    if not database_path.is_file():
        raise BackupError(f"{database_path}: no such database file ([storage] url)")
    if target.exists() and not force:
        raise BackupError(f"{target}: already exists; choose another name or pass --force to replace it")
    if target.resolve() == database_path.resolve():
        raise BackupError(f"{target}: is the database itself; choose another file")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        # Created empty and private before SQLite writes a byte of personal data into it.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        source = sqlite3.connect(database_path, timeout=60)
        copy = sqlite3.connect(partial)
        try:
            # In one step: a read transaction, which under WAL never blocks the
            # gateway's writer.  Steps would restart at every commit it makes.
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
            verdict = copy.execute("PRAGMA integrity_check").fetchall()
            tickets = _count(copy, "ticket")
        finally:
            copy.close()
            source.close()
        if verdict != [("ok",)]:
            raise BackupError(f"{target}: the copy failed its integrity check: {verdict[:3]}")
        os.replace(partial, target)
    except sqlite3.Error as error:
        raise BackupError(f"{target}: backup of {database_path} failed: {error}") from error
    except OSError as error:
        raise BackupError(f"{target}: cannot write the backup: {error.strerror}") from error
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(target, target.stat().st_size, tickets)


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for another database or ``:memory:``."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def pg_dump_command(url: str, target: str) -> str:
    """The pg_dump line for this database, without its password (give it in
    PGPASSWORD or ~/.pgpass, never on a command line others can read)."""
    return f"pg_dump --format=custom --file={_quoted(target)} {_quoted(_libpq(url))}"


def pg_restore_command(url: str, source: str) -> str:
    return f"pg_restore --clean --if-exists --no-owner --dbname={_quoted(_libpq(url))} {_quoted(source)}"


def _libpq(url: str) -> str:
    """``postgresql+psycopg://u:secret@h/db`` as libpq reads it, without the password."""
    parsed = make_url(url)
    plain = URL.create("postgresql", username=parsed.username, host=parsed.host, port=parsed.port,
                       database=parsed.database, query=parsed.query)  # URL.set(password=None) keeps it
    return plain.render_as_string(hide_password=False)


def _quoted(value: str) -> str:
    import shlex

    return shlex.quote(value)


def _count(connection: sqlite3.Connection, table: str) -> int:
    try:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:  # a database without the table (empty): nothing to count
        return 0
