"""Revision 0017: a queued mail's bytes live in ``outbox_raw``, written once
with the row (``store.outbox.add``) and never again.

The sender's claim and its settle each updated the outbox row, and SQLite
writes an updated row whole: a team notice carrying a citizen's 3 MB scan
went to the WAL three times.  Here the WAL is measured around a real
sender delivering such a mail to a real relay; and the bytes are written
with the row or not at all, read back as ``OutboxRow.raw``, and emptied by
``purge`` only once the mail is done with."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from gateway.clock import FixedClock
from gateway.config import OutboundConfig, StorageConfig
from gateway.outbound.delivery import SmtpDeliverer
from gateway.store import outbox, retention
from gateway.store.db import Database
from gateway.store.models import OutboxRow
from gateway.workers.sender import Sender
from tests.helpers.servers import CaptureRelay
from tests.integration.postgres.conftest import db, postgres_url  # noqa: F401 - fixtures (SQLite and PostgreSQL)

START = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
# A citizen's 3 MB scan, attached (base64) to a team notice.
SCAN = b"".join(base64.encodebytes(bytes(range(256)) * 12 * 1024).splitlines(keepends=True))


def _notice(message_id: str, body: bytes = b"Novo chamado.\r\n") -> bytes:
    return (f"From: atendimento@example.gov.br\r\nTo: equipe@example.gov.br\r\nSubject: Novo chamado\r\n"
            f"Message-ID: <{message_id}>\r\n\r\n").encode() + body


def _queue(db: Database, message_id: str, raw: bytes, *, kind: str = "team_new", at: datetime = START) -> None:
    with db.transaction() as tx:
        outbox.add(tx, ticket_id=None, kind=kind, message_id=message_id, mail_from="atendimento@example.gov.br",
                   rcpt_tos=["equipe@example.gov.br"], raw=raw, at=at)


def _size(path: Path) -> int:
    """A WAL's size; none at all once the last connection closed it."""
    return path.stat().st_size if path.exists() else 0


@pytest.fixture
def relay() -> Iterator[CaptureRelay]:
    server = CaptureRelay().start()
    yield server
    server.stop()


def test_a_sent_mails_bytes_go_to_the_wal_once(tmp_path: Path, relay: CaptureRelay) -> None:
    database = Database(StorageConfig(url=f"sqlite:///{tmp_path / 'gateway.db'}"))
    database.migrate()
    try:
        raw = _notice("team_new.1@example.gov.br", SCAN)
        _queue(database, "team_new.1@example.gov.br", raw)
        database.engine.dispose()  # the queued mail into the database file, the WAL emptied
        with closing(sqlite3.connect(tmp_path / "gateway.db")) as connection:
            assert connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0  # not busy
        wal = tmp_path / "gateway.db-wal"
        assert _size(wal) == 0
        config = OutboundConfig(mode="smtp", host="127.0.0.1", port=relay.port, timeout=10, retry_initial=30)
        sender = Sender(database, config, SmtpDeliverer(config), FixedClock(START))
        try:
            assert sender.run_once() == 1  # claimed (status, lease), delivered, settled: two row updates
        finally:
            sender.deliverer.close()
        [(_, _, delivered)] = relay.messages
        assert delivered.replace(b"\r\n", b"\n").rstrip(b"\n") == raw.replace(b"\r\n", b"\n").rstrip(b"\n")
        with database.transaction() as tx:
            assert tx.scalar(select(OutboxRow.status)) == "sent"
        assert 0 < _size(wal) < len(SCAN) // 10, "the claim or the settle wrote the mail's bytes again"
    finally:
        database.dispose()


def test_a_mail_is_queued_with_its_bytes_or_not_at_all(db: Database) -> None:  # noqa: F811 - the fixture
    raw = _notice("ack.1@example.gov.br", b"\x00bytes \xff como sairam\r\n")
    with pytest.raises(RuntimeError), db.transaction() as tx:
        outbox.add(tx, ticket_id=None, kind="ack", message_id="ack.1@example.gov.br",
                   mail_from="atendimento@example.gov.br", rcpt_tos=["ana@example.org"], raw=raw, at=START)
        tx.write_pending()  # both rows written in the transaction (deferred rows wait for the commit otherwise)
        assert tx.scalar(text("SELECT count(*) FROM outbox_raw")) == 1
        raise RuntimeError("the transaction fails after the mail was queued")
    with db.transaction() as tx:
        assert tx.scalar(text("SELECT count(*) FROM outbox")) == 0
        assert tx.scalar(text("SELECT count(*) FROM outbox_raw")) == 0
    _queue(db, "ack.1@example.gov.br", raw, kind="ack")
    with db.transaction() as tx:
        assert bytes(tx.scalars(select(OutboxRow)).one().raw) == raw
        assert tx.execute(text("SELECT message_id FROM outbox_raw")).scalars().all() == ["ack.1@example.gov.br"]


def test_purge_empties_the_bytes_of_mails_done_with_only(db: Database) -> None:  # noqa: F811 - the fixture
    for n, status in enumerate(("sent", "failed", "queued")):
        _queue(db, f"ack.{n}@example.gov.br", _notice(f"ack.{n}@example.gov.br"), kind="ack",
               at=START - timedelta(days=400))
        with db.transaction() as tx:
            tx.execute(text("UPDATE outbox SET status = :status WHERE message_id = :id"),
                       {"status": status, "id": f"ack.{n}@example.gov.br"})
    counts = retention.purge(db, raw_before=START, closed_before=None, at=START, why="teste")
    assert counts["outbox.raw"] == 2
    with db.transaction() as tx:
        kept = dict(tx.execute(text("SELECT outbox.status, length(outbox_raw.raw) FROM outbox "
                                    "JOIN outbox_raw ON outbox_raw.message_id = outbox.message_id")).all())
    assert kept["sent"] == kept["failed"] == 0 and kept["queued"] > 0
    assert retention.purge(db, raw_before=START, closed_before=None, at=START, why="teste").get("outbox.raw") is None


def test_the_bytes_are_read_with_the_claim_and_not_with_every_row(db: Database) -> None:  # noqa: F811 - the fixture
    """A ticket's page lists its mails' states: their bytes stay where they
    are until read; the sender's claim reads them in its own query."""
    raw = _notice("ack.1@example.gov.br", SCAN)
    _queue(db, "ack.1@example.gov.br", raw, kind="ack")
    with db.transaction() as tx:
        listed = tx.scalars(select(OutboxRow)).one()
        assert "raw" in inspect(listed).unloaded
        assert bytes(listed.raw) == raw  # and read when asked for
    with db.transaction() as tx:
        [claimed] = outbox.claim(tx, START, 10, owner="here:1:token", until=START + timedelta(minutes=1))
    row = dict(zip(outbox.CLAIMED_COLUMNS, claimed))
    assert bytes(row["raw"]) == raw and row["attempts"] == 1 and row["kind"] == "ack"
    with db.transaction() as tx:
        taken = tx.scalars(select(OutboxRow)).one()
        assert (taken.status, taken.lease_owner, taken.attempts) == ("sending", "here:1:token", 1)
        assert taken.next_attempt_at == START + timedelta(minutes=1)


def test_the_claim_takes_a_dead_senders_rows_first_and_leaves_a_live_lease_alone(  # noqa: F811 - the fixture
        db: Database) -> None:
    """A row whose lease ran out (its sender died on another host) goes before
    the queue; one whose lease still runs is another sender's; a team notice
    waits behind a citizen's mail queued after it.  Each row comes back with
    what the sender needs, as the ORM would have read it."""
    for message_id, kind in (("team.1@example.gov.br", "team_new"), ("ack.2@example.gov.br", "ack"),
                             ("ack.3@example.gov.br", "ack"), ("ack.4@example.gov.br", "ack")):
        _queue(db, message_id, _notice(message_id), kind=kind)
    with db.transaction() as tx:
        for message_id, lease_end in (("ack.3@example.gov.br", START - timedelta(seconds=1)),
                                      ("ack.4@example.gov.br", START + timedelta(seconds=30))):
            tx.execute(text("UPDATE outbox SET status = 'sending', attempts = 1, lease_owner = 'elsewhere:9:x', "
                            "next_attempt_at = :at WHERE message_id = :id"), {"at": lease_end, "id": message_id})
    with db.transaction() as tx:
        claimed = outbox.claim(tx, START, 10, owner="here:1:token", until=START + timedelta(minutes=1))
    rows = [dict(zip(outbox.CLAIMED_COLUMNS, row)) for row in claimed]
    assert [(row["kind"], row["attempts"]) for row in rows] == [("ack", 2), ("ack", 1), ("team_new", 1)]
    assert rows[0]["raw"] == _notice("ack.3@example.gov.br")  # the dead sender's, again, its attempt counted
    assert all(row["rcpt_tos"] == ["equipe@example.gov.br"] and row["rcpt_results"] in (None, {}) for row in rows)
    assert all(row["created_at"] == START and row["created_at"].tzinfo is not None for row in rows)
    with db.transaction() as tx:
        owners = dict(tx.execute(text("SELECT message_id, lease_owner FROM outbox")).all())
    assert owners == {"team.1@example.gov.br": "here:1:token", "ack.2@example.gov.br": "here:1:token",
                      "ack.3@example.gov.br": "here:1:token", "ack.4@example.gov.br": "elsewhere:9:x"}


def test_two_senders_claiming_at_once_on_postgresql_never_take_the_same_row(  # noqa: F811 - the fixture
        postgres_url: str) -> None:
    """The claim locks what it takes and skips what another sender holds,
    whoever calls it: a second claim while the first is still open gets the
    other rows, and the first one's stay its own."""
    database = Database(StorageConfig(url=postgres_url))
    try:
        database.migrate()
        for n in range(4):
            _queue(database, f"ack.{n}@example.gov.br", _notice(f"ack.{n}@example.gov.br"), kind="ack")
        lease = START + timedelta(minutes=1)
        with database.transaction() as first:
            mine = outbox.claim(first, START, 2, owner="a:1:x", until=lease)
            with database.transaction() as second:  # another sender, while the first has not committed
                # Waiting for the first's rows would wait for ever here (one thread): fail instead.
                second.execute(text("SET LOCAL lock_timeout = '5s'"))
                theirs = outbox.claim(second, START, 10, owner="b:2:y", until=lease)
        assert len(mine) == 2 and len(theirs) == 2
        assert not {row[0] for row in mine} & {row[0] for row in theirs}
        with database.transaction() as tx:
            owners = sorted(tx.execute(text("SELECT lease_owner FROM outbox")).scalars())
        assert owners == ["a:1:x", "a:1:x", "b:2:y", "b:2:y"]
    finally:
        database.dispose()
