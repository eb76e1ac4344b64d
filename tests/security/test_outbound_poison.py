"""One bad outbound row never stops the others (issue 13, item 4).

The review's case: one requester address the sender could not put on an
SMTP command line raised outside its error handling; every row claimed
in that pass stayed ``sending`` and, after the lease, the bad row came
first again, for ever.  Here several citizens write through the real
listener while the relay (a real aiosmtpd server) is down, so every row
is claimed in one batch when it comes up, the bad row among the first;
then every other mail must reach the relay, the bad row fail for good
with its reason on its ticket, and nothing stay ``sending``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from gateway.outbound.delivery import Deliverer
from gateway.store.models import OutboxRow
from gateway.workers.sender import Sender
from tests.helpers.servers import CaptureRelay, free_port, wait_until
from tests.security.conftest import CNES, CNES_TEAM, Target

JOAO = "joão@cidadã.example"  # a non-ASCII local part: only a relay with SMTPUTF8 takes it
MARIA_IDN = "maria@cidadã.example"  # ASCII local part, IDN domain: IDNA makes it plain ASCII
MARIA_ACE = "maria@xn--cidad-era.example"
CITIZENS = ("ana@cidada.example", "bruno@cidada.example", "carla@cidada.example")


@dataclass(frozen=True)
class Row:
    id: int
    kind: str
    status: str
    rcpt_tos: list[str]
    last_error: str
    ticket_id: int | None
    attempts: int = 0


def rows(target: Target) -> list[Row]:
    with target.running.gateway.db.transaction() as tx:
        return [Row(r.id, r.kind, r.status, list(r.rcpt_tos), r.last_error or "", r.ticket_id, r.attempts)
                for r in tx.scalars(select(OutboxRow).order_by(OutboxRow.id))]


def utf8_mail(from_header: str, subject: str) -> bytes:
    """A mail as an RFC 6532 client writes it: UTF-8 headers, no encoding."""
    return (f"From: {from_header}\r\nTo: {CNES}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{abs(hash((from_header, subject)))}@cidada.example>\r\n"
            "Date: Mon, 23 Nov 2026 10:00:00 -0300\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "Não consigo incluir a enfermeira na unidade.\r\n").encode("utf-8")


@pytest.fixture
def relay_later() -> Iterator[Callable[..., CaptureRelay]]:
    """A free port now, the relay on it when the test says so."""
    started: list[CaptureRelay] = []

    def start(port: int, *, smtputf8: bool) -> CaptureRelay:
        relay = CaptureRelay(port, smtputf8=smtputf8).start()
        started.append(relay)
        return relay

    yield start
    for relay in started:
        relay.stop()


@pytest.fixture
def short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sender's pause after a pass that met the relay down grows to 30 s;
    here to 1 s, so that the relay coming up is seen within the tests' waits."""
    import gateway.workers.sender as sender_module

    monkeypatch.setattr(sender_module, "_MAX_PAUSE", 1.0)


def desk_with_relay_down(attack_desk: Callable[..., Target]) -> tuple[Target, int]:
    port = free_port()
    target = attack_desk(outbound={"mode": "smtp", "host": "127.0.0.1", "port": port, "timeout": 5,
                                   "retry_initial": 1, "retry_max": 2, "poll_interval": 0.1})
    return target, port


def opens_in_utf8(target: Target, from_header: str) -> str:
    """A citizen whose From is not ASCII opens a ticket (the envelope is
    ASCII, as her provider's MTA would write it); returns the protocol."""
    before = {t["protocol"] for t in target.tickets()}
    target.send(utf8_mail(from_header, "Erro no cadastro"), mail_from="cidada@cidada.example")
    [protocol] = [t["protocol"] for t in target.tickets() if t["protocol"] not in before]
    return protocol


def citizens_write(target: Target) -> dict[str, str]:
    """Each plain citizen opens a ticket; returns protocol by address."""
    return {address: target.citizen_opens(sender=address) for address in CITIZENS}


def wait_settled(target: Target, queued_rows: int) -> list[Row]:
    """Wait until every row was tried once the relay is up (the clock moved
    past every retry) and none is queued or being sent."""
    def settled() -> list[Row] | None:
        found = rows(target)
        return found if len(found) == queued_rows and all(r.status in ("sent", "failed") for r in found) else None
    return wait_until(settled, timeout=30, what="every outbox row sent or failed")


def relay_refused(target: Target) -> None:
    """Wait for a sender pass to have met the down relay (RelayUnavailable)."""
    sender = target.running.gateway.sender
    passes: list[int] = []
    real = sender.run_once

    def counting(*args: Any, **kwargs: Any) -> int:
        try:
            return real(*args, **kwargs)
        except Exception:
            passes.append(1)
            raise

    sender.run_once = counting  # type: ignore[method-assign]
    wait_until(lambda: passes, what="a sender pass to meet the relay down")


def relay_comes_up(target: Target, relay_later: Callable[..., CaptureRelay], port: int, *,
                   smtputf8: bool) -> CaptureRelay:
    """Start the relay, move the clock past every retry and wake the sender:
    every row is due at once and is claimed in one batch, oldest first.
    While the relay was down no row was charged an attempt (the relay's
    failure, not the mails')."""
    relay_refused(target)
    wait_until(lambda: all(r.status == "queued" and r.attempts == 0 and not r.last_error for r in rows(target)),
               what="every row queued, uncharged, while the relay is down")
    relay = relay_later(port, smtputf8=smtputf8)
    target.clock.advance(timedelta(hours=1))
    target.running.gateway.sender.wake.set()
    return relay


def test_a_non_ascii_local_part_fails_alone_and_every_other_mail_reaches_the_relay(
        attack_desk: Callable[..., Target], relay_later: Callable[..., CaptureRelay], short_pauses: None) -> None:
    target, port = desk_with_relay_down(attack_desk)
    opened = {JOAO: opens_in_utf8(target, f"João <{JOAO}>")}  # first: its rows lead the batch
    opened.update(citizens_write(target))
    opened[MARIA_IDN] = opens_in_utf8(target, f"Maria <{MARIA_IDN}>")
    assert target.ticket(opened[JOAO])["requester"] == JOAO, "intake takes an RFC 6531 address"
    relay = relay_comes_up(target, relay_later, port, smtputf8=False)

    settled = wait_settled(target, len(rows(target)))

    [bad] = [r for r in settled if r.rcpt_tos == [JOAO]]
    assert bad.status == "failed" and "SMTPUTF8" in bad.last_error and JOAO in bad.last_error
    failures = [e for e in target.ticket(opened[JOAO])["events"] if e["kind"] == "delivery_failed"]
    assert len(failures) == 1 and "SMTPUTF8" in failures[0]["note"]
    good = [r for r in settled if r is not bad]
    assert {r.status for r in good} == {"sent"}
    delivered = sorted(tuple(rcpts) for _, rcpts, _ in relay.messages)
    expected = sorted([(CNES_TEAM,)] * len(opened) + [(a,) for a in CITIZENS] + [(MARIA_ACE,)])
    assert delivered == expected, "acks to everyone else (the IDN domain in IDNA) and every team notice"


class _Exploding:
    """The real deliverer, except that one recipient makes it raise what no
    DeliveryError covers: a bug in a library, as the review found."""

    def __init__(self, inner: Deliverer, poisoned: str) -> None:
        self.inner, self.poisoned = inner, poisoned
        self.armed = False  # while the relay is down, fail like the others (and be claimed with them later)

    def deliver(self, mail_from: str, rcpt_tos: Sequence[str], raw: bytes) -> None:
        if self.armed and self.poisoned in rcpt_tos:
            raise RuntimeError(f"the library choked on {self.poisoned}")
        self.inner.deliver(mail_from, rcpt_tos, raw)

    def close(self) -> None:
        self.inner.close()


def test_any_error_of_one_row_and_a_failed_settle_leave_the_rest_of_the_batch_delivered(
        attack_desk: Callable[..., Target], relay_later: Callable[..., CaptureRelay],
        monkeypatch: pytest.MonkeyPatch, short_pauses: None) -> None:
    target, port = desk_with_relay_down(attack_desk)
    sender = target.running.gateway.sender
    bruno, carla = CITIZENS[1], CITIZENS[2]
    exploding = sender.deliverer = _Exploding(sender.deliverer, bruno)
    opened = citizens_write(target)
    [carla_ack] = [r.id for r in rows(target) if r.rcpt_tos == [carla]]
    settle = Sender._settle
    failed_once: list[int] = []

    def settle_failing_once_for_carla(self: Sender, mail: Any, error: Any) -> None:
        if mail.id == carla_ack and not failed_once:
            failed_once.append(mail.id)
            raise RuntimeError("the database dropped the connection mid-write")
        settle(self, mail, error)

    monkeypatch.setattr(Sender, "_settle", settle_failing_once_for_carla)
    # While the relay is down each pass stops at the oldest row, uncharged
    # (RelayUnavailable), so Bruno's row is not tried before the relay is up.
    relay_refused(target)
    exploding.armed = True
    relay = relay_comes_up(target, relay_later, port, smtputf8=True)

    settled = wait_settled(target, len(rows(target)))

    status = {(r.kind, r.rcpt_tos[0]): r for r in settled}
    assert status[("ack", bruno)].status == "failed"
    assert "RuntimeError: the library choked" in status[("ack", bruno)].last_error
    assert "delivery_failed" in target.events(opened[bruno])
    assert failed_once == [carla_ack] and status[("ack", carla)].status == "sent", \
        "a settle that failed still records the status"
    assert sorted(r.rcpt_tos[0] for r in settled if r.status == "sent") == sorted(
        [CNES_TEAM] * len(opened) + [CITIZENS[0], carla])
    assert len(relay.messages) == len(opened) + 2


@pytest.mark.parametrize(("rcpt", "named"), [
    ("poison\x00@cidada.example", "NUL"),
    ("ana souza@cidada.example", "space"),
    ("ana@cidada.example\r\nRSET", "line break"),  # a command smuggled onto the next line
])
def test_an_address_no_relay_could_take_fails_permanently_without_a_connection(
        make_settings: Callable[..., Any], relay: CaptureRelay, rcpt: str, named: str) -> None:
    from gateway.errors import PermanentDeliveryError
    from gateway.outbound.delivery import SmtpDeliverer

    settings = make_settings(outbound={"mode": "smtp", "host": "127.0.0.1", "port": relay.port, "timeout": 5})
    deliverer = SmtpDeliverer(settings.outbound)
    try:
        with pytest.raises(PermanentDeliveryError, match=named):
            deliverer.deliver(CNES, [rcpt], b"Subject: x\r\n\r\nx\r\n")
        deliverer.deliver(CNES, [MARIA_IDN], b"Subject: y\r\n\r\ny\r\n")  # the next one goes out
    finally:
        deliverer.close()
    assert [rcpts for _, rcpts, _ in relay.messages] == [[MARIA_ACE]]
