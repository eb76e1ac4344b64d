"""The short commands' reads without SQLAlchemy (``store.direct``) show what
the ORM's reads show, value for value, on SQLite and on PostgreSQL.

Compared as JSON text, so a ``1`` where the ORM gives ``true`` or a naive
time where it gives ``+00:00`` is a difference (Python's ``1 == True``
would hide the first)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.config import StorageConfig
from gateway.delivery import Delivery
from gateway.services import views
from gateway.store import direct, fields
from gateway.store import tickets as store
from gateway.store.models import Base
from gateway.store.reads import SessionReads
from gateway.store.revisions import head
from tests.helpers.mailfactory import make_mail

MAILBOX = "atendimento@example.gov.br"
NOW = datetime(2026, 12, 7, 15, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/gateway.db"
    import psycopg

    found: str = request.getfixturevalue("postgres_url")
    # A Brazilian desk's server may well run on its own time: the driver then
    # hands back times in that zone, and they must still read as UTC.
    with psycopg.connect(found.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(f"ALTER DATABASE \"{found.rsplit('/', 1)[1]}\" SET timezone = 'America/Sao_Paulo'")
    return found


def _deliver(gateway: Gateway, raw: bytes) -> None:
    receipt = gateway.ingest.accept(Delivery(raw=raw, mail_from="ana.souza@example.org", rcpt_tos=(MAILBOX,),
                                             via="smtp", received_at=NOW, peer="127.0.0.1"))
    assert receipt.inbox_id is not None
    gateway.ingest.drain()


def _every_column_set(gateway: Gateway) -> list[str]:
    """Two tickets through the pipeline (an attachment, a Cc, a reply), then
    every column the pipeline left empty given a value, so each converter
    has something to convert."""
    _deliver(gateway, make_mail(subject="Erro no cadastro", message_id="<one@client.example.org>",
                                cc="Bruno <bruno@example.org>",
                                attachments=[("tela.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)]))
    _deliver(gateway, make_mail(subject="Outro assunto", message_id="<two@client.example.org>"))
    with gateway.db.transaction() as tx:
        first, second = sorted(store.listing(tx), key=lambda t: t.id)
    _deliver(gateway, make_mail(subject=f"RES: [{first.protocol}] Erro no cadastro", body="Segue o CPF.",
                                in_reply_to="<one@client.example.org>"))
    with gateway.db.transaction() as tx:
        first = store.by_protocol(tx, first.protocol)
        first.status, first.closed_at, first.closed_reason = "closed", NOW, "accepted"
        first.survey_score, first.survey_comment, first.survey_at = 4, "Bom atendimento, CPF 123.456.789-09", NOW
        first.tags, first.category, first.assignee = ["cnes", "urgente"], "cadastro", "joao@example.gov.br"
        first.linked_ticket_id, first.due_at, first.due_kind = second.id, NOW + timedelta(days=2), "limit"
        first.limit_at = first.remind_at = first.first_response_due_at = NOW + timedelta(hours=5)
        first.first_response_at = first.resolution_due_at = first.resolved_at = first.reopened_at = NOW
        first.sla_first_response, first.sla_resolution, first.missing_fields = "2h", "3d", "uf"
        fields.put(tx, first.id, {"cpf": ("123.456.789-09", True), "telefone": ("(61) 99999-8888", False)}, NOW)
        return [first.protocol, second.protocol]


def _views(reads: object, protocols: list[str], settings: object, reveal: bool) -> str:
    shown = [views.detail(reads, p, reveal=reveal, settings=settings, now=NOW) for p in protocols]
    listed = [views.summary(t, reveal=reveal, settings=settings, now=NOW) for t in reads.listing(limit=10)]
    filtered = [t.protocol for t in reads.listing(mailbox=MAILBOX, status="closed", limit=10)]
    return json.dumps({"shown": shown, "listed": listed, "filtered": filtered,
                       "round": reads.by_protocol(protocols[0]).solution_round}, ensure_ascii=False, sort_keys=True)


@pytest.mark.parametrize("reveal", [False, True], ids=["masked", "revealed"])
def test_direct_reads_show_what_the_orm_shows(make_settings, url: str, reveal: bool) -> None:
    settings = make_settings(storage={"url": url})
    gateway = Gateway(settings)
    try:
        protocols = _every_column_set(gateway)
        with gateway.db.reading() as tx:
            expected = _views(SessionReads(tx), protocols, settings, reveal)
    finally:
        gateway.close()
    reads = direct.open_reads(settings.storage)
    assert isinstance(reads, direct.DirectReads), "the database is at head: the direct path must take it"
    with reads:
        got = _views(reads, protocols, settings, reveal)
    assert got == expected
    data = json.loads(got)["shown"][0]
    assert data["survey"]["answered_at"].endswith("+00:00") and data["tags"] == ["cnes", "urgente"]
    assert data["messages"][0]["attachments"][0]["passed_on"] is True and data["linked_to"] == protocols[1]


def test_every_sqlite_column_the_orm_converts_has_its_converter(tmp_path: Path) -> None:
    """The SQLite converters go by declared type: each column SQLAlchemy reads
    as a datetime, a boolean or JSON must be declared so, and no other."""
    from sqlalchemy import JSON, Boolean

    from gateway.store.db import Database
    from gateway.store.models import UtcDateTime

    database = Database(StorageConfig(url=f"sqlite:///{tmp_path}/gateway.db"))
    database.migrate()
    database.dispose()
    connection = sqlite3.connect(tmp_path / "gateway.db")
    try:
        for table in Base.metadata.sorted_tables:
            declared = {row[1]: row[2].upper() for row in connection.execute(f'PRAGMA table_info("{table.name}")')}
            for column in table.columns:
                kind = (direct._SQLITE_TYPES.get(declared[column.name]), type(column.type))
                wanted = {UtcDateTime: direct._sqlite_datetime, Boolean: direct._sqlite_boolean,
                          JSON: direct._sqlite_json}.get(type(column.type))
                assert kind[0] is wanted, f"{table.name}.{column.name}: declared {declared[column.name]}"
    finally:
        connection.close()


def test_anything_but_a_database_at_head_is_left_to_the_full_path(tmp_path: Path, make_settings) -> None:
    missing = StorageConfig(url=f"sqlite:///{tmp_path}/none.db")
    assert direct.open_reads(missing) is None and not (tmp_path / "none.db").exists()  # nothing created
    assert direct.open_reads(StorageConfig(url=f"sqlite:///{tmp_path}/x.db?mode=ro")) is None
    assert direct.open_reads(StorageConfig(url="mysql://nobody@127.0.0.1/none")) is None
    settings = make_settings()
    Gateway(settings).close()
    path = settings.storage.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0013'")
    assert head() != "0013" and direct.open_reads(settings.storage) is None
    (tmp_path / "junk.db").write_bytes(b"not a database at all")
    assert direct.open_reads(StorageConfig(url=f"sqlite:///{tmp_path}/junk.db")) is None


def test_a_mail_committed_between_two_reads_is_in_both_or_neither(make_settings, url: str, monkeypatch) -> None:
    """``tickets show`` reads messages, then their attachments, then the
    events: a reply with an attachment and its event committed in between
    must neither break a later read nor show half of itself (one snapshot,
    as SQLite's transaction gives; PostgreSQL needs REPEATABLE READ)."""
    settings = make_settings(storage={"url": url})
    gateway = Gateway(settings)
    try:
        [protocol, _] = _every_column_set(gateway)
        reads = direct.open_reads(settings.storage)
        assert reads is not None
        read = direct.DirectReads._rows
        arrived: list[int] = []

        def rows_then_a_reply(self, table, sql, params):
            found = read(self, table, sql, params)
            if table == "message" and not arrived:  # after the messages, before the attachments
                with gateway.db.transaction() as tx:
                    ticket = store.by_protocol(tx, protocol)
                    arrived.append(store.add_message(
                        tx, ticket, direction="in", role="requester", sender="ana.souza@example.org", sent_at=NOW,
                        subject="RES", text="Mais um anexo", message_id="<late@client.example.org>",
                        attachments=[{"filename": "late.pdf", "declared_type": "application/pdf",
                                      "sniffed_type": "application/pdf", "size": 10, "sha256": "0" * 64}]))
                    store.add_event(tx, ticket, at=NOW, actor="ana.souza@example.org", kind="follow_up",
                                    note="late reply")
            return found

        monkeypatch.setattr(direct.DirectReads, "_rows", rows_then_a_reply)
        with reads:
            data = views.detail(reads, protocol, reveal=True, settings=settings, now=NOW)
    finally:
        gateway.close()
    assert arrived, "the reply was committed between the two reads"
    assert data is not None and "<late@client.example.org>" not in [m["message_id"] for m in data["messages"]]
    assert "late.pdf" not in json.dumps(data) and "late reply" not in [e["note"] for e in data["events"]]


def test_a_database_that_does_not_answer_is_said_at_once(make_settings, tmp_path: Path, monkeypatch) -> None:
    """Locked past the busy timeout, or a server that refuses: one error
    naming the URL (no password), not a second wait on the full path."""
    from tests.helpers.servers import free_port

    settings = make_settings()
    Gateway(settings).close()
    holder = sqlite3.connect(settings.storage.url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("UPDATE alembic_version SET version_num = version_num")
        monkeypatch.setattr(direct, "SQLITE_BUSY_SECONDS", 0.2)
        with pytest.raises(direct.Unreachable, match="database is locked"):
            direct.open_reads(settings.storage)
    finally:
        holder.close()
    refused = StorageConfig(url=f"postgresql+psycopg://gateway:s3cr3t@127.0.0.1:{free_port()}/gateway")
    with pytest.raises(direct.Unreachable) as raised:
        direct.open_reads(refused)
    assert "s3cr3t" not in str(raised.value) and "gateway:***@127.0.0.1" in str(raised.value)


def test_urls_the_driver_would_read_otherwise_are_the_full_paths(tmp_path: Path, make_settings) -> None:
    """SQLAlchemy and libpq read a URL's options differently (several hosts,
    a '+' in a value): such a URL never takes the direct path."""
    settings = make_settings()
    Gateway(settings).close()
    path = settings.storage.url.removeprefix("sqlite:///")
    with direct.open_reads(StorageConfig(url=f"sqlite+pysqlite:///{path}")) as reads:
        assert reads.listing() == []
    for url in ("postgresql+psycopg://postgres@127.0.0.1:5432/test?host=primary&host=standby",
                "postgresql+psycopg://postgres@primary:5432,standby:5432/test",
                "postgresql+psycopg://postgres@127.0.0.1:5432/test?sslrootcert=/etc/pg/ca+root.crt",
                "postgresql://postgres@127.0.0.1:5432/test"):  # psycopg2's: not the driver we read with
        assert direct.open_reads(StorageConfig(url=url)) is None, url
