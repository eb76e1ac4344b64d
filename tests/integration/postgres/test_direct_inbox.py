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


def test_the_direct_door_stores_the_row_the_gateways_writer_stores(make_settings, url: str) -> None:
    settings = make_settings(storage={"url": url})
    gateway = Gateway(settings)
    try:
        ours = gateway.ingest.accept(_delivery(make_mail(message_id="<one@client.example.org>")))
        door = direct.open_inbox(settings.storage)
        assert door is not None
        with door:
            theirs = door.accept(_delivery(make_mail(message_id="<one@client.example.org>")))
        assert ours.accepted and theirs.accepted and theirs.inbox_id == ours.inbox_id + 1
        with gateway.db.reading() as tx:
            from gateway.store import inbox

            rows = [inbox.get(tx, receipt.inbox_id) for receipt in (ours, theirs)]
            read = [{column: getattr(row, column) for column in COLUMNS} for row in rows]
    finally:
        gateway.close()
    assert read[0] == read[1]
    assert read[1]["received_at"] == NOW and read[1]["rcpt_tos"] == ["atendimento@example.gov.br", "cnes+X@b.org"]
    assert read[1]["status"] == "accepted" and read[1]["message_id"] == "one@client.example.org"


def test_a_worker_is_alive_until_three_renewals_are_missed(make_settings, url: str) -> None:
    settings = make_settings(storage={"url": url})
    gateway = Gateway(settings)
    try:
        door = direct.open_inbox(settings.storage)
        assert door is not None
        with door:
            assert not door.processor_alive(NOW)
        processors.seen(gateway.db, "node-a:1", NOW - timedelta(seconds=direct.ALIVE_WITHIN + 1))
        processors.seen(gateway.db, "node-b:2", NOW - timedelta(seconds=5))
        with direct.open_inbox(settings.storage) as door:
            assert door.processor_alive(NOW)
        processors.gone(gateway.db, "node-b:2")
        with direct.open_inbox(settings.storage) as door:
            assert not door.processor_alive(NOW), "only a stale row is left"
        processors.seen(gateway.db, "node-a:1", NOW)  # renewed: the same row, newer
        with direct.open_inbox(settings.storage) as door:
            assert door.processor_alive(NOW + timedelta(seconds=direct.ALIVE_WITHIN - 1))
            assert not door.processor_alive(NOW + timedelta(seconds=direct.ALIVE_WITHIN + 1))
    finally:
        gateway.close()


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


def test_a_database_not_at_head_is_the_full_paths(tmp_path: Path) -> None:
    assert direct.open_inbox(StorageConfig(url=f"sqlite:///{tmp_path}/none.db")) is None
    assert not (tmp_path / "none.db").exists()
