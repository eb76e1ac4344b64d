"""Receipts awaited on the event loop (``Ingest.stored``, what the SMTP
listener uses) arrive together after the group's commit: every mail gets
its own inbox id, thread waiters and loop waiters in one group both get
theirs, and a waiter cancelled before the commit (the client went away)
neither breaks the group nor loses the stored mail.  Real SQLite."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, TypeVar

from gateway.app import Gateway
from gateway.clock import SystemClock
from gateway.delivery import Delivery
from gateway.ingest import _resolve
from gateway.store import inbox
from tests.helpers.mailfactory import make_mail
from tests.helpers.servers import wait_until

SERVICE = "atendimento@example.gov.br"
T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """On a loop of its own thread, as the gateway runs its listener (and
    as pytest's own thread may already have a loop, from the browser tests)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=60)


def _delivery(index: int) -> Delivery:
    raw = make_mail(sender=f"pessoa{index}@example.org", subject=f"Pedido {index}")
    return Delivery(raw=raw, mail_from=f"pessoa{index}@example.org", rcpt_tos=(SERVICE,), via="smtp",
                    peer="127.0.0.1", received_at=datetime.now(timezone.utc))


def test_concurrent_waiters_on_the_loop_and_on_threads_each_get_their_row(make_settings) -> None:
    gateway = Gateway(make_settings(), SystemClock())
    try:
        async def main() -> list:
            threaded = [gateway.ingest.submit(_delivery(100 + i)) for i in range(5)]
            on_loop = await asyncio.gather(*(gateway.ingest.stored(_delivery(i)) for i in range(40)))
            return [*on_loop, *(f.result(timeout=30) for f in threaded)]

        receipts = _run(main())
        assert all(r.accepted for r in receipts)
        ids = [r.inbox_id for r in receipts]
        assert len(set(ids)) == 45
        with gateway.db.transaction() as tx:
            assert inbox.counts(tx) == {"accepted": 45}
            assert all(inbox.get(tx, i) is not None for i in ids)
    finally:
        gateway.close()


def test_a_cancelled_waiter_is_skipped_and_the_others_answered() -> None:
    from gateway.delivery import Receipt, ReceiptStatus

    async def main() -> tuple[bool, Receipt]:
        loop = asyncio.get_running_loop()
        gone, waiting = loop.create_future(), loop.create_future()
        gone.cancel()
        _resolve([(gone, Receipt(ReceiptStatus.ACCEPTED, inbox_id=1)), (waiting, Receipt(ReceiptStatus.ACCEPTED, inbox_id=2))])
        return gone.cancelled(), await waiting

    cancelled, receipt = _run(main())
    assert cancelled and receipt.inbox_id == 2


def _crowd_during_first_commit(gateway: Gateway, monkeypatch: Any, count: int) -> tuple[list[int], list[Any]]:
    """One mail, then ``count`` more submitted while its commit is held:
    they arrive during a commit however fast the machine.  The sizes of
    the groups committed (growing as they are) and every mail's future,
    the first's first."""
    sizes: list[int] = []
    real_commit = gateway.ingest._commit
    committing, crowd_in = threading.Event(), threading.Event()

    def commit(batch: list[Any]) -> None:
        sizes.append(len(batch))
        if len(sizes) == 1:
            committing.set()
            crowd_in.wait(10)
        real_commit(batch)

    monkeypatch.setattr(gateway.ingest, "_commit", commit)
    first = gateway.ingest.submit(_delivery(0))
    assert committing.wait(10)
    crowd = [gateway.ingest.submit(_delivery(i)) for i in range(1, count + 1)]
    crowd_in.set()
    return sizes, [first, *crowd]


def test_a_crowd_is_committed_in_groups_and_a_lone_mail_never_waits_for_one(make_settings, monkeypatch) -> None:
    """Group commit's linger: mail that arrived during a commit makes the
    writer wait for a fuller group; a mail alone (nothing arrived during
    the last commit) is committed at once.  The linger is made 30 s here, so
    a lone mail kept waiting for company would miss the 10 s bound below."""
    from gateway import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "_LINGER", 30.0)
    monkeypatch.setattr(ingest_module, "_LINGER_GROUP", 4)
    gateway = Gateway(make_settings(), SystemClock())
    try:
        sizes, crowd = _crowd_during_first_commit(gateway, monkeypatch, 11)
        assert all(future.result(timeout=10).accepted for future in crowd)
        assert sizes == [1, 11], "the eleven that came during the first commit went in one group"
        alone = gateway.ingest.submit(_delivery(99))
        assert alone.result(timeout=10).accepted, "a lone mail waited for a group"
        assert sizes[-1] == 1
    finally:
        gateway.close()


def test_the_writer_does_not_wait_for_company_when_every_sender_waits_for_its_commit(make_settings, monkeypatch):
    """A listener counts its open sessions (``count_senders``); when every
    one of them has a mail waiting, no one is left to join the group, and
    lingering would only idle the event loop.  The linger is 30 s here: a
    writer that lingered would miss the 10 s bound."""
    from gateway import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "_LINGER", 30.0)
    monkeypatch.setattr(ingest_module, "_LINGER_GROUP", 100)
    gateway = Gateway(make_settings(), SystemClock())
    gateway.ingest.count_senders(lambda: 2)  # say, the MTA's two connections
    gateway.ingest.count_senders(lambda: 1)  # and an analyst on the submission listener
    try:
        sizes, (first, *crowd) = _crowd_during_first_commit(gateway, monkeypatch, 3)  # the three senders' mails
        assert first.result(timeout=10).accepted
        assert all(future.result(timeout=10).accepted for future in crowd), "the writer lingered"
        assert sizes == [1, 3]
    finally:
        gateway.close()


def test_the_writer_still_waits_for_company_while_a_counted_sender_may_send(make_settings, monkeypatch):
    """The counts of all listeners add up: two listeners with two sessions
    each and three mails waiting leave a sender who may still send, so the
    writer lingers, and a mail sent meanwhile joins the group."""
    import time
    from types import SimpleNamespace

    from gateway import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "_LINGER_GROUP", 100)
    lingered: list[float] = []
    gateway = Gateway(make_settings(), SystemClock())
    gateway.ingest.count_senders(lambda: 2)
    gateway.ingest.count_senders(lambda: 2)
    late: list[Any] = []

    def linger(seconds: float) -> None:  # the fourth sender sends while the writer waits
        lingered.append(seconds)
        late.append(gateway.ingest.submit(_delivery(4)))
        time.sleep(0.05)

    monkeypatch.setattr(ingest_module, "time", SimpleNamespace(perf_counter=time.perf_counter, sleep=linger))
    try:
        sizes, crowd = _crowd_during_first_commit(gateway, monkeypatch, 3)
        assert all(future.result(timeout=10).accepted for future in crowd)
        assert lingered == [ingest_module._LINGER], "three waiting of four counted senders: it must linger"
        assert late[0].result(timeout=10).accepted and sizes == [1, 4]
    finally:
        gateway.close()


def test_the_smtp_listener_counts_its_open_sessions_to_the_writer(start_gateway):
    """The wiring: the listener's count of open connections is what the
    writer reads (``count_senders``), rising and falling with them."""
    import socket

    gateway = start_gateway()
    counts = gateway.gateway.ingest._senders
    assert counts and sum(count() for count in counts) == 0
    peers = [socket.create_connection(("127.0.0.1", gateway.port), timeout=10) for _ in range(2)]
    try:
        for peer in peers:
            assert peer.recv(1024).startswith(b"220")  # counted by now: admitted before the greeting
        assert sum(count() for count in counts) == 2
    finally:
        for peer in peers:
            peer.close()
    wait_until(lambda: sum(count() for count in counts) == 0, timeout=10, what="both sessions counted out")


def test_a_group_s_accepted_lines_are_logged_together_before_the_processors_wake(make_settings, monkeypatch):
    """One write for a group's ``accepted`` lines (logs.together), and the
    processors woken after it: a mail's accepted line comes before its
    processed one."""
    from contextlib import contextmanager

    from gateway import ingest as ingest_module

    events: list[str] = []
    real_together = ingest_module.logs.together

    @contextmanager
    def together() -> Any:
        events.append("together")
        with real_together():
            yield
        events.append(f"written, processors woken: {gateway.ingest.accepted.is_set()}")

    monkeypatch.setattr(ingest_module.logs, "together", together)
    gateway = Gateway(make_settings(), SystemClock())
    monkeypatch.setattr(gateway.ingest, "_accepted", lambda *args: events.append("accepted line"))
    try:
        assert gateway.ingest.submit(_delivery(0)).result(timeout=10).accepted
        gateway.ingest.close()
    finally:
        gateway.close()
    assert events == ["together", "accepted line", "written, processors woken: False"]


def test_a_bug_in_the_writer_answers_451_and_the_writer_serves_the_next_mail(make_settings, monkeypatch) -> None:
    """Anything the writer did not foresee killed its thread: the group's
    peers waited for an answer that never came (an SMTP session until its
    idle timeout, the pipe until the MTA killed it), and nothing more was
    stored until another mail restarted the writer."""
    import gateway.ingest as ingest_module

    real = ingest_module.inbox_row

    def choking(delivery: Delivery) -> dict[str, object]:
        if b"choke" in delivery.raw:
            raise RuntimeError("a bug in building the row")
        return real(delivery)

    monkeypatch.setattr(ingest_module, "inbox_row", choking)
    gateway = Gateway(make_settings())
    try:
        bad = _delivery(1)
        bad = Delivery(**{**bad.__dict__, "raw": bad.raw + b"choke\r\n"})
        refused = gateway.ingest.submit(bad).result(timeout=15)
        assert not refused.accepted and "internal error" in refused.reason
        stored = gateway.ingest.submit(_delivery(2)).result(timeout=15)
        assert stored.accepted
        with gateway.db.transaction() as tx:
            assert inbox.counts(tx) == {"accepted": 1}
    finally:
        gateway.close()
