"""Hot statements compiled once per dialect and run on the driver's cursor.

Each mail processed, and each due ticket acted on, runs about a dozen
small statements.  Measured (bench/results/ingest.md, deadlines.md),
SQLAlchemy's work around one execution -- building the execution context,
processing parameters, setting up a result -- cost 70-100 µs, more than
SQLite took to run the statement, and was the larger part of each mail's
cost.  For the statements on those paths, ``Compiled`` lets SQLAlchemy
compile the statement and find each parameter's type conversion once per
dialect, then hands the SQL and the converted values straight to the
driver's cursor, on the session's own connection, inside its transaction.

Everything else goes through the Session as usual; this is for fixed
statements with plain bound values (no expanding ``IN``, no ORM objects
returned).  The result is the driver's rows: plain tuples.

Append-only rows nobody needs the id of (events, sent mails' timeline
rows, outbox rows) can be *deferred*: kept with the transaction and
written together, one ``executemany`` per statement, which psycopg sends
as one pipelined round trip.  On PostgreSQL each statement was a round
trip of ~0.3 ms and most of a due ticket's cost.  Deferred rows are
written before the commit, before any statement run through the Session,
before a compiled statement that touches their table (so ids keep the
order of events), and before a savepoint begins; a rollback drops them
with the rest.  The few reads that must see them without writing them
first (a ticket's thread, its last question, the hourly answer count)
merge ``deferred_rows`` themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Table, bindparam, event, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.util import find_tables


_MISSING: Final = object()
_CURSOR: Final = "gateway.compiled.cursor"  # (transaction, dialect name, driver cursor) in Session.info
_DEFERRED: Final = "gateway.compiled.deferred"  # [(Compiled, form, values, params)] in Session.info
_DEFERRED_TABLES: Final = "gateway.compiled.deferred_tables"  # the tables those rows go to
_DEFERRED_OWNERS: Final = "gateway.compiled.deferred_owners"  # table -> the one Compiled deferring rows into it


@dataclass(frozen=True)
class _Form:
    """One statement as one dialect's driver takes it."""

    sql: str
    names: tuple[str, ...]  # the bound parameters, in the driver's order (positional styles)
    positional: bool
    # Per name in ``names``: its type's bind processor, and the value used
    # when none is given (bound in the statement itself, like the 1 of
    # ``last + 1``, or a column's default), else _MISSING.
    slots: tuple[tuple[str, Callable[[Any], Any] | None, Any], ...]
    readers: tuple[Callable[[Any], Any] | None, ...]  # per result column, its type's result processor


class Compiled:
    """A statement built once and run without SQLAlchemy's per-execution work."""

    def __init__(self, statement: ClauseElement, *, defaults: Mapping[str, Any] | None = None) -> None:
        self.statement = statement
        self.defaults = dict(defaults or {})  # values of parameters not given
        self.tables = frozenset(t.name for t in find_tables(statement, include_crud=True))
        self._forms: dict[str, _Form] = {}

    def defer(self, tx: Session, params: Mapping[str, Any]) -> None:
        """Write this row with the transaction's other deferred rows (see the module's docstring)."""
        form, _ = self._prepare(tx, merged=True)
        owners = tx.info.setdefault(_DEFERRED_OWNERS, {})
        if any(owners.setdefault(table, self) is not self for table in self.tables):
            # Rows are written grouped by statement: two deferred statements
            # on one table could swap their ids, so the other's go first.
            flush_deferred(tx)
            owners = tx.info.setdefault(_DEFERRED_OWNERS, {})
            owners.update(dict.fromkeys(self.tables, self))
        tx.info.setdefault(_DEFERRED, []).append((self, form, self._values(form, params), params))
        tx.info.setdefault(_DEFERRED_TABLES, set()).update(self.tables)

    def execute(self, tx: Session, params: Mapping[str, Any]) -> Any:
        """Run once; the driver's cursor (``fetchone``/``fetchall`` for RETURNING or SELECT)."""
        form, cursor = self._prepare(tx)
        cursor.execute(form.sql, self._values(form, params))
        return cursor

    def executemany(self, tx: Session, rows: Iterable[Mapping[str, Any]]) -> None:
        """Run for each row: one call to the driver (psycopg pipelines it into one round trip)."""
        form, cursor = self._prepare(tx)
        values = [self._values(form, row) for row in rows]
        if values:
            cursor.executemany(form.sql, values)

    def scalar(self, tx: Session, params: Mapping[str, Any], *, merged: bool = False) -> Any:
        row = self.first(tx, params, merged=merged)
        return None if row is None else row[0]

    def first(self, tx: Session, params: Mapping[str, Any], *, merged: bool = False) -> tuple[Any, ...] | None:
        """The first row, its values as the ORM would read them (aware datetimes,
        JSON decoded).  ``merged``: the caller adds the deferred rows itself."""
        form, cursor = self._prepare(tx, merged=merged)
        cursor.execute(form.sql, self._values(form, params))
        row = cursor.fetchone()
        return None if row is None else _read(form, row)

    def all(self, tx: Session, params: Mapping[str, Any], *, merged: bool = False) -> list[tuple[Any, ...]]:
        """Every row, read as ``first`` reads one."""
        form, cursor = self._prepare(tx, merged=merged)
        cursor.execute(form.sql, self._values(form, params))
        return [_read(form, row) for row in cursor.fetchall()]

    # -- internals ----------------------------------------------------------

    def _prepare(self, tx: Session, *, merged: bool = False) -> tuple[_Form, Any]:
        if not merged and tx.info.get(_DEFERRED) and not self.tables.isdisjoint(tx.info[_DEFERRED_TABLES]):
            flush_deferred(tx)
        transaction = tx.get_nested_transaction() or tx.get_transaction()
        held = tx.info.get(_CURSOR)
        if held is None or held[0] is not transaction or transaction is None or not transaction.is_active:
            # Session.connection() begins the transaction if needed (BEGIN
            # IMMEDIATE on SQLite, through the engine's begin event), and
            # the SAVEPOINT of a nested one, which the Session emits only
            # then; the cursor is kept while that transaction is innermost.
            connection = tx.connection()
            innermost = tx.get_nested_transaction() or tx.get_transaction()
            held = (innermost, connection.dialect.name, connection.connection.dbapi_connection.cursor())  # type: ignore[union-attr]
            tx.info[_CURSOR] = held
        _, dialect_name, cursor = held
        form = self._forms.get(dialect_name)
        if form is None:
            form = self._forms[dialect_name] = _compile(self.statement, tx.get_bind().dialect, self.defaults)
        return form, cursor

    def _values(self, form: _Form, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        values = []
        get = params.get
        for name, convert, fallback in form.slots:
            value = get(name, fallback)
            if value is _MISSING:
                raise ValueError(f"compiled statement: no value for parameter {name!r}; "
                                 f"expected {', '.join(form.names)}")
            if convert is not None:  # with None too: JSON writes 'null' as the ORM does
                value = convert(value)
            values.append(value)
        return values if form.positional else dict(zip(form.names, values))


def insert_of(table: Table, *, returning: str | None = None) -> Compiled:
    """An INSERT of every column but an autoincrement key; a value not
    given takes the column's Python-side default (as the ORM would), or NULL."""
    columns = [c for c in table.columns if c is not table.autoincrement_column]
    statement = insert(table).values({c.key: bindparam(c.key, type_=c.type) for c in columns})
    defaults: dict[str, Any] = {}
    for column in columns:
        default = column.default
        if default is None:
            defaults[column.key] = None
        elif getattr(default, "is_scalar", False):
            defaults[column.key] = default.arg  # type: ignore[attr-defined]
        elif getattr(default, "is_callable", False):
            raise ValueError(f"compiled insert into {table.name}: column {column.key!r} has a callable "
                             "default; give it a scalar default or pass a value each time")
    return Compiled(statement.returning(table.c[returning]) if returning else statement, defaults=defaults)


def _compile(statement: ClauseElement, dialect: Dialect, defaults: Mapping[str, Any]) -> _Form:
    compiled = statement.compile(dialect=dialect)
    binds = compiled.binds
    for name, bind in binds.items():
        if bind.expanding or getattr(bind, "literal_execute", False):
            raise ValueError(f"compiled statement: parameter {name!r} expands at execution; "
                             "run this statement through the Session instead")
    converters = []
    for name, bind in binds.items():
        convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if convert is not None:
            converters.append((name, convert))
    positional = bool(dialect.positional)
    names = tuple(compiled.positiontup or ()) if positional else tuple(binds)
    # SQLAlchemy renders a name it must escape under another one; the
    # statements given here use plain names, so that never happens.
    assert not getattr(compiled, "escaped_bind_names", None), compiled.escaped_bind_names
    fixed = {**{name: bind.effective_value for name, bind in binds.items() if not bind.required}, **defaults}
    convert_of = dict(converters)
    slots = tuple((name, convert_of.get(name), fixed.get(name, _MISSING)) for name in names)
    # A SELECT's values are read as their types say; an INSERT's RETURNING
    # gives back ids, which need no reading.
    columns = getattr(statement, "selected_columns", ())
    readers = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
    return _Form(sql=compiled.string, names=names, positional=positional, slots=slots,
                 readers=readers if any(readers) else ())


def _read(form: _Form, row: Sequence[Any]) -> tuple[Any, ...]:
    if not form.readers:
        return tuple(row)
    return tuple(value if read is None or value is None else read(value) for read, value in zip(form.readers, row))


def deferred_rows(tx: Session, statement: Compiled) -> list[Mapping[str, Any]]:
    """The parameters of the rows deferred for ``statement`` and not yet written, oldest first."""
    return [params for compiled, _, _, params in tx.info.get(_DEFERRED, ()) if compiled is statement]


def flush_deferred(tx: Session) -> None:
    """Write the deferred rows: one ``executemany`` per statement, in the
    order each statement was first deferred."""
    rows = tx.info.pop(_DEFERRED, None)
    tx.info.pop(_DEFERRED_TABLES, None)
    tx.info.pop(_DEFERRED_OWNERS, None)
    if not rows:
        return
    # The cursor they were deferred on: asking the Session for a connection
    # here could open a savepoint that is being created (see _nested).
    cursor = tx.info[_CURSOR][2]
    groups: dict[str, list[Any]] = {}
    for _, form, values, _ in rows:
        groups.setdefault(form.sql, []).append(values)
    for sql, values in groups.items():
        cursor.executemany(sql, values)


@event.listens_for(Session, "do_orm_execute")
def _before_session_statement(state: Any) -> None:
    # Anything run through the Session may read the deferred rows' tables.
    if state.session.info.get(_DEFERRED):
        flush_deferred(state.session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.info.get(_DEFERRED):
        flush_deferred(session)


@event.listens_for(Session, "after_transaction_create")
def _nested(session: Session, transaction: SessionTransaction) -> None:
    # Rows deferred before a savepoint belong before it: its rollback must not take them.
    if transaction.nested and session.info.get(_DEFERRED):
        flush_deferred(session)


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    # Only rows deferred since the innermost savepoint began can be pending
    # (older ones were written when it began), and the rollback undoes that span.
    _forget(session)


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction is over (commit, rollback or close): its
    # cursor and anything still deferred must not outlive it.
    if transaction.parent is None:
        _forget(session)
        session.info.pop(_CURSOR, None)


def _forget(session: Session) -> None:
    for key in (_DEFERRED, _DEFERRED_TABLES, _DEFERRED_OWNERS):
        session.info.pop(key, None)
