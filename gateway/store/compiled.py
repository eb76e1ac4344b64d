"""Hot statements compiled once per dialect and run on the driver's cursor.

Each mail processed, and each due ticket acted on, runs about a dozen
small statements.  SQLAlchemy's work around one execution -- building the
execution context, processing parameters, setting up a result -- cost
more than SQLite took to run the statement, and was the larger part of
each mail's cost (``bench/results/notes.md``).  For the statements on those paths, ``Compiled`` lets SQLAlchemy
compile the statement and find each parameter's type conversion once per
dialect, then hands the SQL and the converted values straight to the
driver's cursor, on the transaction's own connection, inside it (the
cursor is the transaction's: ``Tx.cursor_for``).

Everything else goes through the Session as usual; this is for fixed
statements with plain bound values (no expanding ``IN``, no ORM objects
returned).  The result is the driver's rows: plain tuples.

Append-only rows nobody needs the id of (events, sent mails' timeline
rows, outbox rows) can be *deferred* (``defer``): kept by the transaction
and written together, one ``executemany`` per statement, which psycopg
sends as one pipelined round trip.  On PostgreSQL each statement's round
trip was most of a due ticket's cost.  ``store.tx`` says
when they are written and how a read sees them before that.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, sqltypes
from sqlalchemy.sql.util import find_tables

if TYPE_CHECKING:
    from gateway.store.tx import Tx

_MISSING: Final = object()


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
    # The parameters as the driver takes them: a tuple in ``names``' order
    # (positional styles) or a dict; built from ``slots`` (see _values_function).
    values: Callable[[Mapping[str, Any]], Any]


class Compiled:
    """A statement built once and run without SQLAlchemy's per-execution work.

    ``statement`` may be a function that builds it: it is then built on
    first use, not when the module defining it is imported (a command that
    never runs it does not pay for it; issue 19)."""

    def __init__(self, statement: ClauseElement | Callable[[], ClauseElement], *,
                 defaults: Mapping[str, Any] | None = None) -> None:
        self._statement = statement
        self.defaults = dict(defaults or {})  # values of parameters not given
        self._forms: dict[str, _Form] = {}

    @cached_property
    def statement(self) -> ClauseElement:
        built = self._statement
        return built if isinstance(built, ClauseElement) else built()

    @cached_property
    def tables(self) -> frozenset[str]:
        """The tables it reads or writes (``store.tx``: pending rows for them are written first)."""
        return frozenset(t.name for t in find_tables(self.statement, include_crud=True))

    def defer(self, tx: Tx, params: Mapping[str, Any]) -> None:
        """Write this row with the transaction's other pending rows (``store.tx``)."""
        form, _ = self._prepare(tx, merged=True)  # the cursor the rows will be written on
        tx.defer(self, form.sql, form.values(params), params)

    def execute(self, tx: Tx, params: Mapping[str, Any]) -> Any:
        """Run once; the driver's cursor (``fetchone``/``fetchall`` for RETURNING or SELECT)."""
        form, cursor = self._prepare(tx)
        cursor.execute(form.sql, form.values(params))
        return cursor

    def executemany(self, tx: Tx, rows: Iterable[Mapping[str, Any]]) -> None:
        """Run for each row: one call to the driver (psycopg pipelines it into one round trip)."""
        form, cursor = self._prepare(tx)
        values = [form.values(row) for row in rows]
        if values:
            cursor.executemany(form.sql, values)

    def scalar(self, tx: Tx, params: Mapping[str, Any], *, merged: bool = False) -> Any:
        row = self.first(tx, params, merged=merged)
        return None if row is None else row[0]

    def first(self, tx: Tx, params: Mapping[str, Any], *, merged: bool = False) -> tuple[Any, ...] | None:
        """The first row, its values as the ORM would read them (aware datetimes,
        JSON decoded).  ``merged``: the caller adds ``tx.pending`` rows itself."""
        form, cursor = self._prepare(tx, merged=merged)
        cursor.execute(form.sql, form.values(params))
        row = cursor.fetchone()
        return None if row is None else _read(form, row)

    def all(self, tx: Tx, params: Mapping[str, Any], *, merged: bool = False) -> list[tuple[Any, ...]]:
        """Every row, read as ``first`` reads one."""
        form, cursor = self._prepare(tx, merged=merged)
        cursor.execute(form.sql, form.values(params))
        return [_read(form, row) for row in cursor.fetchall()]

    def driver_rows(self, dialect: Dialect, rows: Iterable[Mapping[str, Any]]) -> tuple[str, list[Any]]:
        """The SQL and each row's values as ``dialect``'s driver takes them,
        for a writer on a connection of its own (``inbox.InboxWriter``)."""
        form = self._form(dialect)
        values = form.values
        return form.sql, [values(row) for row in rows]

    # -- internals ----------------------------------------------------------

    def _prepare(self, tx: Tx, *, merged: bool = False) -> tuple[_Form, Any]:
        dialect_name, cursor = tx.cursor_for(self.tables, merged=merged)
        form = self._forms.get(dialect_name)
        if form is None:
            form = self._form(tx.get_bind().dialect)
        return form, cursor

    def _form(self, dialect: Dialect) -> _Form:
        form = self._forms.get(dialect.name)
        if form is None:
            form = self._forms[dialect.name] = _compile(self.statement, dialect, self.defaults)
        return form


def insert_of(table: Table, *, returning: str | None = None, only: Collection[str] | None = None,
              fixed: Mapping[str, Any] | None = None) -> Compiled:
    """An INSERT of every column but an autoincrement key (or of the
    columns named in ``only``); a value not given takes the column's
    Python-side default (as the ORM would), or NULL, or the one in
    ``fixed``.  A column whose default is computed for each row (a
    callable) has nothing to fall back on: give it a value each time."""
    columns = [c for c in table.columns if c is not table.autoincrement_column and (only is None or c.key in only)]
    statement = insert(table).values({c.key: bindparam(c.key, type_=c.type) for c in columns})
    defaults: dict[str, Any] = {}
    for column in columns:
        default = column.default
        if default is None:
            defaults[column.key] = None
        elif getattr(default, "is_scalar", False):
            defaults[column.key] = default.arg  # type: ignore[attr-defined]
    defaults.update(fixed or {})
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
            if isinstance(bind.type, sqltypes.JSON):
                convert = _remembering_lists_of_strings(convert)
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
                 readers=readers if any(readers) else (), values=_values_function(names, positional, slots))


def _values_function(names: tuple[str, ...], positional: bool,
                     slots: tuple[tuple[str, Callable[[Any], Any] | None, Any], ...]) -> Callable[[Mapping[str, Any]], Any]:
    """A function from the parameters as given to the values the driver
    takes, written out for this one statement, as ``dataclasses`` writes
    an ``__init__``: per slot, the value given or its fallback, through the
    type's conversion (with None too: JSON writes 'null' as the ORM does).

    A loop over the slots costs more, and every row written or statement
    run on the hot paths pays it (a ticket's row has 35 values).
    """
    namespace: dict[str, Any] = {"_missing": _missing, "_names": names}
    reads = []
    required = []
    for index, (name, convert, fallback) in enumerate(slots):
        if fallback is _MISSING:
            read = f"params[{name!r}]"
            required.append(name)
        elif fallback is None:
            read = f"get({name!r})"
        else:
            namespace[f"fallback_{index}"] = fallback
            read = f"get({name!r}, fallback_{index})"
        if convert is not None:
            namespace[f"convert_{index}"] = convert
            read = f"convert_{index}({read})"
        reads.append(read)
    if positional:
        result = "(" + "".join(f"{read}, " for read in reads) + ")"
    else:
        result = "{" + ", ".join(f"{name!r}: {read}" for (name, _, _), read in zip(slots, reads)) + "}"
    if required:
        namespace["_required"] = tuple(dict.fromkeys(required))
        body = (f"    try:\n        return {result}\n"
                "    except KeyError:\n        _missing(params, _required, _names)\n        raise\n")
    else:
        body = f"    return {result}\n"
    exec(f"def values(params):\n    get = params.get\n{body}", namespace)  # noqa: S102 - our own text, from the compiled statement
    return namespace["values"]  # type: ignore[no-any-return]


def _missing(params: Mapping[str, Any], required: Sequence[str], names: Sequence[str]) -> None:
    """Name the first parameter without a value, if that is what went wrong."""
    for name in required:
        if name not in params:
            raise ValueError(f"compiled statement: no value for parameter {name!r}; "
                             f"expected {', '.join(names)}") from None


def _remembering_lists_of_strings(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A JSON column's conversion that remembers lists of strings: nearly
    every mail's recipients (``inbox.rcpt_tos``, ``outbox.rcpt_tos``) are the
    same few mailboxes and requesters."""
    @lru_cache(maxsize=1024)
    def strings(values: tuple[str, ...]) -> Any:
        return convert(list(values))

    def process(value: Any) -> Any:
        if type(value) is list:
            try:
                "".join(value)  # only strings (the quickest test); 1 and True would share a key
            except TypeError:
                return convert(value)
            return strings(tuple(value))
        return convert(value)

    return process


def _read(form: _Form, row: Sequence[Any]) -> tuple[Any, ...]:
    if not form.readers:
        return tuple(row)
    return tuple(value if read is None or value is None else read(value) for read, value in zip(form.readers, row))


def deferred_rows(tx: Tx, statement: Compiled) -> list[Mapping[str, Any]]:
    """``tx.pending(statement)``: the rows deferred with ``statement`` and not yet written, oldest first."""
    return tx.pending(statement)
