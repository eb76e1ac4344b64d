"""store.retention's SQL on both databases: tickets made by the real
pipeline (``Ingest.accept`` with real mails, then processing), then the
purge and the erasure; every text and binary column of every table is
scanned for the person's data afterwards."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from gateway.app import Gateway
from gateway.clock import FixedClock
from gateway.delivery import Delivery
from gateway.store import bounces, retention
from gateway.store.models import InboxRow, TicketRow
from tests.helpers.mailfactory import make_mail
from tests.integration.operations.conftest import scan
from tests.integration.postgres.conftest import postgres_url  # noqa: F401 - fixture

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
MAILBOX = "atendimento@example.gov.br"
CARLA = "Carla.Dias@example.org"
NEEDLES = ["carla.dias@example.org", "Carla Dias", "111.444.777-35", "Paralelepipedal"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def gateway(request: pytest.FixtureRequest, make_settings, tmp_path: Path) -> Iterator[Gateway]:
    url = (f"sqlite:///{tmp_path}/gateway.db" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    node = Gateway(make_settings(storage={"url": url}), FixedClock(NOW))
    yield node
    node.close()


def _deliver(gateway: Gateway, sender: str, name: str, subject: str, body: str, cc: str | None = None) -> None:
    receipt = gateway.ingest.accept(Delivery(
        raw=make_mail(sender=f"{name} <{sender}>", subject=subject, body=body, cc=cc), mail_from=sender,
        rcpt_tos=(MAILBOX,), via="smtp", received_at=NOW))
    assert receipt.accepted
    gateway.ingest.process_pending()


def _url(gateway: Gateway) -> str:
    return gateway.db.url.render_as_string(hide_password=False)


def _carla_and_davi(gateway: Gateway) -> None:
    _deliver(gateway, CARLA, "Carla Dias", "Paralelepipedal quebrado",
             "Sou Carla Dias, CPF 111.444.777-35. Paralelepipedal solto na rua.")
    _deliver(gateway, "davi@example.org", "Davi Rocha", "Outro pedido", "Texto do Davi.", cc=CARLA)


def test_forget_leaves_nothing_of_the_person_on_either_database(gateway):
    _carla_and_davi(gateway)
    with gateway.db.transaction() as tx:  # a hard bounce marked her address dead
        bounces.mark(tx, CARLA.lower(), at=NOW, status="5.1.1", reason="no_such_user",
                     diagnostic=f"550 5.1.1 <{CARLA.lower()}>: user unknown", outbox_id=None)
    assert scan(_url(gateway), NEEDLES)
    counts = retention.forget(gateway.db, CARLA, at=NOW, include_open=True, dry_run=True)
    assert scan(_url(gateway), NEEDLES), "a dry run changes nothing"
    assert retention.forget(gateway.db, CARLA, at=NOW, include_open=True) == counts
    assert scan(_url(gateway), NEEDLES) == []
    assert scan(_url(gateway), ["davi@example.org"]), "Davi's ticket keeps his address"
    with gateway.db.reading() as tx:
        kinds = tx.scalars(text("SELECT kind FROM event WHERE kind = 'anonymised'")).all()
        assert len(kinds) == 1 and tx.scalar(text("SELECT count(*) FROM ticket")) == 2


def test_purge_anonymises_only_tickets_closed_before_the_date(gateway):
    _carla_and_davi(gateway)
    with gateway.db.transaction() as tx:  # Carla's ticket was closed a year ago; Davi's is open
        tx.execute(update(TicketRow).where(TicketRow.requester == CARLA.lower())
                   .values(status="closed", closed_at=NOW - timedelta(days=365)))
        messages = tx.scalar(text("SELECT count(*) FROM message JOIN ticket ON ticket.id = message.ticket_id "
                                  "WHERE ticket.status = 'closed'"))
    counts = retention.purge(gateway.db, raw_before=None, closed_before=NOW - timedelta(days=30), at=NOW, why="teste")
    assert counts["ticket"] == 1 and counts["message"] == messages >= 2  # the citizen's mail, our answers
    with gateway.db.reading() as tx:
        requesters = sorted(tx.scalars(select(TicketRow.requester)))
        ids = tx.scalars(select(TicketRow.id).order_by(TicketRow.id)).all()
    assert requesters == sorted(["davi@example.org", retention.placeholder(ids[0])])
    assert retention.purge(gateway.db, raw_before=None, closed_before=NOW, at=NOW, why="teste") == {}


def test_drop_raw_keeps_sizes_and_hashes(gateway):
    _carla_and_davi(gateway)
    with gateway.db.reading() as tx:
        before = tx.execute(text("SELECT id, size, sha256 FROM inbox ORDER BY id")).all()
    counts = retention.purge(gateway.db, raw_before=NOW + timedelta(seconds=1), closed_before=None, at=NOW,
                             why="teste")
    assert counts["inbox.raw"] == 2
    with gateway.db.reading() as tx:
        assert tx.execute(text("SELECT id, size, sha256 FROM inbox ORDER BY id")).all() == before
        assert tx.scalar(text("SELECT count(*) FROM inbox_raw WHERE length(raw) > 0")) == 0



@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def forwarding(request: pytest.FixtureRequest, make_settings, tmp_path: Path) -> Iterator[Gateway]:
    """A gateway that forwards mail to postmaster@ to a person."""
    url = (f"sqlite:///{tmp_path}/gateway.db" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    node = Gateway(make_settings(storage={"url": url}, smtp={"postmaster": "chefe@example.gov.br"}), FixedClock(NOW))
    yield node
    node.close()


def test_forget_empties_a_postmaster_forward_of_the_persons_mail(forwarding):
    """Mail to postmaster@ is forwarded whole, attached, with no ticket and
    to the postmaster: only its bytes name the person, and they go too."""
    receipt = forwarding.ingest.accept(Delivery(
        raw=make_mail(sender=f"Carla Dias <{CARLA}>", to="postmaster@example.gov.br",
                      subject="Paralelepipedal", body="Sou Carla Dias, CPF 111.444.777-35."),
        mail_from=CARLA, rcpt_tos=("postmaster@example.gov.br",), via="smtp", received_at=NOW))
    assert receipt.accepted
    forwarding.ingest.process_pending()
    with forwarding.db.reading() as tx:
        [(ticket_id, first_rcpt, size)] = tx.execute(text(
            "SELECT outbox.ticket_id, outbox.first_rcpt, length(outbox_raw.raw) FROM outbox "
            "JOIN outbox_raw ON outbox_raw.message_id = outbox.message_id WHERE outbox.kind = 'postmaster'")).all()
    assert ticket_id is None and first_rcpt == "chefe@example.gov.br" and size > 0
    assert scan(_url(forwarding), NEEDLES)
    counts = retention.forget(forwarding.db, CARLA, at=NOW, include_open=True)
    assert counts["outbox"] == 1
    assert scan(_url(forwarding), NEEDLES) == []


def test_forget_finds_the_person_in_a_forward_that_attached_their_mail_in_base64(forwarding):
    """A mail with a line over 998 bytes is attached in base64: the
    person's address, CPF and all are in the stored bytes only encoded."""
    raw = (f"From: Carla Dias <{CARLA}>\r\nTo: postmaster@example.gov.br\r\nSubject: Paralelepipedal\r\n"
           f"Message-ID: <longa@example.org>\r\n\r\nSou Carla Dias, CPF 111.444.777-35.\r\n{'x' * 1_200}\r\n")
    receipt = forwarding.ingest.accept(Delivery(raw=raw.encode("ascii"), mail_from=CARLA,
                                                rcpt_tos=("postmaster@example.gov.br",), via="smtp", received_at=NOW))
    assert receipt.accepted
    forwarding.ingest.process_pending()
    with forwarding.db.reading() as tx:
        [raw] = tx.execute(text("SELECT outbox_raw.raw FROM outbox_raw JOIN outbox ON outbox.message_id = "
                                "outbox_raw.message_id WHERE outbox.kind = 'postmaster'")).scalars().all()
    assert b"111.444.777-35" not in bytes(raw), "the original is attached encoded"
    assert retention.forget(forwarding.db, CARLA, at=NOW, include_open=True)["outbox"] == 1
    assert scan(_url(forwarding), NEEDLES) == []


def test_an_address_is_found_through_transfer_encodings():
    import base64

    from gateway.mail.naming import names

    needle = "carla.dias@example.org"
    assert names(b"de Carla.Dias@Example.org", needle)
    assert names(b"Enviado por carla.di=\r\nas@example.org em", needle)  # quoted-printable's soft break
    assert names(b"Enviado por carla.dias=40example=2Eorg em", needle)  # and its escapes
    subject = "Reclamação sobre carla.dias@example.org".encode()
    words = b" ".join(b"=?utf-8?b?" + base64.b64encode(subject[i:i + 30]) + b"?=" for i in range(0, len(subject), 30))
    assert names(b"Subject: " + words + b"\r\n", needle)  # RFC 2047, the address across two words
    attached = base64.encodebytes(b"From: Carla <carla.dias@example.org>\r\n\r\nCPF\r\n")
    assert names(b"Content-Transfer-Encoding: base64\r\n\r\n" + attached, needle)
    twice = base64.encodebytes(b"Content-Transfer-Encoding: base64\r\n\r\n" + attached)  # a mail in a mail
    assert names(b"\r\n" + twice, needle)
    assert names(b"para jos\xc3\xa9@exemplo.br", "josé@exemplo.br")  # an SMTPUTF8 address
    assert not names(b"carla@example.org, dias@example.org\r\n" + base64.encodebytes(b"outra pessoa"), needle)


@pytest.mark.parametrize("header", [b"=?idna?q?x?=", b"=?punycode?q?a-=FF?=", b"=?a\x00?q?x?=", b"=?utf-8?b?@@@?=",
                                    b"=?desconhecido?q?carla.dias=40example.org?=", b"=?a?q?x?= " * 100_000])
def test_a_hostile_header_never_stops_the_search(header):
    """Charsets whose codecs refuse ``errors="replace"`` (idna), raise on
    their own (punycode) or hold a NUL, broken base64, and a run of 100,000
    words (``email.header`` takes time growing with the square of it)."""
    from gateway.mail.naming import names

    found = names(b"Subject: " + header + b"\r\n\r\ntexto\r\n", "carla.dias@example.org")
    assert found is (b"carla.dias=40" in header)


def test_holes_are_the_ids_missing_below_the_last():
    from gateway.store.retention import _later

    ids = InboxRow.id
    assert [str(c.compile(compile_kwargs={"literal_binds": True})) for c in _later(ids, 9, [(3, 4), (6, 8)], [7])] == [
        "inbox.id > 9", "inbox.id IN (7)", "inbox.id BETWEEN 3 AND 4 OR inbox.id BETWEEN 6 AND 8"]


def test_forget_counts_each_mail_once(gateway):
    """The person's own ticket's mails are emptied by the anonymisation;
    the search of the bytes must not find and count them again."""
    _deliver(gateway, CARLA, "Carla Dias", "Paralelepipedal quebrado", "Sou Carla Dias.")
    with gateway.db.reading() as tx:
        outbox_rows = tx.scalar(text("SELECT count(*) FROM outbox"))
    counts = retention.forget(gateway.db, CARLA, at=NOW, include_open=True)
    assert counts["inbox"] == 1 and counts["outbox"] == outbox_rows >= 2
    assert scan(_url(gateway), NEEDLES) == []


def test_forget_reads_every_page_of_stored_mails(gateway, monkeypatch):
    """Pages of three sizes, one mail's bytes per query: the mail naming the
    person is on the last page."""
    monkeypatch.setattr(retention, "_SCAN_KEYS", 3)
    monkeypatch.setattr(retention, "_SCAN_BYTES", 1)
    for n in range(7):
        _deliver(gateway, f"pessoa{n}@example.org", f"Pessoa {n}", f"Pedido {n}", f"Texto {n}.")
    _deliver(gateway, "davi@example.org", "Davi Rocha", "Outro pedido",
             "Quem viu foi a vizinha, carla.dias@example.org, CPF 111.444.777-35.")
    assert scan(_url(gateway), NEEDLES)
    retention.forget(gateway.db, CARLA, at=NOW, include_open=True)
    assert scan(_url(gateway), NEEDLES) == []


def test_forget_reads_the_mails_processed_and_queued_after_its_scan(gateway, monkeypatch):
    """The bytes are searched before the erasure's transaction; what was
    processed or queued meanwhile is searched inside it."""
    _deliver(gateway, "pessoa@example.org", "Pessoa", "Pedido", "Texto.")
    real = retention.named_in_bytes

    def scan_then_mail_arrives(tx, address):
        named = real(tx, address)
        _deliver(gateway, "davi@example.org", "Davi Rocha", "Outro pedido",
                 "Quem viu foi a vizinha, carla.dias@example.org, CPF 111.444.777-35.")
        return named

    monkeypatch.setattr(retention, "named_in_bytes", scan_then_mail_arrives)
    retention.forget(gateway.db, CARLA, at=NOW, include_open=True)
    assert scan(_url(gateway), NEEDLES) == []


def test_a_mail_still_to_be_processed_is_read_before_the_erasure_and_emptied_once_processed(gateway, monkeypatch):
    """Mails still to be processed are searched with the rest, before the
    erasure's transaction (a backlog read inside it held up every mail
    arriving); one processed before the erasure is emptied, and the
    erasure reads no mail's bytes again for it."""
    raw = make_mail(sender="Davi Rocha <davi@example.org>", subject="Outro pedido",
                    body="Quem viu foi a vizinha, carla.dias@example.org.")
    receipt = gateway.ingest.accept(Delivery(raw=raw, mail_from="davi@example.org", rcpt_tos=(MAILBOX,), via="smtp",
                                             received_at=NOW))
    real, read = retention.named_in_bytes, []

    def then_processed(tx, address):
        named = real(tx, address)
        assert named.inbox_open == [receipt.inbox_id] and named.inbox == []
        gateway.ingest.process_pending()
        read.clear()  # the mails the erasure reads from here on
        return named

    real_names = retention.names
    monkeypatch.setattr(retention, "names", lambda data, needle: read.append(data) or real_names(data, needle))
    monkeypatch.setattr(retention, "named_in_bytes", then_processed)
    retention.forget(gateway.db, CARLA, at=NOW, include_open=True)
    with gateway.db.reading() as tx:
        assert tx.scalar(text("SELECT length(raw) FROM inbox_raw WHERE inbox_id = :id"),
                         {"id": receipt.inbox_id}) == 0
    assert raw not in read, "the mail's bytes are not read again inside the erasure"


def _davi_names_carla(gateway: Gateway) -> int:
    _deliver(gateway, "davi@example.org", "Davi Rocha", "Outro pedido",
             "Quem viu foi a vizinha, carla.dias@example.org, CPF 111.444.777-35.")
    with gateway.db.reading() as tx:
        return tx.scalar(select(func.max(InboxRow.id)))


def test_forget_reads_a_mail_its_scan_could_not_see(gateway, monkeypatch):
    """On PostgreSQL an id below the highest seen may belong to a
    transaction not yet committed: such holes are read again."""
    inbox_id = _davi_names_carla(gateway)
    real = retention.named_in_bytes

    def as_if_not_yet_committed(tx, address):
        named = real(tx, address)
        assert named.inbox == [inbox_id]
        return dataclasses.replace(named, inbox=[], inbox_holes=[(inbox_id, inbox_id)])

    monkeypatch.setattr(retention, "named_in_bytes", as_if_not_yet_committed)
    retention.forget(gateway.db, CARLA, at=NOW, include_open=True)
    with gateway.db.reading() as tx:
        assert tx.scalar(text("SELECT length(raw) FROM inbox_raw WHERE inbox_id = :id"), {"id": inbox_id}) == 0


def test_a_mail_released_during_the_scan_keeps_its_bytes_until_processed(gateway, monkeypatch):
    """A mail released from quarantine is 'accepted' again: to be processed,
    so it keeps its bytes and sender, as every mail still to be processed."""
    inbox_id = _davi_names_carla(gateway)
    real = retention.named_in_bytes

    def released_meanwhile(tx, address):
        named = real(tx, address)
        with gateway.db.transaction() as other:
            other.execute(update(InboxRow).where(InboxRow.id == inbox_id).values(status="accepted"))
        return named

    monkeypatch.setattr(retention, "named_in_bytes", released_meanwhile)
    retention.forget(gateway.db, CARLA, at=NOW, include_open=True)
    with gateway.db.reading() as tx:
        row = tx.get(InboxRow, inbox_id)
        assert row.mail_from == "davi@example.org" and b"carla.dias@example.org" in bytes(row.raw)
