"""Short commands through the database's own driver, without SQLAlchemy.

``gateway tickets list``, ``tickets show`` and ``link`` read a few rows and
exit; ``gateway ingest`` stores one mail and exits, leaving it to a worker
(a running gateway's, or the one it starts: ``cli.background``).
Importing SQLAlchemy alone took 0.3-0.5 s on the 2-CPU machine, more than
such a command may take (issue 19: under 0.3 s); ``sqlite3`` takes 5 ms.
So they work here, with plain SQL:

- :class:`DirectReads` gives rows with the same attribute names and Python
  values the ORM gives (aware UTC datetimes, booleans, the JSON tags as a
  list), which ``services.views`` turns into what the operator sees, one
  code for both; nothing it does writes.
- :class:`DirectInbox` stores an accepted mail as ``Ingest``'s writer does
  (``delivery.inbox_row``, committed before the pipe exits 0), tells
  whether a processing worker is alive to take it, and reads and sets the
  pipes' marks (``store.processors``).

Only when everything is in order: a SQLite file (or PostgreSQL through
psycopg) already at this version's schema revision.  Anything else, an
empty or missing database, another revision, an unknown URL, a driver
missing, and :func:`open_reads` / :func:`open_inbox` answer ``None``: the
caller takes the full path (``store.schema.prepare``), which creates,
refuses or reports exactly as every other command does.  A database that
does not answer raises :class:`Unreachable` at once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Final, TypeVar

from gateway.config import StorageConfig
from gateway.delivery import ENVELOPE_COLUMNS, Delivery, Receipt, ReceiptStatus, inbox_row, log_accepted
from gateway.store.revisions import head
from gateway.store.utc import from_sqlite_text, sqlite_text

SQLITE_BUSY_SECONDS: Final = 60.0  # here and in store.db's engine: wait for a writer's lock, do not fail
# store.processors: a processing worker renews its row this often, and is
# taken for gone when it has not for three times as long.  Both sides use
# the database's clock, never a node's.
ALIVE_EVERY: Final = 10.0
ALIVE_WITHIN: Final = 3 * ALIVE_EVERY
_AHEAD: Final = 5.0  # seconds a row may be dated after the database's now; later ones are ignored
# The marks beside the workers' rows in the processor table (store.processors,
# which cannot be imported here: it builds on SQLAlchemy).
STARTING: Final = "!starting"
NOT_READY: Final = "!not-ready"
# The database's now as SQLite stores a UtcDateTime: the six-digit text SQLAlchemy writes.
SQLITE_NOW: Final = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"

_IDS_PER_SELECT: Final = 500  # SQLAlchemy's selectinload batch: far below any driver's parameter limit

_log = logging.getLogger("gateway.ingest")  # the accepted line, as Ingest logs it

Row = SimpleNamespace  # a row: columns as attributes, as the ORM's objects have them


class _Connected:
    """One driver connection, closed by ``close`` or at the end of ``with``."""

    def __init__(self, connection: Any, *, sqlite: bool) -> None:
        self._connection = connection
        self._sqlite = sqlite

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        _close(self._connection)


_Self = TypeVar("_Self", bound=_Connected)


class DirectReads(_Connected):
    """The reads ``services.views`` and the short commands make, in one
    read-only transaction on one driver connection (close it, or ``with``)."""

    def __init__(self, connection: Any, *, sqlite: bool) -> None:
        super().__init__(connection, sqlite=sqlite)
        self._declared: dict[str, dict[str, str]] = {}

    # The ORM functions of store.tickets / store.fields / store.outbox these stand for.

    def listing(self, *, mailbox: str | None = None, status: str | None = None, limit: int = 100) -> list[Row]:
        where = [f"{column} = ?" for column, value in (("mailbox", mailbox), ("status", status)) if value]
        sql = ("SELECT * FROM ticket" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY id DESC LIMIT ?")
        return self._rows("ticket", sql, [value for value in (mailbox, status) if value] + [limit])

    def by_protocol(self, protocol: str) -> Row | None:
        return next(iter(self._rows("ticket", "SELECT * FROM ticket WHERE protocol = ?", [protocol])), None)

    def by_id(self, ticket_id: int) -> Row | None:
        return next(iter(self._rows("ticket", "SELECT * FROM ticket WHERE id = ?", [ticket_id])), None)

    def full(self, protocol: str) -> Row | None:
        """A ticket with ``messages`` (each with ``attachments``) and ``events``, oldest first."""
        ticket = self.by_protocol(protocol)
        if ticket is None:
            return None
        ticket.messages = self._rows("message", "SELECT * FROM message WHERE ticket_id = ? ORDER BY id", [ticket.id])
        attachments: dict[int, list[Row]] = {message.id: [] for message in ticket.messages}
        ids = list(attachments)
        for start in range(0, len(ids), _IDS_PER_SELECT):  # by the ids read, as the ORM's selectinload
            chunk = ids[start:start + _IDS_PER_SELECT]
            for row in self._rows("attachment", f"SELECT * FROM attachment WHERE message_id IN "
                                  f"({', '.join('?' * len(chunk))}) ORDER BY id", chunk):
                attachments[row.message_id].append(row)
        for message in ticket.messages:
            message.attachments = attachments[message.id]
        ticket.events = self._rows("event", "SELECT * FROM event WHERE ticket_id = ? ORDER BY id", [ticket.id])
        return ticket

    def participants(self, ticket_id: int) -> set[str]:
        return {row.address for row in self._rows("participant", "SELECT address FROM participant "
                                                  "WHERE ticket_id = ?", [ticket_id])}

    def fields_of(self, ticket_id: int) -> dict[str, tuple[str, bool]]:
        rows = self._rows("ticket_field", "SELECT name, value, valid FROM ticket_field WHERE ticket_id = ? "
                          "ORDER BY name", [ticket_id])
        return {row.name: (row.value, row.valid) for row in rows}

    def outbox_of(self, ticket_id: int) -> list[Row]:
        return self._rows("outbox", "SELECT message_id, status FROM outbox WHERE ticket_id = ? ORDER BY id",
                          [ticket_id])

    def _rows(self, table: str, sql: str, params: Sequence[Any]) -> list[Row]:
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql if self._sqlite else sql.replace("?", "%s"), list(params))
            names = [column[0] for column in cursor.description]
            found = cursor.fetchall()
        finally:
            cursor.close()
        convert = [self._converter(table, name) for name in names]
        return [Row(**{name: to(value) for name, to, value in zip(names, convert, values)}) for values in found]

    def _converter(self, table: str, column: str) -> Any:
        """What turns a stored value into the ORM's Python value.

        PostgreSQL's driver already gives booleans, parsed JSON and aware
        datetimes (put in UTC here, as ``models.UtcDateTime`` does); SQLite
        gives text and integers, read by each column's declared type, the
        type SQLAlchemy created it with."""
        if not self._sqlite:
            return _utc_if_datetime
        if table not in self._declared:
            cursor = self._connection.execute(f'PRAGMA table_info("{table}")')
            self._declared[table] = {row[1]: (row[2] or "").upper() for row in cursor.fetchall()}
        return _SQLITE_TYPES.get(self._declared[table].get(column, ""), _same)


class DirectInbox(_Connected):
    """The MTA pipe's door on a database at head: the mail stored as
    ``Ingest``'s writer stores it (the row of ``delivery.inbox_row``, status
    ``accepted``, committed before the pipe exits 0), and left to a worker,
    without loading the pipeline; the ``processor`` table says whether one
    runs, and claims the start of one.  A test compares the stored text of
    both writers' rows, column by column."""

    def __init__(self, connection: Any, *, sqlite: bool, rejects: Path) -> None:
        super().__init__(connection, sqlite=sqlite)
        self.rejects = rejects  # beside the database, as the full path keeps a mail nothing can accept

    def processor_alive(self) -> bool:
        """Whether a processing worker renewed its row within ``ALIVE_WITHIN``
        seconds, by the database's clock (a row dated ahead of it by more than
        a few seconds is ignored; the marks, ``!...``, are no workers).  Any
        error answers False: the pipe then has a process started for its
        mail, never bounces it."""
        if self._sqlite:
            sql = ("SELECT count(*) FROM processor WHERE seen_at > strftime('%Y-%m-%d %H:%M:%f', 'now', ?) "
                   "AND seen_at <= strftime('%Y-%m-%d %H:%M:%f', 'now', ?) AND node NOT LIKE '!%'")
            params: list[Any] = [f"-{ALIVE_WITHIN} seconds", f"+{_AHEAD} seconds"]
        else:
            sql = ("SELECT count(*) FROM processor WHERE seen_at > now() - make_interval(secs => %s) "
                   "AND seen_at <= now() + make_interval(secs => %s) AND node NOT LIKE '!%%'")
            params = [ALIVE_WITHIN, _AHEAD]
        return bool(self._ask(sql, params, "whether a processing worker runs", failed=0))

    def not_ready(self) -> bool:
        """Whether the last ``gateway process`` a pipe started could not
        start (``store.processors.NOT_READY``): a broken rule file, which
        only the full path, loading the rules, can name (and answer 75 for)."""
        mark = "?" if self._sqlite else "%s"
        return bool(self._ask(f"SELECT count(*) FROM processor WHERE node = {mark}", [NOT_READY],
                              "whether processing can start", failed=0))

    def claim_start(self) -> bool:
        """Whether this pipe is the one to start ``gateway process``: the
        ``!starting`` mark set now, unless another pipe set it within
        ``ALIVE_WITHIN`` seconds (its process is starting, and will take
        this mail).  A burst of pipes starts one process, not one per mail.
        Any error answers True: two processes are better than none."""
        if self._sqlite:
            sql = (f"INSERT INTO processor (node, seen_at) VALUES (?, {SQLITE_NOW}) "
                   "ON CONFLICT (node) DO UPDATE SET seen_at = excluded.seen_at "
                   "WHERE processor.seen_at <= strftime('%Y-%m-%d %H:%M:%f', 'now', ?) RETURNING 1")
            params: list[Any] = [STARTING, f"-{ALIVE_WITHIN} seconds"]
        else:
            sql = ("INSERT INTO processor (node, seen_at) VALUES (%s, now()) "
                   "ON CONFLICT (node) DO UPDATE SET seen_at = excluded.seen_at "
                   "WHERE processor.seen_at <= now() - make_interval(secs => %s) RETURNING 1")
            params = [STARTING, ALIVE_WITHIN]
        return self._ask(sql, params, "whether a gateway process is starting", failed=1, write=True) is not None

    def _ask(self, sql: str, params: list[Any], what: str, *, failed: int, write: bool = False) -> Any:
        """One statement's first column (``None`` without a row), in a
        transaction of its own; ``failed`` when it cannot be asked (no
        table, no right to it, a dropped connection), logged."""
        try:
            cursor = self._connection.cursor()
            try:
                if write and self._sqlite:
                    cursor.execute("BEGIN IMMEDIATE")
                cursor.execute(sql, params)
                row = cursor.fetchone()
                if write and self._sqlite:
                    cursor.execute("COMMIT")
            finally:
                cursor.close()
            if not self._sqlite:
                self._connection.commit()  # end the read; the insert is a transaction of its own
        except Exception as error:  # noqa: BLE001 - no table, no right to read it, a dropped connection
            try:
                self._connection.rollback()  # PostgreSQL: the failed statement ended the transaction
            except Exception:  # noqa: BLE001 - a connection gone: accept says so if used
                pass
            _log.warning("could not tell %s (%s: %s)", what, type(error).__name__, _first_line(error))
            return failed
        return None if row is None else row[0]

    def accept(self, delivery: Delivery) -> Receipt:
        """Store the mail; return only after the commit (or a TEMPFAIL)."""
        started, row = time.perf_counter(), inbox_row(delivery)
        try:
            inbox_id = self._insert(row)
        except Exception as error:  # the database is full or locked: the MTA keeps the mail and retries
            _close(self._connection)
            return Receipt(ReceiptStatus.TEMPFAIL, reason=f"storage unavailable: {_first_line(error)}")
        log_accepted(_log, delivery, row, inbox_id, time.perf_counter() - started)
        return Receipt(ReceiptStatus.ACCEPTED, inbox_id=inbox_id)

    def _insert(self, row: dict[str, Any]) -> int:
        """The inbox row, and its bytes beside it in ``inbox_raw`` (models.InboxRawRow)."""
        values = [self._stored(name, row[name]) for name in ENVELOPE_COLUMNS]
        mark = "?" if self._sqlite else "%s"
        sql = (f"INSERT INTO inbox ({', '.join(ENVELOPE_COLUMNS)}, status) "
               f"VALUES ({', '.join([mark] * len(values))}, 'accepted') RETURNING id")
        cursor = self._connection.cursor()
        try:
            if self._sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(sql, values)
            (inbox_id,) = cursor.fetchone()
            cursor.execute(f"INSERT INTO inbox_raw (inbox_id, raw) VALUES ({mark}, {mark})", [inbox_id, row["raw"]])
            if self._sqlite:
                cursor.execute("COMMIT")
        finally:
            cursor.close()
        if not self._sqlite:
            self._connection.commit()
        return int(inbox_id)

    def _stored(self, name: str, value: Any) -> Any:
        """A field as the ORM's column type hands it to the driver."""
        if name == "received_at":
            return sqlite_text(value) if self._sqlite else value
        if name == "rcpt_tos":  # SQLAlchemy's JSON type: json.dumps's text on SQLite, json on PostgreSQL
            if self._sqlite:
                return json.dumps(value)
            from psycopg.types.json import Json

            return Json(value)
        return value


def _same(value: Any) -> Any:
    return value


def _utc_if_datetime(value: Any) -> Any:
    return value.astimezone(timezone.utc) if isinstance(value, datetime) else value


def _sqlite_datetime(value: Any) -> datetime | None:
    """SQLAlchemy's stored text, ``2026-12-07 00:24:33.787000`` (UTC), as an aware datetime."""
    return None if value is None else from_sqlite_text(value)


def _sqlite_boolean(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _sqlite_json(value: Any) -> Any:
    return None if value is None else json.loads(value)


_SQLITE_TYPES: Final = {"DATETIME": _sqlite_datetime, "BOOLEAN": _sqlite_boolean, "JSON": _sqlite_json}


class Unreachable(Exception):
    """The database did not answer (refused, timed out, locked past the
    busy timeout): the full path would wait as long again before saying
    so, so the command says so at once, in the full path's words: the URL,
    password hidden, and the cause."""


def open_reads(storage: StorageConfig) -> DirectReads | None:
    """Reads on ``storage`` without SQLAlchemy, or ``None`` when the full
    path must answer (see the module's docstring for when).  Raises
    :class:`Unreachable` when the database did not answer."""
    opened = _opened(storage, write=False)
    return DirectReads(opened[0], sqlite=opened[1]) if opened else None


def open_inbox(storage: StorageConfig) -> DirectInbox | None:
    """The MTA pipe's inbox on ``storage``, or ``None`` when the full path
    must answer (as :func:`open_reads`)."""
    opened = _opened(storage, write=True)
    if opened is None:
        return None
    connection, sqlite = opened
    return DirectInbox(connection, sqlite=sqlite, rejects=storage.pipe_place() / "rejected")


def _opened(storage: StorageConfig, *, write: bool) -> tuple[Any, bool] | None:
    """A driver connection to a database at head: (connection, whether
    SQLite), or ``None``."""
    url = storage.url
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme in _SQLITE_SCHEMES and rest.startswith("/"):
        sqlite = True
        open_ = lambda: _sqlite(rest[1:], write=write, synchronous=storage.sqlite_synchronous)  # noqa: E731
    elif scheme in _POSTGRESQL_SCHEMES and not any(mark in rest for mark in "?,"):
        # Query options (several hosts, sslrootcert...) are read one way by
        # SQLAlchemy and another by libpq: such a URL is the full path's.
        sqlite = False
        open_ = lambda: _postgresql("postgresql://" + rest, write=write)  # noqa: E731
    else:
        return None
    try:
        connection = open_()
    except ImportError:  # psycopg not installed: the full path names the extra to install
        return None
    except Exception as error:
        if sqlite and _not_a_database(error):
            return None
        raise Unreachable(f"{_masked(url)}: cannot connect: {_first_line(error)}") from error
    if connection is None:
        return None
    try:
        revision = _revision(connection)
    except Exception as error:
        _close(connection)
        if _no_table(error) or (sqlite and _not_a_database(error)):
            return None  # empty, or not ours: the full path creates or refuses it
        raise Unreachable(f"{_masked(url)}: {_first_line(error)}") from error
    if revision == head():
        return connection, sqlite
    _close(connection)  # behind or ahead: the full path refuses it, naming the fix
    return None


def _close(connection: Any) -> None:
    """Undo whatever the connection began (it only read, or wrote and
    committed), then close it; a connection already gone has nothing to undo."""
    try:
        connection.rollback()
    except Exception:  # noqa: BLE001 - the error that ended its use is the one to show
        pass
    finally:
        connection.close()


_SQLITE_SCHEMES: Final = frozenset({"sqlite", "sqlite+pysqlite"})
_POSTGRESQL_SCHEMES: Final = frozenset({"postgresql+psycopg"})


def _sqlite(path: str, *, write: bool, synchronous: str) -> Any:
    """An existing database file: for reading, read-only in one deferred
    transaction; for writing, with ``store.db``'s pragmas (WAL, the
    configured ``synchronous``), each write in its own ``BEGIN IMMEDIATE``."""
    import sqlite3

    if not path or path == ":memory:" or "?" in path or "%" in path or not Path(path).is_file():
        return None  # a new database is created by the full path; a URL with options is its to read
    connection = sqlite3.connect(path, timeout=SQLITE_BUSY_SECONDS, isolation_level=None)
    try:
        if write:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA synchronous={synchronous}")  # FULL, NORMAL or EXTRA (config checks)
            connection.execute("PRAGMA foreign_keys=ON")
        else:
            connection.execute("PRAGMA query_only = ON")
            connection.execute("BEGIN")  # one snapshot for every read (WAL: the writer is not blocked)
    except BaseException:
        connection.close()
        raise
    return connection


def _postgresql(uri: str, *, write: bool) -> Any:
    import psycopg

    connection = psycopg.connect(uri)
    if write:
        # Whatever the server's default: a claim's ON CONFLICT DO UPDATE
        # waits for a concurrent one instead of failing to serialise (which
        # would count as a win for both: DirectInbox.claim_start).
        connection.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
    else:
        # Set before the transaction the first SELECT begins: one snapshot for
        # every read of a command, as SQLite's BEGIN gives (a mail committed
        # between two SELECTs is in both or in neither), and no writes.
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
    return connection


def _revision(connection: Any) -> str | None:
    cursor = connection.cursor()
    try:
        cursor.execute("SELECT version_num FROM alembic_version")
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return rows[0][0] if len(rows) == 1 else None


def _no_table(error: Exception) -> bool:
    """No ``alembic_version``: an empty database or not a gateway's."""
    return "no such table" in str(error) or type(error).__name__ == "UndefinedTable"


def _not_a_database(error: Exception) -> bool:
    """A file SQLite cannot read as a database (the full path says so)."""
    return type(error).__name__ == "DatabaseError" and "not a database" in str(error)


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _masked(url: str) -> str:
    """``url`` with its password as ``***``, as SQLAlchemy renders it for the full path."""
    scheme, sep, rest = url.partition("://")
    credentials, at, place = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{place}"
