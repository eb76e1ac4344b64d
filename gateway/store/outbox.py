"""The outbox table: queued in the caller's transaction, claimed by the sender.

A claimed row is ``sending`` under a short lease (``next_attempt_at``) held
by one sender process (``lease_owner``, ``host:pid:token``), which renews
it while it works (:func:`renew_leases`), gives back what it did not try
(:func:`give_back`), and settles each row as soon as its SMTP transaction
ends.  A row whose lease ran out is due again (its sender died elsewhere);
a sender starting takes back at once the rows of a dead process of its
own host (:func:`release_leases`).
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Integer, bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from gateway.store.compiled import Compiled
from gateway.store.models import OutboxRawRow, OutboxRow
from gateway.store.rows import OUTBOX, OUTBOX_RAW
from gateway.store.tx import Tx

if TYPE_CHECKING:
    from gateway.store.db import Autocommit

# Built once and run on the driver's cursor (store.compiled says why).
INSERT = OUTBOX.insert
INSERT_RAW = OUTBOX_RAW.insert


@lru_cache(maxsize=16)
def _count_recent(kinds: int, family: bool) -> Compiled:
    """Mails of any of ``kinds`` kinds to one recipient since a time (``kind0``
    ...: one statement for the four kinds of automatic answer, not four);
    ``family``: the bare address and every +tag of it (see count_recent)."""
    rcpt = (or_(OutboxRow.first_rcpt == bindparam("rcpt"), OutboxRow.first_rcpt.like(bindparam("tagged"), escape="\\"))
            if family else OutboxRow.first_rcpt == bindparam("rcpt"))
    return Compiled(select(func.count()).select_from(OutboxRow).where(
        rcpt, OutboxRow.kind.in_([bindparam(f"kind{index}") for index in range(kinds)]),
        OutboxRow.created_at >= bindparam("since", type_=OutboxRow.created_at.type)))


#: Team notices: the kinds that wait behind the citizens' mails.
_TEAM_PREFIX: Final = "team_"


def lane_of(kind: str) -> int:
    """0 for a mail to a citizen (acknowledgement, answer, postmaster notice),
    1 for a team notice: the claim takes lane 0 first, so a citizen's
    protocol never waits behind the team's copies of other tickets."""
    return 1 if kind.startswith(_TEAM_PREFIX) else 0


def add(tx: Tx, *, ticket_id: int | None, kind: str, message_id: str, mail_from: str,
        rcpt_tos: list[str], raw: bytes, at: datetime, verp_token: str | None = None) -> None:
    """Queue a rendered mail (its bytes, or a draft of it: ``outbound.compose``): deferred (store.tx) until the commit;
    the sender reads it back in its own transaction, never this one.  The
    bytes go beside the row, to ``outbox_raw`` (the claim and the settle
    update the row; they never write the bytes again).
    ``verp_token``: the token of its ``bounce+<token>@`` return path (mail.verp)."""
    INSERT.defer(tx, {
        "ticket_id": ticket_id, "kind": kind, "message_id": message_id, "mail_from": mail_from, "rcpt_tos": rcpt_tos,
        "first_rcpt": rcpt_tos[0], "status": "queued", "attempts": 0, "created_at": at,
        "next_attempt_at": at, "verp_token": verp_token, "lane": lane_of(kind)})
    INSERT_RAW.defer(tx, {"message_id": message_id, "raw": raw})  # after its row: written in that order


def by_verp_token(tx: Session, token: str) -> OutboxRow | None:
    """The mail sent with return path ``bounce+<token>@...`` (a bounce names it)."""
    return tx.scalar(select(OutboxRow).where(OutboxRow.verp_token == token))


def by_message_ids(tx: Session, message_ids: Collection[str]) -> OutboxRow | None:
    """The first of our sent mails among ``message_ids`` (a bounce quoting the original)."""
    ids = [m for m in message_ids if m][:50]
    if not ids:
        return None
    return tx.scalar(select(OutboxRow).where(OutboxRow.message_id.in_(ids)).order_by(OutboxRow.id).limit(1))


#: What the sender needs of a claimed row (``claim``'s tuples, in this order).
CLAIMED_COLUMNS: Final = ("id", "kind", "mail_from", "rcpt_tos", "raw", "attempts", "rcpt_results", "created_at")


def _due(status: str, skip_locked: bool) -> Compiled:
    """Rows of ``status`` due at ``now``, citizens' mails first (``ix_outbox_claim``:
    a range scan that stops at ``limit``), with their bytes (the scalar subquery
    locks nothing but the outbox rows)."""
    def build() -> ClauseElement:
        table, raw = OutboxRow.__table__, OutboxRawRow.__table__
        data = select(raw.c.raw).where(raw.c.message_id == table.c.message_id).scalar_subquery()
        query = (select(*(data if name == "raw" else table.c[name] for name in CLAIMED_COLUMNS))
                 .where(table.c.status == status,
                        table.c.next_attempt_at <= bindparam("now", type_=table.c.next_attempt_at.type))
                 .order_by(table.c.lane, table.c.next_attempt_at, table.c.id).limit(bindparam("limit", type_=Integer)))
        return query.with_for_update(skip_locked=True) if skip_locked else query
    return Compiled(build)


_DUE: Final = {(status, skip): _due(status, skip) for status in ("sending", "queued") for skip in (False, True)}
_TAKE: Final = Compiled(lambda: update(OutboxRow.__table__).where(OutboxRow.__table__.c.id == bindparam("row_id"))
                        .values(status="sending", attempts=OutboxRow.__table__.c.attempts + 1,
                                lease_owner=bindparam("owner"),
                                next_attempt_at=bindparam("until", type_=OutboxRow.__table__.c.next_attempt_at.type)))


def claim(tx: Tx, now: datetime, limit: int, *, owner: str, until: datetime) -> list[tuple[Any, ...]]:
    """Take up to ``limit`` rows due now for ``owner`` until ``until``: first the
    'sending' ones whose lease ran out (their sender died mid-delivery), then
    queued ones by lane.  Returns each row's ``CLAIMED_COLUMNS``, its
    ``attempts`` counting this one.

    On PostgreSQL the rows are locked and those another sender holds skipped
    (``FOR UPDATE SKIP LOCKED``), decided here from the connection, not by
    the caller: without it two senders would take the same rows.  SQLite has
    one writer at a time (the transaction began ``IMMEDIATE``).

    Plain statements on the transaction's cursor, not ORM objects: loading
    and flushing fifty rows through the Session was most of what the sender
    spent on the database a mail (bench/sender.py)."""
    skip_locked = tx.get_bind().dialect.name == "postgresql"
    rows: list[tuple[Any, ...]] = []
    for status in ("sending", "queued"):
        if len(rows) >= limit:
            break
        rows += _DUE[status, skip_locked].all(tx, {"now": now, "limit": limit - len(rows)})
    _TAKE.executemany(tx, [{"row_id": row[0], "owner": owner, "until": until} for row in rows])
    attempts = CLAIMED_COLUMNS.index("attempts")
    return [(*row[:attempts], row[attempts] + 1, *row[attempts + 1:]) for row in rows]


def _settled(moment: str) -> Compiled:
    """UPDATE of one row's fate by id, writing ``moment`` (sent_at or next_attempt_at) too.

    Not over a row given up while it was in flight (``failed``: only
    ``retention``'s anonymisation and erasure fail a row the sender holds):
    its recipient and the relay's words were erased, and stay so."""
    table = OutboxRow.__table__
    return Compiled(lambda: update(table).where(table.c.id == bindparam("row_id"), table.c.status != "failed").values(
        status=bindparam("status"), lease_owner=None, last_error=bindparam("last_error"),
        rcpt_results=bindparam("rcpt_results", type_=table.c.rcpt_results.type),
        **{moment: bindparam("at", type_=table.c[moment].type)}))


_SETTLE_SENT = _settled("sent_at")
_SETTLE_QUEUED = _settled("next_attempt_at")


def settle(writes: Autocommit, outbox_id: int, *, status: str, results: dict[str, str], last_error: str | None,
           at: datetime) -> None:
    """Write a row's fate in one statement that commits by itself: ``sent``
    at ``at``, or ``queued`` again, due at ``at``.  The sender settles each
    mail so as its SMTP transaction ends; reading the row back through the
    ORM first cost as much as the commit (bench/sender.py), and a Session's
    BEGIN and COMMIT were two more round trips on PostgreSQL
    (bench/nodes.py)."""
    if status not in ("sent", "queued"):
        raise ValueError(f"outbox #{outbox_id}: settle writes 'sent' or 'queued', not {status!r}")
    writes.execute(_SETTLE_SENT if status == "sent" else _SETTLE_QUEUED, {
        "row_id": outbox_id, "status": status, "last_error": last_error, "rcpt_results": results, "at": at})


def lease_owners(tx: Session) -> list[str | None]:
    """Who holds the 'sending' rows (None: a row claimed before owners were recorded)."""
    return list(tx.scalars(select(OutboxRow.lease_owner).where(OutboxRow.status == "sending").distinct()))


def release_leases(tx: Session, now: datetime, owners: Collection[str | None]) -> int:
    """Give the 'sending' rows of ``owners`` (dead processes) back to the queue, due now.

    Their attempt is not counted: it may never have reached the relay."""
    named = [owner for owner in owners if owner is not None]
    held = OutboxRow.lease_owner.in_(named)
    if None in owners:
        held = or_(held, OutboxRow.lease_owner.is_(None))
    result = tx.execute(update(OutboxRow).where(OutboxRow.status == "sending", held)
                        .values(status="queued", next_attempt_at=now, lease_owner=None,
                                attempts=case((OutboxRow.attempts > 0, OutboxRow.attempts - 1), else_=0)))
    return int(result.rowcount or 0)


def renew_leases(tx: Session, owner: str, until: datetime) -> int:
    """The sender's heartbeat: its 'sending' rows stay its own until ``until``."""
    result = tx.execute(update(OutboxRow).where(OutboxRow.status == "sending", OutboxRow.lease_owner == owner)
                        .values(next_attempt_at=until))
    return int(result.rowcount or 0)


def give_back(tx: Session, outbox_ids: Collection[int], owner: str, now: datetime) -> int:
    """Rows a sender claimed and did not try: queued again, due now, the attempt not counted."""
    if not outbox_ids:
        return 0
    result = tx.execute(update(OutboxRow).where(OutboxRow.id.in_(list(outbox_ids)), OutboxRow.status == "sending",
                                                OutboxRow.lease_owner == owner)
                        .values(status="queued", next_attempt_at=now, lease_owner=None,
                                attempts=case((OutboxRow.attempts > 0, OutboxRow.attempts - 1), else_=0)))
    return int(result.rowcount or 0)


def next_due(tx: Session) -> datetime | None:
    return tx.scalar(select(func.min(OutboxRow.next_attempt_at)).where(OutboxRow.status == "queued"))


def count_recent(tx: Tx, *, rcpt: str, kinds: Collection[str], since: datetime) -> int:
    """Mails of ``kinds`` to ``rcpt`` since ``since``: the automatic answers' rate limit.

    A subaddressed ``rcpt`` counts with its family (``robo@crm`` and every
    ``robo+<tag>@crm``): a CRM that answers each of our mails from a new
    ``+tag`` address would otherwise be a new sender every round and never
    reach the limit (freescout#688).  Plain addresses, nearly every mail,
    keep the one indexed equality."""
    kinds = tuple(kinds)
    named = {f"kind{index}": kind for index, kind in enumerate(kinds)}
    family = _family(rcpt)
    if family is None:
        written = int(_count_recent(len(kinds), False).scalar(tx, {"rcpt": rcpt, "since": since, **named},
                                                               merged=True) or 0)
        same = rcpt.__eq__
    else:
        bare, tagged = family
        written = int(_count_recent(len(kinds), True).scalar(
            tx, {"rcpt": bare, "tagged": tagged, "since": since, **named}, merged=True) or 0)
        same = lambda address: _family(address) == family or address == bare  # noqa: E731
    return written + sum(1 for row in tx.pending(INSERT)  # queued in this transaction, not yet written
                         if same(row["rcpt_tos"][0]) and row["kind"] in kinds and row["created_at"] >= since)


def _family(address: str) -> tuple[str, str] | None:
    """``("robo@crm", "robo+%@crm")`` (a LIKE pattern, ``%`` and ``_`` escaped)
    for ``robo+123@crm``; None for an address without a ``+`` tag."""
    local, at, domain = address.rpartition("@")
    base, plus, _tag = local.partition("+")
    if not (at and plus and base):
        return None
    escaped = [part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for part in (base, domain)]
    return f"{base}@{domain}", f"{escaped[0]}+%@{escaped[1]}"


def for_ticket(tx: Session, ticket_id: int) -> list[OutboxRow]:
    return list(tx.scalars(select(OutboxRow).where(OutboxRow.ticket_id == ticket_id).order_by(OutboxRow.id)))


def get(tx: Session, outbox_id: int) -> OutboxRow | None:
    return tx.get(OutboxRow, outbox_id)


def counts(tx: Session) -> dict[str, int]:
    return {s: n for s, n in tx.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status))}
