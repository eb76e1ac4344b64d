"""One row builder per table: where a row's fields become its INSERT's values.

The gateway writes its tables four ways: the ORM (rare rows), compiled
INSERTs on the transaction's cursor (each mail's and due ticket's rows:
``store.compiled``), the acceptance writer's own connection
(``inbox.InboxWriter``) and the legacy import's batches
(``bulk.BulkWriter``).  A row must read the same whichever way wrote it:
a column not given holds the column's default, as the ORM would write it
(a JSON ``None`` is JSON ``null``, not SQL NULL).  A ``Rows`` per table
knows its columns and their defaults once, from the mapped columns, and
every way but the ORM's asks it:

- ``insert`` and ``insert_returning_id``, the compiled INSERT of every
  column, turn fields into the driver's values (the live paths);
  ``insert_of_only`` is the same for a writer that sets fewer columns and
  leaves the others NULL (``InboxWriter`` on SQLite runs its SQL and
  values on its own connection: ``Compiled.driver_rows``);
- ``complete`` gives every column's value, the defaults filled in and a
  name that is no column refused (``BulkWriter``, ``InboxWriter`` on
  PostgreSQL, ``inbox.add_accepted`` for the ORM, ``Tx.insert_as_loaded``).

A column whose default is computed for each row (``inbox.rcpt_tos``, a
new list) has no value to fall back on: every writer gives it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import cached_property
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import Table
from sqlalchemy.orm.instrumentation import manager_of_class

from gateway.store.compiled import Compiled, insert_of
from gateway.store.models import (
    AttachmentRow,
    EventRow,
    InboxRawRow,
    InboxRow,
    MailKeyRow,
    MessageRow,
    OutboxRawRow,
    OutboxRow,
    ParticipantRow,
    QuarantineRow,
    ThreadRefRow,
    TicketRow,
)

RowT = TypeVar("RowT")


class Rows(Generic[RowT]):
    """How rows of one mapped table are written outside the ORM."""

    def __init__(self, mapped: type[RowT]) -> None:
        self.mapped = mapped
        self.table: Table = mapped.__table__  # type: ignore[attr-defined]
        self.name = self.table.name
        self.insert: Compiled = insert_of(self.table)
        self.columns: tuple[str, ...] = tuple(
            c.key for c in self.table.columns if c is not self.table.autoincrement_column)
        self.defaults: dict[str, Any] = self.insert.defaults  # the value of a column not given
        self._known = frozenset(self.columns)
        self._required = self._known - self.defaults.keys()
        self._manager = manager_of_class(mapped)

    @cached_property
    def insert_returning_id(self) -> Compiled:
        """The same INSERT, giving back the new row's id."""
        return insert_of(self.table, returning="id")

    def insert_of_only(self, columns: Collection[str], *, fixed: Mapping[str, Any] | None = None) -> Compiled:
        """An INSERT of ``columns`` alone, for a writer that never sets the
        others (``InboxWriter``: on SQLite each value bound costs, and 12 of
        the inbox's 16 columns are set on acceptance).  Every column left
        out must default to NULL, so the row stored is the one ``insert``
        stores.  ``fixed``: the value of a column the rows do not give
        (rather than a copy of each row with it)."""
        unknown = set(columns) - self._known
        if unknown:
            raise TypeError(f"{', '.join(sorted(unknown))} is not a column of {self.name}")
        not_null = sorted(c for c in self._known - set(columns) if c in self._required or self.defaults[c] is not None)
        if not_null:
            raise ValueError(f"{self.name}: {', '.join(not_null)} must be written: a row without it would not "
                             "read as the same row written whole")
        unknown = set(fixed or {}) - set(columns)
        if unknown:
            raise TypeError(f"{', '.join(sorted(unknown))} is not among the columns written")
        return insert_of(self.table, only=columns, fixed=fixed)

    def complete(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Every column's value: the given ones, the defaults for the rest."""
        unknown = fields.keys() - self._known
        if unknown:
            raise TypeError(f"{', '.join(sorted(unknown))} is not a column of {self.name}")
        missing = self._required - fields.keys()
        if missing:
            raise TypeError(f"{self.name}: no value for {', '.join(sorted(missing))} (it has no fixed default)")
        return {**self.defaults, **fields}

    def new_object(self) -> RowT:
        """An empty mapped object, without the constructor's event per attribute."""
        return self._manager.new_instance()  # type: ignore[no-any-return]


TICKET: Final = Rows(TicketRow)
INBOX: Final = Rows(InboxRow)
INBOX_RAW: Final = Rows(InboxRawRow)
MAIL_KEY: Final = Rows(MailKeyRow)
PARTICIPANT: Final = Rows(ParticipantRow)
MESSAGE: Final = Rows(MessageRow)
ATTACHMENT: Final = Rows(AttachmentRow)
EVENT: Final = Rows(EventRow)
OUTBOX: Final = Rows(OutboxRow)
OUTBOX_RAW: Final = Rows(OutboxRawRow)
THREAD_REF: Final = Rows(ThreadRefRow)
QUARANTINE: Final = Rows(QuarantineRow)

BY_TABLE: Final[dict[str, Rows[Any]]] = {rows.name: rows for rows in (
    TICKET, INBOX, INBOX_RAW, MAIL_KEY, PARTICIPANT, MESSAGE, ATTACHMENT, EVENT, OUTBOX, OUTBOX_RAW, THREAD_REF,
    QUARANTINE)}
