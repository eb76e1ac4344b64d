"""Raw mail in, outcomes recorded, duplicates recognised, quarantine kept.

The inbox row is written and committed before the peer hears ``250``;
everything after that (processing, quarantine) only updates it.  The
mail's bytes are written beside it, in ``inbox_raw``, once: an update of
the row never rewrites them (``models.InboxRawRow``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, attributes, configure_mappers, defer, make_transient_to_detached

from gateway.delivery import ENVELOPE_COLUMNS
from gateway.store.compiled import Compiled
from gateway.store.models import InboxRawRow, InboxRow, MailKeyRow, QuarantineRow
from gateway.store.rows import INBOX, INBOX_RAW, MAIL_KEY
from gateway.store.tx import Tx


def add_accepted(tx: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert accepted mails (``delivery.inbox_row``'s rows, bytes
    included); returns their ids in the same order."""
    objects = [InboxRow(**INBOX.complete(_accepted(envelope(row)))) for row in rows]
    tx.add_all(objects)
    tx.flush()
    ids = [obj.id for obj in objects]
    tx.execute(insert(InboxRawRow), raw_rows(ids, rows))
    return ids


def envelope(row: Mapping[str, Any]) -> dict[str, Any]:
    """An inbox row's fields without its bytes (they go to ``inbox_raw``)."""
    return {key: value for key, value in row.items() if key != "raw"}


def raw_rows(ids: Sequence[int], rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``inbox_raw`` rows of inbox rows just given ``ids``."""
    return [{"inbox_id": inbox_id, "raw": row["raw"]} for inbox_id, row in zip(ids, rows, strict=True)]


def pending_ids(tx: Session, limit: int, after: int = 0) -> list[int]:
    query = (select(InboxRow.id).where(InboxRow.status == "accepted", InboxRow.id > after)
             .order_by(InboxRow.id).limit(limit))
    return list(tx.scalars(query))


# Per-mail statements built once (building and keying one per call cost
# more than running it); values are bound at execution.
_INSERT_KEY = MAIL_KEY.insert
_TAKE_KEY = {name: Compiled(dialect.insert(MailKeyRow.__table__).values(
                 key=bindparam("key"), inbox_id=bindparam("inbox_id")).on_conflict_do_nothing(index_elements=["key"]))
             for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))}
_INBOX = InboxRow.__table__
_RAW = InboxRawRow.__table__
# An outer join: an inbox row without its bytes (none should be) still reads,
# as an empty mail the parser refuses, rather than waiting for ever.
_CLAIM_QUERY = (select(*_INBOX.columns, _RAW.c.raw).outerjoin(_RAW, _RAW.c.inbox_id == _INBOX.c.id)
                .where(_INBOX.c.id == bindparam("inbox_id"), _INBOX.c.status == "accepted"))
_CLAIM = Compiled(_CLAIM_QUERY)
_CLAIM_SKIP_LOCKED = Compiled(_CLAIM_QUERY.with_for_update(of=_INBOX, skip_locked=True))
_INBOX_KEYS = (*(column.key for column in _INBOX.columns), "raw")
_FINISH = Compiled(update(InboxRow.__table__).where(InboxRow.__table__.c.id == bindparam("row_id"))
           .values(status=bindparam("status"), outcome=bindparam("outcome"), reason=bindparam("reason"),
                   ticket_id=bindparam("ticket_id"),
                   processed_at=bindparam("processed_at", type_=InboxRow.__table__.c.processed_at.type)))
_KEY_OWNER = Compiled(select(MailKeyRow.inbox_id).where(MailKeyRow.key == bindparam("key")))


def claim(tx: Tx, inbox_id: int, *, skip_locked: bool) -> InboxRow | None:
    """The row if it still waits for processing, locked for this transaction.

    On PostgreSQL another node holding the row makes this return None
    (``SKIP LOCKED``); on SQLite the write lock taken at BEGIN already
    serialises processors, so re-reading the status is enough.
    """
    found = (_CLAIM_SKIP_LOCKED if skip_locked else _CLAIM).first(tx, {"inbox_id": inbox_id})
    if found is None:
        return None
    # A compiled SELECT and a detached object: the ORM's loading of the row
    # was a sizeable share of a mail's processing.  Nothing changes it through the
    # session; ``finish`` and ``quarantine`` write with UPDATEs of their own.
    configure_mappers()  # what the mapped constructor would have done first; a no-op once done
    row = INBOX.new_object()  # the values straight into its dict: no constructor event per column
    row.__dict__.update(zip(_INBOX_KEYS, found))
    if row.__dict__["raw"] is None:
        row.__dict__["raw"] = b""
    make_transient_to_detached(row)
    return row


def get(tx: Session, inbox_id: int) -> InboxRow | None:
    return tx.get(InboxRow, inbox_id)


def finish(tx: Tx, row: InboxRow, *, status: str, outcome: str, reason: str | None,
           ticket_id: int | None, at: datetime) -> None:
    """Record the outcome; a plain UPDATE (the row object is not flushed),
    and the object is told so it reads the same."""
    values = {"status": status, "outcome": outcome, "reason": reason, "ticket_id": ticket_id, "processed_at": at}
    _FINISH.execute(tx, {"row_id": row.id, **values})
    set_committed_value = attributes.set_committed_value
    for key, value in values.items():
        set_committed_value(row, key, value)


def quarantine(tx: Session, inbox_id: int, *, step: str, reason: str, at: datetime) -> None:
    tx.execute(update(InboxRow).where(InboxRow.id == inbox_id)
               .values(status="quarantined", outcome="quarantined", reason=reason, processed_at=at))
    tx.add(QuarantineRow(inbox_id=inbox_id, step=step, reason=reason, created_at=at))


def quarantined(tx: Session, *, include_released: bool = False) -> list[tuple[QuarantineRow, InboxRow]]:
    """Every quarantine entry with its mail, the mails' bytes left where they
    are (read when asked for): a flood of quarantined 25 MB mails is listed
    without reading them all."""
    query = (select(QuarantineRow, InboxRow).options(defer(InboxRow.raw))
             .join(InboxRow, InboxRow.id == QuarantineRow.inbox_id))
    if not include_released:
        query = query.where(QuarantineRow.released_at.is_(None))
    return [(q, i) for q, i in tx.execute(query.order_by(QuarantineRow.id))]


def filed(tx: Session, *, limit: int = 100) -> list[InboxRow]:
    """The newest mails filed without a ticket (bounces and auto-replies
    that named none), newest first."""
    query = (select(InboxRow).options(defer(InboxRow.raw))  # listed, not read (as quarantined)
             .where(InboxRow.outcome == "filed").order_by(InboxRow.id.desc()).limit(limit))
    return list(tx.scalars(query))


def release(tx: Session, quarantine_id: int, at: datetime) -> InboxRow | None:
    """Send a quarantined mail through processing again (after a fix)."""
    taken = _settle(tx, quarantine_id, at)
    if taken is None:
        return None
    row = taken[1]
    row.status, row.outcome, row.reason, row.processed_at = "accepted", None, None, None
    return row


def _settle(tx: Session, quarantine_id: int, at: datetime) -> tuple[QuarantineRow, InboxRow] | None:
    """Mark a quarantine entry handled (released or discarded) and return it
    with its mail; None if there is no such entry or it was handled already."""
    entry = tx.get(QuarantineRow, quarantine_id)
    if entry is None or entry.released_at is not None:
        return None
    entry.released_at = at
    row = tx.get(InboxRow, entry.inbox_id)
    assert row is not None
    return entry, row


def quarantine_entry(tx: Session, quarantine_id: int) -> tuple[QuarantineRow, InboxRow] | None:
    """One quarantine row and its mail (``gateway quarantine show``), released or not."""
    found = tx.execute(select(QuarantineRow, InboxRow).join(InboxRow, InboxRow.id == QuarantineRow.inbox_id)
                       .where(QuarantineRow.id == quarantine_id)).first()
    return (found[0], found[1]) if found else None


def discard(tx: Session, quarantine_id: int, at: datetime, note: str) -> InboxRow | None:
    """Give up on a quarantined mail: its raw bytes are deleted, the rows stay
    as the audit (``status = "discarded"``, ``note`` before the old reason)."""
    taken = _settle(tx, quarantine_id, at)
    if taken is None:
        return None
    entry, row = taken
    row.status = row.outcome = "discarded"
    row.reason, row.processed_at = f"{note}; was: {entry.reason}"[:4000], at
    tx.execute(update(InboxRawRow).where(InboxRawRow.inbox_id == row.id).values(raw=b""))
    attributes.set_committed_value(row, "raw", b"")
    return row


def key_owner(tx: Tx, key: str) -> int | None:
    """The inbox id that already used this dedupe key, if any."""
    # No flush needed: keys are inserted at once, never pending in the session.
    return _KEY_OWNER.scalar(tx, {"key": key})  # type: ignore[no-any-return]


def add_key(tx: Tx, key: str, inbox_id: int) -> None:
    _INSERT_KEY.execute(tx, {"key": key, "inbox_id": inbox_id})  # nothing reads it back as an object


def take_key(tx: Tx, key: str, inbox_id: int) -> int | None:
    """Give ``key`` to ``inbox_id`` unless a mail holds it already: None
    when it was free, else the holder's id (``inbox_id`` itself for a mail
    redone).  One statement for the common case, a new key, where a look
    and then an insert were two (a round trip each on PostgreSQL); a key
    another node is inserting makes the insert wait for that node's commit,
    then find it taken."""
    inserted = _TAKE_KEY[tx.get_bind().dialect.name].execute(tx, {"key": key, "inbox_id": inbox_id})
    return None if inserted.rowcount == 1 else key_owner(tx, key)


def counts(tx: Session) -> dict[str, int]:
    return {status: n for status, n in tx.execute(select(InboxRow.status, func.count()).group_by(InboxRow.status))}


class InboxWriter:
    """The acceptance writer's own connection: a plain multi-row INSERT and a
    COMMIT per group, without a Session or ORM objects.

    Acceptance is CPU-bound on the listener's core (bench/results/ingest.md):
    the ORM cost more per mail than the fsync that group commit shares.  On
    SQLite the transaction is ``BEGIN IMMEDIATE``, so the rows' ids are the
    consecutive ones ending at ``last_insert_rowid()``.  The SQL and the
    values are the inbox's row builder's (store.rows), as every other
    writer of the table uses.
    """

    # What acceptance knows of a mail; the outcome columns stay NULL until processing.
    _COLUMNS = (*ENVELOPE_COLUMNS, "status")
    _INSERT = INBOX.insert_of_only(_COLUMNS, fixed={"status": "accepted"})
    _INSERT_RAW = INBOX_RAW.insert

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._raw: Any = None

    def insert(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        if not self._sqlite:
            with self._engine.begin() as connection:
                result = connection.execute(
                    insert(_INBOX).returning(_INBOX.c.id, sort_by_parameter_order=True),
                    [INBOX.complete(_accepted(envelope(row))) for row in rows])
                ids = [row_id for (row_id,) in result]
                connection.execute(insert(_RAW), raw_rows(ids, rows))
                return ids
        if self._raw is None:
            self._raw = self._engine.raw_connection()  # pragmas (WAL, synchronous) set on connect
        dialect = self._engine.dialect
        sql, values = self._INSERT.driver_rows(dialect, rows)  # status: accepted; the bytes are not its
        cursor = self._raw.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(sql, values)
            last = cursor.execute("SELECT last_insert_rowid()").fetchone()[0]
            ids = list(range(last - len(rows) + 1, last + 1))
            cursor.executemany(*self._INSERT_RAW.driver_rows(dialect, raw_rows(ids, rows)))
            cursor.execute("COMMIT")
        except BaseException:
            self.close()  # rolls back; the next group opens a fresh connection
            raise
        finally:
            cursor.close()
        return ids

    def close(self) -> None:
        if self._raw is not None:
            raw, self._raw = self._raw, None
            try:
                raw.rollback()
            finally:
                raw.close()


def _accepted(row: Mapping[str, Any]) -> dict[str, Any]:
    """An accepted mail's inbox row: its envelope and bytes, waiting for processing."""
    return {**row, "status": "accepted"}
