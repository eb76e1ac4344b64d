"""Issue 19.6: the sender keeps up.  One SMTP session carries a batch to
the relay (not one connection per mail), acknowledgements leave before
team notices, and a relay that drops the connection mid-batch costs only
the mail in flight: the rest goes on a new connection, nothing twice.

Real parts only: the gateway's Sender and SmtpDeliverer, a migrated
SQLite database, and a real aiosmtpd relay (CaptureRelay) that counts
the sessions it is opened."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from gateway.clock import FixedClock
from gateway.config import OutboundConfig
from gateway.outbound.delivery import SmtpDeliverer
from gateway.store import outbox
from gateway.store.db import Database
from gateway.store.models import OutboxRow
from gateway.workers.sender import Sender
from tests.helpers.servers import CaptureRelay, parse_message
# the outbox on SQLite and on PostgreSQL (where the claim is FOR UPDATE SKIP LOCKED)
from tests.integration.postgres.conftest import db, postgres_url  # noqa: F401 - fixtures

START = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def relay() -> Iterator[CaptureRelay]:
    server = CaptureRelay().start()
    yield server
    server.stop()


def _queue(db: Database, kind: str, count: int, *, at: datetime, first: int = 0) -> None:
    with db.transaction() as tx:
        for n in range(first, first + count):
            to = "equipe@example.gov.br" if kind.startswith("team_") else f"cidadao{n}@example.org"
            message_id = f"<{kind}.{n}@gateway.example.gov.br>"
            raw = (f"From: atendimento@example.gov.br\r\nTo: {to}\r\nSubject: {kind} {n}\r\n"
                   f"Message-ID: {message_id}\r\n\r\nCorpo {n}.\r\n").encode()
            outbox.add(tx, ticket_id=None, kind=kind, message_id=message_id, mail_from="atendimento@example.gov.br",
                       rcpt_tos=[to], raw=raw, at=at)


def _sender(db: Database, relay: CaptureRelay, clock: FixedClock) -> Sender:
    config = OutboundConfig(mode="smtp", host="127.0.0.1", port=relay.port, timeout=10, retry_initial=30)
    return Sender(db, config, SmtpDeliverer(config), clock)


def _subjects(relay: CaptureRelay) -> list[str]:
    return [str(message["Subject"]) for message in relay.parsed()]


def _statuses(db: Database) -> Counter[str]:
    with db.transaction() as tx:
        return Counter(outbox.counts(tx))


def test_a_batch_of_twenty_mails_uses_one_connection(db: Database, relay: CaptureRelay) -> None:
    clock = FixedClock(START)
    _queue(db, "ack", 20, at=START)
    sender = _sender(db, relay, clock)
    try:
        assert sender.run_once() == 20
    finally:
        sender.deliverer.close()

    assert len(relay.messages) == 20
    assert _statuses(db) == Counter({"sent": 20})
    assert relay.connections == 1, f"{relay.connections} connections for one batch of 20 mails"


def test_acknowledgements_leave_before_team_notices(db: Database, relay: CaptureRelay) -> None:
    clock = FixedClock(START)
    # The team notices were queued first (older, lower ids): the acks still go first.
    _queue(db, "team_new", 5, at=START - timedelta(minutes=1))
    _queue(db, "ack", 5, at=START)
    _queue(db, "team_followup", 3, at=START - timedelta(minutes=2))
    sender = _sender(db, relay, clock)
    try:
        assert sender.run_once() == 13
    finally:
        sender.deliverer.close()

    kinds = [subject.split()[0] for subject in _subjects(relay)]
    assert kinds == ["ack"] * 5 + ["team_followup"] * 3 + ["team_new"] * 5, kinds


def test_acknowledgements_are_claimed_first_even_in_a_small_batch(db: Database, relay: CaptureRelay) -> None:
    clock = FixedClock(START)
    _queue(db, "team_new", 4, at=START - timedelta(minutes=1))
    _queue(db, "ack", 2, at=START)
    sender = _sender(db, relay, clock)
    try:
        assert sender.run_once(limit=2) == 2
    finally:
        sender.deliverer.close()

    assert [subject.split()[0] for subject in _subjects(relay)] == ["ack", "ack"]
    assert _statuses(db) == Counter({"sent": 2, "queued": 4})


def test_a_relay_dropping_the_connection_mid_batch_costs_only_the_mail_in_flight(db: Database) -> None:
    relay = CaptureRelay(drop_after=7).start()
    clock = FixedClock(START)
    _queue(db, "ack", 20, at=START)
    sender = _sender(db, relay, clock)
    try:
        assert sender.run_once() == 20
        first_pass = list(_subjects(relay))
        assert len(first_pass) == 19, "the 12 after the dropped one went on a new connection"
        assert relay.connections == 2
        assert _statuses(db) == Counter({"sent": 19, "queued": 1})

        clock.advance(timedelta(seconds=31))  # the in-flight one's retry is due
        assert sender.run_once() == 1
    finally:
        sender.deliverer.close()
        relay.stop()

    sent = Counter(_subjects(relay))
    assert sorted(sent) == sorted(f"ack {n}" for n in range(20))
    assert set(sent.values()) == {1}, "nothing was sent twice"
    assert _subjects(relay)[-1] == "ack 7", "the mail in flight when the relay dropped is the one retried"
    assert _statuses(db) == Counter({"sent": 20})


def test_the_session_ends_with_the_pass_and_a_new_pass_opens_one(db: Database, relay: CaptureRelay) -> None:
    clock = FixedClock(START)
    sender = _sender(db, relay, clock)
    try:
        _queue(db, "ack", 3, at=START)
        assert sender.run_once() == 3
        _queue(db, "ack", 3, at=START, first=3)
        assert sender.run_once() == 3
    finally:
        sender.deliverer.close()

    assert len(relay.messages) == 6
    assert relay.connections == 2, "one session per pass; none left idle at the relay between passes"


def test_a_backlog_larger_than_one_pass_is_not_left_waiting_for_the_poll(db: Database, relay: CaptureRelay,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A send-only node has nobody to wake its sender: after a full pass it
    goes on at once, rather than sleeping poll_interval with mail queued."""
    import threading

    from gateway.workers import sender as sender_module

    monkeypatch.setattr(sender_module, "_PASS", 4)
    clock = FixedClock(START)
    _queue(db, "ack", 10, at=START)
    config = OutboundConfig(mode="smtp", host="127.0.0.1", port=relay.port, timeout=10, retry_initial=30,
                            poll_interval=3600.0)  # a pass that waited for the poll would not come back in this test
    sender = Sender(db, config, SmtpDeliverer(config), clock)
    stop = threading.Event()
    worker = threading.Thread(target=sender.loop, args=(stop,), daemon=True)
    worker.start()
    try:
        for _ in range(300):  # bounded: 30 s at most
            if _statuses(db) == Counter({"sent": 10}):
                break
            stop.wait(0.1)
        assert _statuses(db) == Counter({"sent": 10})
    finally:
        stop.set()
        sender.wake.set()
        worker.join(timeout=10)
        sender.deliverer.close()
    assert len(relay.messages) == 10


@pytest.mark.parametrize("answer", [None, "550 5.1.1 <ana.souza@example.org>: no such user"],
                         ids=["taken", "refused for good"])
def test_a_mail_erased_while_in_flight_stays_erased(db: Database, answer: str | None) -> None:
    """`gateway forget` gives up and scrubs a row the sender holds; the
    sender's settle, once the relay answered, must not write the
    recipient back (``rcpt_results``, the relay's words) nor call the row
    sent (a refusal is settled by the other path, with a ticket event)."""
    from gateway.store import retention

    relay = CaptureRelay(refuse={"ana.souza@example.org": answer} if answer else None).start()
    clock = FixedClock(START)
    with db.transaction() as tx:
        outbox.add(tx, ticket_id=None, kind="ack", message_id="ack.erased@gateway.example.gov.br",
                   mail_from="atendimento@example.gov.br", rcpt_tos=["ana.souza@example.org"],
                   raw=b"From: atendimento@example.gov.br\r\nTo: ana.souza@example.org\r\nSubject: x\r\n\r\nCorpo.\r\n",
                   at=START)
    sender = _sender(db, relay, clock)
    deliver = sender.deliverer.deliver

    def deliver_then_erase(mail_from: str, rcpt_tos: list[str], raw: bytes) -> object:
        try:
            return deliver(mail_from, rcpt_tos, raw)  # a refusal of every recipient raises
        finally:
            retention.forget(db, "ana.souza@example.org", at=START, include_open=True)

    sender.deliverer.deliver = deliver_then_erase  # type: ignore[method-assign]
    try:
        assert sender.run_once() == 1
    finally:
        sender.deliverer.close()
        relay.stop()
    with db.transaction() as tx:
        row = tx.scalars(select(OutboxRow)).one()
        raw = tx.execute(text("SELECT length(raw) FROM outbox_raw")).scalar()
    assert row.status == "failed" and not row.rcpt_results and "ana.souza" not in row.first_rcpt + str(row.rcpt_tos)
    assert (row.last_error or "").startswith("apagado antes do envio") and raw == 0


def test_a_draft_is_sent_as_a_mail_and_a_damaged_one_fails_alone(db: Database, relay: CaptureRelay) -> None:
    """A notice waits in the outbox as a draft (outbound.compose) and the
    relay gets the mail written from it; a draft stored damaged fails its
    row for good, saying so, and the mails after it go."""
    from gateway.outbound import compose
    from gateway.outbound.render import Rendered

    def queue(n: int, *, damaged: bool = False) -> None:
        envelope = compose.Envelope(from_name="Central", from_address="atendimento@example.gov.br",
                                    to=[f"cidadao{n}@example.org"], message_id=f"ack.{n}@gateway.example.gov.br",
                                    date=START, in_reply_to=f"pedido.{n}@example.org")
        stored = compose.draft(Rendered(subject=f"Solicitação {n}", text=f"Protocolo {n}.\n", html="<p>x</p>"),
                               envelope)
        with db.transaction() as tx:
            outbox.add(tx, ticket_id=None, kind="ack", message_id=envelope.message_id, at=START,
                       mail_from="atendimento@example.gov.br", rcpt_tos=list(envelope.to),
                       raw=stored[:-3] if damaged else stored)

    queue(1)
    queue(2, damaged=True)
    queue(3)
    sender = _sender(db, relay, FixedClock(START))
    try:
        assert sender.run_once() == 3
    finally:
        sender.deliverer.close()
    sent = relay.parsed()
    assert [(str(m["Subject"]), m["In-Reply-To"], m.get_body(("plain",)).get_content().strip()) for m in sent] == [
        ("Solicitação 1", "<pedido.1@example.org>", "Protocolo 1."),
        ("Solicitação 3", "<pedido.3@example.org>", "Protocolo 3.")]
    with db.transaction() as tx:
        rows = {r.message_id: r for r in tx.scalars(select(OutboxRow))}
    damaged = rows["ack.2@gateway.example.gov.br"]
    assert damaged.status == "failed" and "a queued draft that cannot be read" in (damaged.last_error or "")
    assert rows["ack.1@gateway.example.gov.br"].status == rows["ack.3@gateway.example.gov.br"].status == "sent"


def test_eight_bit_content_is_declared_to_the_relay(relay: CaptureRelay) -> None:
    """RFC 6152: a mail with 8-bit content goes with ``BODY=8BITMIME`` to a
    relay that offers it (a team notice carrying the citizen's original,
    kept as it came); a 7-bit mail with nothing.  aiosmtplib's ``sendmail``
    adds nothing by itself."""
    from gateway.outbound import compose
    from gateway.outbound.render import Rendered

    original = "From: ana@example.org\r\nSubject: Certidão\r\n\r\nNão recebi a certidão.\r\n".encode()
    envelope = compose.Envelope(from_name="Central", from_address="atendimento@example.gov.br",
                                to=["equipe@example.gov.br"], message_id="team.1@example.gov.br", date=START)
    parts = Rendered(subject="Novo chamado", text="Veja o original.\n", html="<p>Veja o original.</p>")
    forwarded = compose.message(parts, envelope, [compose.FileToSend("original.eml", "message/rfc822", original)])
    plain = compose.message(parts, envelope)
    assert not forwarded.isascii() and plain.isascii()
    deliverer = SmtpDeliverer(OutboundConfig(mode="smtp", host="127.0.0.1", port=relay.port, timeout=10))
    try:
        assert deliverer.deliver("bounce@example.gov.br", ["equipe@example.gov.br"], forwarded) == {}
        assert deliverer.deliver("bounce@example.gov.br", ["equipe@example.gov.br"], plain) == {}
    finally:
        deliverer.close()
    assert [raw for _, _, raw in relay.messages] == [forwarded, plain], "the bytes as they were queued"
    assert [[o for o in options if o.startswith("BODY=")] for options in relay.mail_options] == [["BODY=8BITMIME"], []]


def test_a_relay_without_8bitmime_gets_the_mail_in_seven_bits() -> None:
    """RFC 6152 section 3: 8-bit content must not go to a relay that did
    not offer 8BITMIME.  Our text parts go as ``8bit`` and a forwarded
    original keeps its bytes; a strict 7-bit relay (no 8BITMIME, no
    SMTPUTF8) answered such a mail ``500``, a permanent failure.  It now
    gets the mail converted, every text as it was written."""
    from gateway.outbound import compose
    from gateway.outbound.render import Rendered

    original = "From: ana@example.org\r\nSubject: Certidão\r\n\r\nNão recebi a certidão.\r\n".encode()
    envelope = compose.Envelope(from_name="Central de Atendimento", from_address="atendimento@example.gov.br",
                                to=["equipe@example.gov.br"], message_id="team.1@example.gov.br", date=START)
    parts = Rendered(subject="Novo chamado", text="Solicitação recebida; veja o original.\n",
                     html="<p>Solicitação recebida; veja o original.</p>")
    raw = compose.message(parts, envelope, [compose.FileToSend("original.eml", "message/rfc822", original)])
    assert b"Content-Transfer-Encoding: 8bit" in raw and "Solicitação".encode() in raw
    relay = CaptureRelay(smtputf8=False, eight_bit_mime=False).start()
    deliverer = SmtpDeliverer(OutboundConfig(mode="smtp", host="127.0.0.1", port=relay.port, timeout=10))
    try:
        assert deliverer.deliver("bounce@example.gov.br", ["equipe@example.gov.br"], raw) == {}
    finally:
        deliverer.close()
        relay.stop()
    [(_, _, sent)] = relay.messages
    assert sent.isascii(), "7 bits"
    assert [o for o in relay.mail_options[0] if o.startswith("BODY=")] == [], "no BODY= the relay never offered"
    mail = parse_message(sent)
    assert mail["Message-ID"] == "<team.1@example.gov.br>" and mail["Subject"] == "Novo chamado"
    assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n") == parts.text
    assert mail.get_body(("html",)).get_content().replace("\r\n", "\n") == parts.html
    [forwarded] = list(mail.iter_attachments())
    inner = forwarded.get_content()
    assert inner["Subject"] == "Certidão" and forwarded["Content-Transfer-Encoding"] == "7bit"
    assert inner.get_payload(decode=True) == "Não recebi a certidão.\r\n".encode(), "the original's very bytes"


def test_a_mail_seven_bits_cannot_say_goes_as_it_came(caplog: pytest.LogCaptureFixture) -> None:
    """A forwarded original whose file name is 8-bit inside Content-Type
    (no encoded word may go there): converting it would lose the type and
    the name, so it goes as before, undeclared, and the log says why."""
    original = ('Content-Type: application/pdf; name="relatório.pdf"\r\nSubject: x\r\n\r\n%PDF-1.4\r\n').encode()
    raw = ("From: ana@example.org\r\nSubject: Encaminhado\r\nMIME-Version: 1.0\r\n"
           "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() + original
    relay = CaptureRelay(eight_bit_mime=False).start()  # SMTPUTF8, so it reads 8-bit bytes
    deliverer = SmtpDeliverer(OutboundConfig(mode="smtp", host="127.0.0.1", port=relay.port, timeout=10))
    try:
        with caplog.at_level("WARNING", logger="gateway.sender"):
            assert deliverer.deliver("bounce@example.gov.br", ["equipe@example.gov.br"], raw) == {}
    finally:
        deliverer.close()
        relay.stop()
    assert [sent for _, _, sent in relay.messages] == [raw]
    assert "could not be converted to 7 bits" in caplog.text and "Content-Type" in caplog.text


def test_a_mailbox_full_for_a_day_still_gets_its_mail_and_one_full_for_days_fails(db: Database) -> None:
    """RFC 5321 4.5.4.1: a mail refused for now is tried for "at least 4-5
    days".  Ten attempts at most an hour apart gave up on a citizen whose
    mailbox was full for three hours.  Now it is tried until it was queued
    give_up_after ago (5 days), then fails for good."""
    relay = CaptureRelay(refuse={"cidadao0@example.org": "452 4.2.2 Mailbox full"}).start()
    try:
        clock = FixedClock(START)
        _queue(db, "ack", 1, at=START)
        sender = _sender(db, relay, clock)
        try:
            for _ in range(30):  # a day and more of retries, each as soon as it is due
                sender.run_once()
                with db.transaction() as tx:
                    [row] = tx.scalars(select(OutboxRow))
                    status, attempts, due = row.status, row.attempts, row.next_attempt_at
                assert status == "queued", (attempts, row.last_error)
                clock.set(due)
            assert attempts == 30 and clock.now() - START > timedelta(days=1)

            relay.refuse.clear()  # the citizen emptied the mailbox
            assert sender.run_once() == 1 and _statuses(db) == Counter({"sent": 1})

            relay.refuse["cidadao1@example.org"] = "452 4.2.2 Mailbox full"
            _queue(db, "ack", 1, at=clock.now(), first=1)
            gave_up = clock.now() + timedelta(days=5)
            for _ in range(200):  # bounded: hourly retries for five days are ~130
                sender.run_once()
                if _statuses(db)["failed"]:
                    break
                with db.transaction() as tx:
                    clock.set(tx.scalars(select(OutboxRow).where(OutboxRow.status == "queued")).one().next_attempt_at)
            assert _statuses(db) == Counter({"sent": 1, "failed": 1})
            assert gave_up <= clock.now() < gave_up + timedelta(hours=1), "at the first attempt after five days"
        finally:
            sender.deliverer.close()
    finally:
        relay.stop()


def test_a_mail_that_waited_days_for_the_relay_still_gets_past_greylisting(db: Database) -> None:
    """Its age alone does not make its first refusal final: a mail queued
    six days ago, while the relay was down (no attempt charged), meets a
    greylisting server that refuses every first try; it gets five retries
    (30 s to 8 minutes after the first) before its age makes a 4xx final."""
    relay = CaptureRelay(refuse={"cidadao0@example.org": "451 4.7.1 Greylisted, try again later"}).start()
    try:
        clock = FixedClock(START)
        _queue(db, "ack", 1, at=START - timedelta(days=6))
        sender = _sender(db, relay, clock)
        try:
            statuses = []
            for _ in range(10):  # bounded: it fails at the sixth
                sender.run_once()
                with db.transaction() as tx:
                    [row] = tx.scalars(select(OutboxRow))
                    statuses.append((row.attempts, row.status))
                    due = row.next_attempt_at
                if row.status != "queued":
                    break
                clock.set(due)
        finally:
            sender.deliverer.close()
    finally:
        relay.stop()
    assert statuses == [(n, "queued") for n in range(1, 6)] + [(6, "failed")]


def test_a_maildir_that_cannot_be_written_charges_no_mail(tmp_path, db: Database) -> None:
    """A full disk or a folder without permission is the channel's failure,
    not the mail's: like a relay that is down, the pass stops and the mail
    waits uncharged (and /healthz's outbox check sees it ageing)."""
    from gateway.errors import RelayUnavailable
    from gateway.outbound.delivery import MaildirDeliverer

    blocked = tmp_path / "outbox"
    blocked.write_text("a file where the Maildir should be")
    clock = FixedClock(START)
    _queue(db, "ack", 2, at=START)
    config = OutboundConfig(mode="maildir", path=str(blocked))
    sender = Sender(db, config, MaildirDeliverer(blocked), clock)
    with pytest.raises(RelayUnavailable, match="cannot write to the Maildir"):
        sender.run_once()
    with db.transaction() as tx:
        assert sorted((r.status, r.attempts) for r in tx.scalars(select(OutboxRow))) == [("queued", 0), ("queued", 0)]


def test_the_health_check_counts_a_first_attempt_in_flight_and_a_lost_lease_as_untried(db: Database) -> None:
    """``stats.collect``'s oldest untried mail, which /healthz's outbox
    check reads: a mail in its first attempt may be stuck on a relay that
    drops packets, and one whose sender's lease ran out is nobody's."""
    from gateway.store import stats

    now = START + timedelta(hours=3)
    ages = {"queued, never tried": 5, "first attempt in flight": 4, "retried, in flight": 3,
            "retried, lease lost": 2, "retried, waiting": 1}
    _queue(db, "ack", len(ages), at=START)
    with db.transaction() as tx:
        rows = list(tx.scalars(select(OutboxRow).order_by(OutboxRow.id)))
        for row, (what, hours) in zip(rows, ages.items()):
            row.created_at = now - timedelta(hours=hours)
            row.status = "sending" if "in flight" in what or "lease" in what else "queued"
            row.attempts = 0 if "never" in what else 1 if "first" in what else 3
            row.next_attempt_at = now - timedelta(minutes=1) if "lease lost" in what else now + timedelta(minutes=1)

    def oldest_untried() -> timedelta | None:
        with db.transaction() as tx:
            found = stats.collect(tx, now).outbox_oldest_untried
        return None if found is None else now - found

    assert oldest_untried() == timedelta(hours=5)
    for what, hours in list(ages.items())[:2]:  # take the oldest away, one at a time
        with db.transaction() as tx:
            tx.execute(text("DELETE FROM outbox_raw WHERE message_id IN (SELECT message_id FROM outbox "
                            "WHERE id = (SELECT min(id) FROM outbox))"))
            tx.execute(text("DELETE FROM outbox WHERE id = (SELECT min(id) FROM outbox)"))
        expected = {"queued, never tried": timedelta(hours=4), "first attempt in flight": timedelta(hours=2)}[what]
        assert oldest_untried() == expected, what
    with db.transaction() as tx:
        tx.execute(text("DELETE FROM outbox_raw WHERE message_id IN (SELECT message_id FROM outbox "
                        "WHERE id = (SELECT min(id) FROM outbox))"))
        tx.execute(text("DELETE FROM outbox WHERE id = (SELECT min(id) FROM outbox)"))
    assert oldest_untried() == timedelta(hours=2), "the lost lease; never the retried one in flight or waiting"
