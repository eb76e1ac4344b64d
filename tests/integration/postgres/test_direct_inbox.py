"""The pipe's direct door (``store.direct.DirectInbox``) stores what the
gateway's own acceptance writer stores, on SQLite and on PostgreSQL, and
reads the processing workers' liveness as ``store.processors`` writes it."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.config import StorageConfig
from gateway.delivery import Delivery
from gateway.store import direct, processors
from tests.helpers.mailfactory import make_mail

NOW = datetime(2026, 12, 7, 15, 0, 0, 123456, tzinfo=timezone.utc)
COLUMNS = ("received_at", "via", "peer", "mail_from", "rcpt_tos", "authenticated_as", "mailbox_hint", "sha256",
           "message_id", "size", "raw", "status", "outcome", "reason", "processed_at", "ticket_id")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/gateway.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def _delivery(raw: bytes) -> Delivery:
    return Delivery(raw=raw, mail_from="ana.souza@example.org", rcpt_tos=("atendimento@example.gov.br", "cnes+X@b.org"),
                    via="pipe", received_at=NOW.astimezone(timezone(timedelta(hours=-3))), mailbox_hint="cnes@b.org")


_JOINED = "inbox JOIN inbox_raw ON inbox_raw.inbox_id = inbox.id"  # the bytes beside the row


def _stored_text(url: str, inbox_id: int) -> tuple[str, ...]:
    """The row as the database holds it, every column as text: what a change
    of date format or JSON spacing would alter, which reading back through
    the ORM would hide."""
    columns = ", ".join(f"CAST({c} AS TEXT)" if c != "raw" else "raw" for c in COLUMNS)
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            return tuple(connection.execute(f"SELECT {columns} FROM {_JOINED} WHERE id = ?", (inbox_id,)).fetchone())
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as connection:
        row = connection.execute(f"SELECT {columns} FROM {_JOINED} WHERE id = %s", (inbox_id,)).fetchone()
        return tuple(bytes(value) if isinstance(value, memoryview) else value for value in row)


def test_the_direct_door_stores_the_row_the_gateways_writer_stores(make_settings, url: str) -> None:
    settings = make_settings(storage={"url": url})
    gateway = Gateway(settings)
    try:
        raw = make_mail(message_id="<one@client.example.org>", subject="Certidão negativa — urgente")
        ours = gateway.ingest.accept(_delivery(raw))
        door = direct.open_inbox(settings.storage)
        assert door is not None
        with door:
            theirs = door.accept(_delivery(raw))
        assert ours.accepted and theirs.accepted and theirs.inbox_id == ours.inbox_id + 1
        with gateway.db.reading() as tx:
            from gateway.store import inbox

            rows = [inbox.get(tx, receipt.inbox_id) for receipt in (ours, theirs)]
            read = [{column: getattr(row, column) for column in COLUMNS} for row in rows]
    finally:
        gateway.close()
    assert read[0] == read[1]
    assert _stored_text(url, ours.inbox_id) == _stored_text(url, theirs.inbox_id)
    assert read[1]["received_at"] == NOW and read[1]["rcpt_tos"] == ["atendimento@example.gov.br", "cnes+X@b.org"]
    assert read[1]["status"] == "accepted" and read[1]["message_id"] == "one@client.example.org"


def _dated(gateway: Gateway, node: str, seconds: float) -> None:
    """A worker's row dated ``seconds`` from the database's now (negative: ago)."""
    from sqlalchemy import text

    with gateway.db.transaction() as tx:
        if gateway.db.is_sqlite:
            at = "strftime('%Y-%m-%d %H:%M:%f', 'now', :shift) || '000'"
            shift: object = f"{seconds:+} seconds"
        else:
            at, shift = "now() + make_interval(secs => :shift)", seconds
        tx.execute(text(f"INSERT INTO processor (node, seen_at) VALUES (:node, {at}) "
                        "ON CONFLICT (node) DO UPDATE SET seen_at = excluded.seen_at"), {"node": node, "shift": shift})


def test_a_worker_is_alive_until_three_renewals_are_missed_by_the_databases_clock(make_settings, url: str) -> None:
    settings = make_settings(storage={"url": url})
    gateway = Gateway(settings)

    def alive() -> bool:
        with direct.open_inbox(settings.storage) as door:
            return door.processor_alive()

    try:
        assert not alive(), "no worker at all"
        _dated(gateway, "killed:1", -(direct.ALIVE_WITHIN + 5))
        assert not alive(), "only a worker gone quiet"
        _dated(gateway, "clock-ahead:2", 3600)  # a node whose clock runs an hour ahead wrote it
        assert not alive(), "a row from the future is no sign of life"
        processors.seen(gateway.db, "node-b:3")
        assert alive()
        processors.gone(gateway.db, "node-b:3")
        assert not alive()
        processors.seen(gateway.db, "killed:1")  # renewed: the same row, now
        assert alive()
        with gateway.db.reading() as tx:
            from sqlalchemy import text

            nodes = sorted(tx.execute(text("SELECT node FROM processor")).scalars())
        assert nodes == ["clock-ahead:2", "killed:1"]
    finally:
        gateway.close()


def test_no_telling_whether_a_worker_runs_is_no_worker(make_settings, url: str) -> None:
    """The pipe cannot read the table (dropped, or a role without the right
    to read it): it answers False and has a process started for the mail,
    never an error that would bounce the mail."""
    settings = make_settings(storage={"url": url})
    gateway = Gateway(settings)
    try:
        processors.seen(gateway.db, "node:1")
        from sqlalchemy import text

        with gateway.db.transaction() as tx:
            tx.execute(text("DROP TABLE processor"))
    finally:
        gateway.close()
    with direct.open_inbox(settings.storage) as door:
        assert door.processor_alive() is False
        assert door.accept(_delivery(make_mail())).accepted, "and the door still stores"


def test_a_locked_database_is_a_tempfail_and_stores_nothing(make_settings, monkeypatch) -> None:
    """Another writer holding the lock past the busy timeout: the MTA is
    told to retry (75), as by the full path; nothing half-written stays."""
    settings = make_settings()
    Gateway(settings).close()
    path = settings.storage.url.removeprefix("sqlite:///")
    monkeypatch.setattr(direct, "SQLITE_BUSY_SECONDS", 0.2)
    door = direct.open_inbox(settings.storage)
    assert door is not None
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with door:
            receipt = door.accept(_delivery(make_mail()))
    finally:
        holder.close()
    assert not receipt.accepted and "locked" in receipt.reason
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM inbox").fetchone() == (0,)


def test_a_database_not_at_head_is_the_full_paths(tmp_path: Path, make_settings) -> None:
    assert direct.open_inbox(StorageConfig(url=f"sqlite:///{tmp_path}/none.db")) is None
    assert not (tmp_path / "none.db").exists()
    settings = make_settings()
    Gateway(settings).close()
    with sqlite3.connect(settings.storage.url.removeprefix("sqlite:///")) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0014'")
    assert direct.open_inbox(settings.storage) is None, "behind: the full path refuses it (exit 75)"


def test_a_backlog_process_looks_for_mail_again_once_it_has_left_the_living(make_settings, url: str,
                                                                            monkeypatch) -> None:
    """``gateway process`` (also the one a pipe starts when no worker runs)
    leaves the living first, then looks for mail once more: a pipe that
    stored its mail while the process still looked alive left the mail to it,
    and must not find it stranded (issue 19, item 7)."""
    settings = make_settings(storage={"url": url})
    gateway = Gateway(settings)
    pipe_saw_a_worker: list[bool] = []
    leave = gateway._processor_gone

    def a_pipe_stores_just_before_the_process_leaves() -> None:
        if not pipe_saw_a_worker:
            with direct.open_inbox(settings.storage) as door:
                assert door.accept(_pipe_delivery("<late@client.example.org>")).accepted
                pipe_saw_a_worker.append(door.processor_alive())
        leave()

    monkeypatch.setattr(gateway, "_processor_gone", a_pipe_stores_just_before_the_process_leaves)
    try:
        assert gateway.ingest.accept(_pipe_delivery("<first@client.example.org>")).accepted
        assert gateway.process_backlog() == 2
        assert pipe_saw_a_worker == [True], "the pipe left its mail to this process"
        with gateway.db.reading() as tx:
            from sqlalchemy import text

            statuses = tx.execute(text("SELECT message_id, status, outcome FROM inbox ORDER BY id")).all()
            living = tx.execute(text("SELECT count(*) FROM processor")).scalar()
    finally:
        gateway.close()
    assert [tuple(row) for row in statuses] == [("first@client.example.org", "processed", "new_ticket"),
                                                ("late@client.example.org", "processed", "new_ticket")]
    assert living == 0


def _pipe_delivery(message_id: str) -> Delivery:
    return Delivery(raw=make_mail(message_id=message_id), mail_from="ana.souza@example.org",
                    rcpt_tos=("atendimento@example.gov.br",), via="pipe", received_at=datetime.now(timezone.utc))


def test_a_burst_of_pipes_claims_one_start_and_a_worker_lifts_the_marks(make_settings, url: str) -> None:
    """``claim_start`` answers True once in ``ALIVE_WITHIN`` seconds; the
    marks are never counted as workers; a worker's renewal lifts both."""
    settings = make_settings(storage={"url": url})
    gateway = Gateway(settings)
    try:
        doors = [direct.open_inbox(settings.storage) for _ in range(3)]
        try:
            assert [door.claim_start() for door in doors] == [True, False, False]
            assert not doors[0].processor_alive(), "a process starting is no worker yet"
            processors.not_ready(gateway.db)
            assert doors[1].not_ready() and not doors[1].processor_alive()
            processors.seen(gateway.db, "node-c:9")
            assert not doors[2].not_ready() and doors[2].processor_alive()
            processors.gone(gateway.db, "node-c:9")
            assert doors[2].claim_start(), "the mark went with the worker's renewal"
            assert not doors[0].claim_start()
            _dated(gateway, direct.STARTING, -(direct.ALIVE_WITHIN + 1))  # its process never came
            assert doors[0].claim_start() and not doors[1].claim_start(), "a stale claim is taken over once"
        finally:
            for door in doors:
                door.close()
    finally:
        gateway.close()


def test_a_failed_pass_is_tried_again_and_the_process_leaves_the_living(make_settings, url: str,
                                                                         monkeypatch) -> None:
    """A storage error in a pass (SQLite locked past its timeout, PostgreSQL
    restarting) is tried again after a pause; ``gateway process`` does not
    give up on the mails that pipes left to it."""
    import sqlalchemy.exc

    monkeypatch.setattr("gateway.app._IDLE_PAUSE", 0.01)
    gateway = Gateway(make_settings(storage={"url": url}))
    drain, failures = gateway.ingest.drain, [2]

    def failing(*args, **kwargs):
        if failures[0]:
            failures[0] -= 1
            raise sqlalchemy.exc.OperationalError("BEGIN", {}, Exception("database is locked"))
        return drain(*args, **kwargs)

    monkeypatch.setattr(gateway.ingest, "drain", failing)
    try:
        assert gateway.ingest.accept(_pipe_delivery("<locked@client.example.org>")).accepted
        assert gateway.process_backlog() == 1
        assert gateway.ingest.accept(_pipe_delivery("<gone@client.example.org>")).accepted
        failures[0] = 6  # the database stays away: it gives up after five pauses, and leaves the living
        with pytest.raises(sqlalchemy.exc.OperationalError):
            gateway.process_backlog()
        with gateway.db.reading() as tx:
            from sqlalchemy import text

            assert tx.execute(text("SELECT status FROM inbox ORDER BY id")).scalars().all() == ["processed",
                                                                                             "accepted"]
            assert tx.execute(text("SELECT count(*) FROM processor")).scalar() == 0
    finally:
        gateway.close()


def test_the_backlog_db_status_reports_reads_both_databases(make_settings, url: str) -> None:
    """Waiting mail, its age, the workers alive and the pipes' marks, read
    back as aware UTC instants from either database's own types."""
    settings = make_settings(storage={"url": url})
    gateway = Gateway(settings)
    try:
        assert processors.backlog(gateway.db) == processors.Backlog(0, None, 0, None, None)
        with direct.open_inbox(settings.storage) as door:
            assert door.accept(_pipe_delivery("<waiting@client.example.org>")).accepted
            assert door.claim_start()
        starting = processors.backlog(gateway.db)
        assert starting.starting_since is not None and starting.waiting == 1 and starting.workers == 0
        processors.not_ready(gateway.db)
        processors.seen(gateway.db, "node-d:1")  # a worker renewing lifts both marks
        processors.not_ready(gateway.db)
        found = processors.backlog(gateway.db)
    finally:
        gateway.close()
    assert (found.waiting, found.workers, found.starting_since) == (1, 1, None)
    for instant in (found.oldest, found.not_ready_since):
        assert instant is not None and instant.tzinfo is not None
        assert abs((datetime.now(timezone.utc) - instant).total_seconds()) < 60


def test_a_nul_in_the_message_id_or_envelope_is_stored_without_it_by_either_door(make_settings, url: str) -> None:
    """PostgreSQL's text refuses NUL: such a mail failed its whole commit
    group (451 to every mail in it, each retry) and could never be stored."""
    settings = make_settings(storage={"url": url})
    gateway = Gateway(settings)
    try:
        raw = make_mail(message_id="<a\x00b@client.example.org>")
        poisoned = Delivery(raw=raw, mail_from="ana\x00@example.org", rcpt_tos=("atendimento@example.gov.br\x00",),
                            via="smtp", received_at=NOW, mailbox_hint="cnes@b.org\x00")
        ours = gateway.ingest.accept(poisoned)
        door = direct.open_inbox(settings.storage)
        assert door is not None
        with door:
            theirs = door.accept(poisoned)
        assert ours.accepted and theirs.accepted, (ours, theirs)
        for inbox_id in (ours.inbox_id, theirs.inbox_id):
            stored = _stored_text(url, inbox_id)
            assert stored[COLUMNS.index("message_id")] == "a"  # the part before the NUL
            assert stored[COLUMNS.index("mail_from")] == "ana@example.org"
            assert stored[COLUMNS.index("raw")] == raw  # the bytes themselves are kept as they came
    finally:
        gateway.close()
