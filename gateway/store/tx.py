"""The gateway's transaction: a Session that also keeps what the ORM does not.

Every ``tx`` in the code base is a ``Tx`` (``Database`` builds its
sessions with this class; ``store.db.Transaction`` is this class).  Besides
being the SQLAlchemy Session, it owns the three things the hot paths do
beside the ORM's unit of work (``store.compiled`` says why they exist),
so that one object answers for them:

- **the driver cursor** of its innermost transaction, on which compiled
  statements run (``cursor_for``);
- **pending rows**: append-only rows nobody needs the id of (events, the
  timeline rows of mails we send, outbox rows), kept here and written
  together, one ``executemany`` per statement (``defer``, ``pending``,
  ``write_pending``);
- **rows inserted by hand and attached as loaded** (``insert_as_loaded``:
  a new ticket), forgotten again if their savepoint rolls back.

Pending rows are written (``write_pending``, called by ``Tx`` itself):

- before anything run through the Session (``_before_session_statement``);
- before a compiled statement on one of their tables (``cursor_for``): it
  reads them, and a row it inserts gets a later id;
- before a second statement defers rows into one of their tables
  (``defer``): rows are written grouped by statement, ids must keep the
  order the rows were given in;
- before a savepoint begins (``begin``): its rollback must not take them;
- before the commit, and before a savepoint is released (``_before_commit``);

and dropped, unwritten, when their transaction or savepoint rolls back
(``_after_rollback``).  The ORM's own flush is not a flush point: no mapped
object is written to the tables rows are deferred into.

Reads that must see pending rows without writing them first (a ticket's
thread, its last question, the hourly answer count) ask ``pending``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, configure_mappers, make_transient_to_detached

if TYPE_CHECKING:
    from gateway.store.compiled import Compiled
    from gateway.store.rows import Rows

RowT = TypeVar("RowT")


class Tx(Session):
    """A Session with a driver cursor, pending rows, and rows attached by hand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (transaction it belongs to, dialect name, DB-API cursor); a new one
        # when another transaction becomes the innermost.
        self._cursor: tuple[SessionTransaction, str, Any] | None = None
        # Oldest first: (statement, SQL, driver values, the parameters as given).
        self._pending: list[tuple[Compiled, str, Any, Mapping[str, Any]]] = []
        self._pending_tables: set[str] = set()
        self._pending_owner: dict[str, Compiled] = {}  # table -> the one statement with rows pending for it
        # Rows attached by hand, with the transaction that was innermost then.
        self._attached: list[tuple[SessionTransaction | None, weakref.ref[Any]]] = []

    # -- the driver cursor ---------------------------------------------------

    def cursor_for(self, tables: frozenset[str], *, merged: bool = False) -> tuple[str, Any]:
        """The dialect's name and the driver cursor a compiled statement on
        ``tables`` runs on, inside this transaction (and its savepoint).

        Rows pending for those tables are written first, so a statement that
        reads them sees them and a row it inserts gets the later id; unless
        ``merged``: the caller adds ``pending`` rows to what it reads itself.
        """
        if self._pending and not merged and not tables.isdisjoint(self._pending_tables):
            self.write_pending()
        transaction = self.get_nested_transaction() or self.get_transaction()
        held = self._cursor
        if held is None or held[0] is not transaction or transaction is None or not transaction.is_active:
            # Session.connection() begins the transaction if needed (BEGIN
            # IMMEDIATE on SQLite, through the engine's begin event), and
            # the SAVEPOINT of a nested one, which the Session emits only
            # then; the cursor is kept while that transaction is innermost.
            connection = self.connection()
            innermost = self.get_nested_transaction() or self.get_transaction()
            assert innermost is not None
            dbapi_connection = connection.connection.dbapi_connection
            assert dbapi_connection is not None
            held = self._cursor = (innermost, connection.dialect.name, dbapi_connection.cursor())
        return held[1], held[2]

    # -- pending rows ----------------------------------------------------------

    def defer(self, statement: Compiled, sql: str, values: Any, params: Mapping[str, Any]) -> None:
        """Keep one row of ``statement`` (already converted for the driver:
        ``values`` for ``sql``) until the next flush point.  Call
        ``cursor_for(..., merged=True)`` first: the rows are written on that
        cursor."""
        owners = self._pending_owner
        for table in statement.tables:
            if owners.setdefault(table, statement) is not statement:
                # Rows are written grouped by statement: two statements with
                # rows pending for one table could swap their ids, so the
                # other's go first.
                self.write_pending()
                self._pending_owner.update(dict.fromkeys(statement.tables, statement))
                break
        self._pending.append((statement, sql, values, params))
        self._pending_tables.update(statement.tables)

    def pending(self, statement: Compiled) -> list[Mapping[str, Any]]:
        """The parameters of the rows deferred with ``statement`` and not yet
        written, oldest first: what a read that does not write them first
        must add to what it finds."""
        return [params for deferred, _, _, params in self._pending if deferred is statement]

    def write_pending(self) -> None:
        """Write the pending rows: one ``executemany`` per statement, in the
        order each statement was first deferred."""
        rows = self._pending
        if not rows:
            return
        self._drop_pending()
        # The cursor they were deferred on: asking the Session for a
        # connection here could begin a transaction or savepoint.
        assert self._cursor is not None
        cursor = self._cursor[2]
        groups: dict[str, list[Any]] = {}
        for _, sql, values, _ in rows:
            groups.setdefault(sql, []).append(values)
        for sql, values in groups.items():
            cursor.executemany(sql, values)

    def _drop_pending(self) -> None:
        self._pending = []
        self._pending_tables = set()
        self._pending_owner = {}

    # -- rows inserted by hand -----------------------------------------------

    def insert_as_loaded(self, rows: Rows[RowT], fields: Mapping[str, Any], *,
                         before_insert: Callable[[RowT], None] | None = None) -> RowT:
        """Insert one mapped row with a plain INSERT and join it to the
        session as if it had been loaded (no flush, nothing read back).

        The ORM's unit of work for one new ticket cost more than the rest of
        opening a ticket's rows together.  Every column is set (``rows``
        fills the defaults), so the object reads what the row holds; the
        values go straight into the new object's dict (the mapped
        constructor's event per attribute was a few percent of a mail).
        ``before_insert`` fills what is computed from the other fields
        (deadlines), so the row is written once.

        The ORM forgets on a savepoint's rollback only the objects it
        flushed itself; one attached by hand would stay in the identity map
        after its row is gone, and SQLite gives the next row the same id, so
        the next mail of a processing group that opened a ticket failed
        with "another instance with key ... is already present".  The row is
        remembered with its savepoint and forgotten with it
        (``_after_rollback``).
        """
        values = rows.complete(fields)
        configure_mappers()  # what the mapped constructor would have done first; a no-op once done
        row = rows.new_object()
        state = row.__dict__
        state.update(values)
        if before_insert is not None:
            before_insert(row)
        # Every column but the id, read back from the object: before_insert may have set some.
        row.id = int(rows.insert_returning_id.scalar(self, {key: state.get(key) for key in rows.columns}))  # type: ignore[attr-defined]
        make_transient_to_detached(row)
        self.add(row)
        innermost = self.get_nested_transaction() or self.get_transaction()
        self._attached.append((innermost, weakref.ref(row)))
        return row

    # -- flush points and transaction ends -------------------------------------

    def begin(self, nested: bool = False) -> SessionTransaction:
        """Rows deferred before a savepoint belong before it: its rollback
        must not take them, so they are written first."""
        if nested and self._pending:
            self.write_pending()
        return super().begin(nested=nested)

    def _before_session_statement(self) -> None:
        # Anything run through the Session may read the pending rows' tables.
        if self._pending:
            self.write_pending()

    def _before_commit(self) -> None:
        if self._pending:
            self.write_pending()

    def _after_rollback(self, rolled_back: SessionTransaction) -> None:
        # Only rows deferred since the innermost savepoint began can be
        # pending (older ones were written when it began), and the rollback
        # undoes that span.
        self._drop_pending()
        if self._attached:
            self._forget_attached(rolled_back)

    def _forget_attached(self, rolled_back: SessionTransaction) -> None:
        kept = []
        for transaction, ref in self._attached:
            row = ref()
            if row is None:
                continue
            if _inside(transaction, rolled_back):
                if row in self:
                    self.expunge(row)
            else:
                kept.append((transaction, ref))
        self._attached = kept

    def _after_transaction_end(self, transaction: SessionTransaction) -> None:
        # The outermost transaction is over (commit, rollback or close): its
        # cursor, and anything still pending, must not outlive it.
        if transaction.parent is None:
            self._drop_pending()
            self._cursor = None


def _inside(transaction: SessionTransaction | None, outer: SessionTransaction) -> bool:
    """Whether ``transaction`` is ``outer`` or was begun inside it."""
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


# Registered on Tx only: no other Session in the process is affected.  These
# moments have no method a subclass could override (the context manager of
# ``begin()`` commits and rolls back the SessionTransaction directly).

@event.listens_for(Tx, "do_orm_execute")
def _session_statement(state: ORMExecuteState) -> None:
    state.session._before_session_statement()  # type: ignore[attr-defined]


@event.listens_for(Tx, "before_commit")
def _commit(session: Tx) -> None:
    session._before_commit()


@event.listens_for(Tx, "after_soft_rollback")
def _rollback(session: Tx, previous_transaction: SessionTransaction) -> None:
    session._after_rollback(previous_transaction)


@event.listens_for(Tx, "after_transaction_end")
def _transaction_end(session: Tx, transaction: SessionTransaction) -> None:
    session._after_transaction_end(transaction)

