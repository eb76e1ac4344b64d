"""Real servers for tests: the gateway itself, a capture relay, free ports,
and a bounded wait.  Every wait has a deadline; nothing loops forever."""

from __future__ import annotations

import asyncio
import fcntl
import os
import random
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

from aiosmtpd.controller import Controller

from gateway.app import Gateway
from gateway.config import Settings

T = TypeVar("T")


_SLICE = 500  # ports a process takes at a time
_HELD: list[int] = []  # the slices' lock files, open (and so held) until the process ends


def _port_range() -> range:
    """Ports the kernel never hands out by itself: below its ephemeral range
    (from 10000), else above it."""
    try:
        low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2])
    except (OSError, ValueError):
        low, high = 32768, 60999
    if low - 10_000 >= 4 * _SLICE:
        return range(10_000, low)
    if 65_535 - high >= 4 * _SLICE:
        return range(high + 1, 65_536)
    raise AssertionError(f"the ephemeral port range {low}-{high} leaves no room for the tests' ports "
                         "(tests/helpers/servers.py); narrow net.ipv4.ip_local_port_range")


def _ports(folder: Path | None = None) -> Iterator[int]:
    """This process's ports, each tried once: whole slices of ``_port_range``,
    each locked for the life of the process.

    A port the kernel hands out (``bind(0)``) is free only until the kernel
    hands it out again, as a client connection's local port or to another
    xdist worker's ``bind(0)``; CI lost a gateway to that ("Address already
    in use" on a port picked a moment before).  Outside the ephemeral range
    only a chooser like this one picks ports, and a slice's ``flock`` keeps
    every other process on the machine (another worker, a worker xdist
    started in place of a crashed one, another run) out of it."""
    folder = folder or Path(tempfile.gettempdir()) / "gateway-test-ports"
    folder.mkdir(mode=0o1777, exist_ok=True)
    ports = _port_range()
    starts = list(range(ports.start, ports.stop - _SLICE + 1, _SLICE))
    random.shuffle(starts)
    for first in starts:
        try:
            handle = os.open(folder / f"{first}.lock", os.O_RDONLY | os.O_CREAT, 0o666)
        except OSError:
            continue  # another user's lock file
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            continue  # another process's slice
        _HELD.append(handle)
        yield from range(first, first + _SLICE)


_PORTS = _ports()


def free_port() -> int:
    """A loopback port nothing is bound to now and no other process will pick."""
    for port in _PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # not ours after all, or still in TIME_WAIT: the next one
            return port
    raise AssertionError("no free port left: every slice of tests/helpers/servers.py _port_range is taken")


def wait_until(check: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.05,
               what: str | Callable[[], str] = "condition") -> T:
    """Poll ``check`` until it returns something truthy, or fail after ``timeout``
    seconds naming ``what`` (a callable ``what`` is asked then: the state when it failed)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


class RunningGateway:
    """A real gateway (listener, processor, sender) on a free port, in a thread."""

    def __init__(self, settings: Settings, gateway: Gateway) -> None:
        self.settings, self.gateway = settings, gateway
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.settings.smtp.port

    @property
    def address(self) -> str:
        return self.settings.mailboxes[0].address

    def start(self) -> RunningGateway:
        ready = threading.Event()
        failed: list[BaseException] = []

        def serve() -> None:
            try:
                asyncio.run(self.gateway.serve(ready=ready))
            except BaseException as error:  # noqa: BLE001 - handed to the test below
                failed.append(error)
                raise

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        wait_until(lambda: ready.is_set() or failed, timeout=15, interval=0.01, what="the gateway to start")
        if failed:
            raise AssertionError(f"the gateway did not start: {failed[0]!r}") from failed[0]
        return self

    def stop(self) -> None:
        self.gateway.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.gateway.close()

    def inbox_counts(self) -> dict[str, int]:
        from gateway.store import inbox

        with self.gateway.db.transaction() as tx:
            return inbox.counts(tx)

    def wait_processed(self, count: int, timeout: float = 15.0) -> None:
        """Wait until ``count`` mails have left the 'accepted' state."""
        def done() -> bool:
            counts = self.inbox_counts()
            return counts.get("accepted", 0) == 0 and sum(counts.values()) >= count
        wait_until(done, timeout=timeout, what=f"{count} mail(s) processed")

    def tickets(self) -> list[dict[str, Any]]:
        from gateway.services import views
        from gateway.store import tickets

        with self.gateway.db.transaction() as tx:
            return [views.summary(t) for t in reversed(tickets.listing(tx, limit=10_000))]

    def ticket(self, protocol: str) -> dict[str, Any]:
        from gateway.services import views
        from gateway.store.reads import SessionReads

        with self.gateway.db.transaction() as tx:
            data = views.detail(SessionReads(tx), protocol)
        assert data is not None, f"no ticket {protocol}"
        return data

    def outbox(self, kind: str | None = None, to: str | None = None) -> list[EmailMessage]:
        """Queued or sent mails, parsed, oldest first."""
        from sqlalchemy import select

        from gateway.outbound import compose
        from gateway.store.models import OutboxRow

        with self.gateway.db.transaction() as tx:
            query = select(OutboxRow).order_by(OutboxRow.id)
            rows = [r for r in tx.scalars(query)
                    if (kind is None or r.kind == kind) and (to is None or to in r.rcpt_tos)]
            return [parse_message(compose.sendable(r.raw)) for r in rows]  # a draft as the sender writes it

    def quarantined(self) -> list[tuple[str, str]]:
        from gateway.store import inbox

        with self.gateway.db.transaction() as tx:
            return [(q.step, q.reason) for q, _ in inbox.quarantined(tx)]


def last_inbox(running: RunningGateway) -> Any:
    """The newest inbox row (an ``InboxRow``, detached): the last mail's outcome and reason."""
    from sqlalchemy import select

    from gateway.store.models import InboxRow

    with running.gateway.db.transaction() as tx:
        row = tx.scalars(select(InboxRow).order_by(InboxRow.id.desc())).first()
        assert row is not None
        tx.expunge(row)
    return row


def parse_message(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


class CaptureRelay:
    """A real aiosmtpd server standing in for the site's relay: keeps what it gets.

    ``answer`` can be set to an SMTP reply (e.g. "550 5.1.1 no such user")
    to make it refuse.  ``smtputf8=False`` makes it a relay that does not
    advertise SMTPUTF8 (aiosmtpd's controller does by default), as many
    sites' relays still are.  ``refuse``: an address and the reply it gets
    at RCPT (``{"b@example.org": "550 5.1.1 no such user"}``), the others
    being taken.  ``delay``: seconds each DATA waits before it is kept and
    answered (a slow relay, to kill a sender mid-batch).  ``connections``
    counts the SMTP sessions clients opened.  ``drop_after``: once this many
    mails are kept, the next DATA is neither kept nor answered: the relay
    drops that connection (once), as a relay restarting mid-batch does.
    ``eight_bit_mime=False``: a relay that does not offer 8BITMIME (aiosmtpd
    decoding what it reads); with ``smtputf8=False`` too, it refuses any
    8-bit byte in DATA with ``500``, as a strict 7-bit relay may.
    """

    def __init__(self, port: int | None = None, *, smtputf8: bool = True, refuse: dict[str, str] | None = None,
                 delay: float = 0.0, drop_after: int | None = None, eight_bit_mime: bool = True) -> None:
        self.port = port or free_port()
        self.smtputf8 = smtputf8
        self.eight_bit_mime = eight_bit_mime
        self.refuse = dict(refuse or {})
        self.delay = delay
        self.drop_after = drop_after
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.mail_options: list[list[str]] = []  # each kept mail's MAIL FROM parameters (BODY=8BITMIME ...)
        self.answer: str | None = None
        self.connections = 0
        self._controller: Controller | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.drop_after is not None and len(self.messages) >= self.drop_after:
            self.drop_after = None
            server.transport.abort()  # no reply: the client cannot know whether it was kept
            return "421 4.3.0 gone"
        if self.answer:
            return self.answer
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        self.mail_options.append(list(envelope.mail_options))
        return "250 2.0.0 captured"

    def start(self) -> CaptureRelay:
        self._controller = _CountingController(self, hostname="127.0.0.1", port=self.port,
                                               enable_SMTPUTF8=self.smtputf8, decode_data=not self.eight_bit_mime)
        self._controller.start()
        self.connections = 0  # the controller's own check that it listens is not a client's
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def parsed(self) -> list[EmailMessage]:
        return [parse_message(raw) for _, _, raw in self.messages]


class _CountingController(Controller):
    """aiosmtpd's controller, counting the sessions (one ``factory`` call per connection)."""

    def factory(self) -> Any:
        self.handler.connections += 1
        return super().factory()
