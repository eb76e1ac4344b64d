"""Engine, sessions and transactions; the schema is Alembic's business.

SQLite is the default so ``make run`` needs nothing installed: WAL so
readers never block the writer, ``synchronous=FULL`` so a commit survives
power loss (the SMTP ``250`` promise), and ``BEGIN IMMEDIATE`` so two
writers queue on the lock instead of failing to upgrade a read lock.
PostgreSQL is used by URL for several nodes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import sessionmaker

from gateway.config import StorageConfig
from gateway.errors import ConfigError
from gateway.store.direct import SQLITE_BUSY_SECONDS
from gateway.store.tx import Tx

if TYPE_CHECKING:
    from gateway.store.compiled import Compiled


Transaction = Tx  # what every ``tx`` parameter is: a Session with the store's write-behind (store.tx)

READ_ONLY: Final = "gateway_read_only"  # execution option: begin DEFERRED on SQLite (Database.reading)


class Database:
    """One engine and the transactions every other package runs in (each a
    ``Tx``: a Session that also keeps the store's pending rows, store.tx)."""

    def __init__(self, config: StorageConfig) -> None:
        self.url = make_url(config.url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.is_postgres = self.url.get_backend_name() == "postgresql"
        if self.is_sqlite and self.url.database and self.url.database != ":memory:":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {}
        if self.is_sqlite:
            options["connect_args"] = {"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False}
        else:
            options.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        try:
            self.engine: Engine = create_engine(self.url, **options)
        except ModuleNotFoundError as exc:  # the driver is an extra, not in the base install
            raise ConfigError("[storage] url", self.url.drivername,
                              f"its driver module {exc.name!r} is not installed; "
                              "pip install 'ticket-gateway[postgresql]' into the gateway's venv") from exc
        if self.is_sqlite:
            _sqlite_pragmas(self.engine, config.sqlite_synchronous)
        self._sessions = sessionmaker(self.engine, class_=Tx, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """Commit on leaving, roll back on an exception."""
        with self._sessions() as session, session.begin():
            yield session

    def autocommit(self) -> Autocommit:
        """Single statements that commit by themselves, on one connection
        kept between them (close it with ``close`` or ``with``)."""
        return Autocommit(self)

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        """A transaction that only reads.  On SQLite it begins DEFERRED and so
        reads the last commit (WAL) instead of queueing behind the writer's
        ``BEGIN IMMEDIATE``: ``/healthz`` answers while a mail, or a group of
        them, is being processed.  Writing in it may fail with "database is
        locked"; use :meth:`transaction` for that."""
        with self._sessions() as session, session.begin():
            session.connection(execution_options={READ_ONLY: True})
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision, under the schema
        lock (``gateway db upgrade``; store.schema says who may call it)."""
        from gateway.store import schema

        schema.upgrade(self)

    def dispose(self) -> None:
        self.engine.dispose()


class Autocommit:
    """Writes of one statement each, every one committed by itself, on a
    connection kept for many of them.

    The sender settles each mail as its SMTP transaction ends (a crash
    re-sends at most the mail in flight).  Through a Session that was a
    pool checkout with its ping, BEGIN, the UPDATE and COMMIT: four round
    trips on PostgreSQL and more Python than the SMTP transaction itself.
    Here it is the UPDATE alone, in autocommit, as durable (the server
    answers once the commit is flushed; on SQLite, with no BEGIN, the
    statement is its own transaction).  A statement that raises discards
    the connection: the next one takes a checked one from the pool.  A
    connection found dead (the server restarted, a pooler's idle timeout
    over a long pass) is replaced and the statement run once more, so the
    statements given must be idempotent (the settle is an UPDATE by id).
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._connection: Connection | None = None
        self._cursor: Any = None

    def execute(self, statement: Compiled, params: Mapping[str, Any]) -> int:
        """Run ``statement`` once with ``params``; the rows it changed."""
        for attempt in (1, 2):
            try:
                return self._run(statement, params)
            except BaseException as error:
                again = attempt == 1 and isinstance(error, Exception) and self._dropped(error)
                self.close(invalidate=True)
                if not again:  # else once more, on a fresh connection
                    raise
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _run(self, statement: Compiled, params: Mapping[str, Any]) -> int:
        if self._connection is None:
            self._open()
        assert self._connection is not None
        sql, (values,) = statement.driver_rows(self._connection.dialect, (params,))
        self._cursor.execute(sql, values)
        return int(self._cursor.rowcount)

    def _open(self) -> None:
        connection = self._db.engine.connect()  # checked by the pool's ping
        try:
            if self._db.is_postgres:  # reset when the connection goes back to the pool
                connection.execution_options(isolation_level="AUTOCOMMIT")
            # SQLite's connections begin nothing by themselves (see _sqlite_pragmas).
            dbapi_connection = connection.connection.dbapi_connection
            assert dbapi_connection is not None
            self._connection, self._cursor = connection, dbapi_connection.cursor()
        except BaseException:
            connection.invalidate()
            connection.close()
            raise

    def _dropped(self, error: Exception) -> bool:
        """Whether ``error`` says the connection itself is gone (not the statement wrong)."""
        connection = self._connection
        if connection is None:
            return False
        try:
            return bool(connection.dialect.is_disconnect(error, connection.connection.dbapi_connection,
                                                         self._cursor))
        except Exception:  # noqa: BLE001 - a dialect that cannot tell: not a drop
            return False

    def close(self, *, invalidate: bool = False) -> None:
        """Give the connection back; ``invalidate``: discard it instead (a
        statement failed on the driver's cursor, which SQLAlchemy never saw:
        the connection may be the dead one, and resetting it in the pool
        would only log another error)."""
        connection, cursor, self._connection, self._cursor = self._connection, self._cursor, None, None
        if connection is None:
            return
        if cursor is not None and not invalidate:
            cursor.close()
        if invalidate:
            connection.invalidate()
        connection.close()

    def __enter__(self) -> Autocommit:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _sqlite_pragmas(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # A savepoint (one per mail of a processing group) copies each page it
        # first changes aside; past 64 KiB those copies went to a temporary
        # file, a write per page inside the write lock.  In memory instead;
        # so are a big sort's spill and a VACUUM's or a new index's work
        # (the gateway runs none on the hot path; the host has the memory).
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
