"""The SMTP (or LMTP) listener: aiosmtpd in, ``Delivery`` out.

Only ``handle_RCPT`` and ``handle_DATA`` are ours.  A recipient that is no
configured mailbox gets ``550`` at RCPT, so the gateway is never an open
relay (``postmaster@`` and ``abuse@`` of our domains are accepted, RFC 5321
4.5.1, and ``bounce+<token>@``, the return path of our own mail); an ``internal`` mailbox takes mail only from a trusted peer (a
logged-in session, LMTP from the MTA, ``[smtp] trusted_networks``); size is advertised with SIZE and enforced (``552``) by aiosmtpd at MAIL and by ``smtp_data``'s chunked reader in DATA;
the idle timeout closes slow clients (``421``); a fault of ours while a
recipient or a mail is handled is answered ``451`` and anywhere else
``421`` with the session closed (aiosmtpd's own answer, ``500`` with the
exception's text, told the client to bounce the mail and showed it our
internals), and a connection beyond
``[smtp] max_connections_per_peer`` or ``max_connections`` is answered
``421`` and closed before the greeting (:class:`ConnectionLimits`).
``250`` is answered only after ``Ingest`` committed the raw mail, without
blocking the event loop: the handler awaits the group-commit writer's future.
Each refusal counts in ``gateway_mails_refused_total{reason}`` (a refused
recipient, a connection over a cap, a mail over the size limit).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, AnyStr, Final

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session, TLSSetupException

from gateway.clock import Clock
from gateway.config import Settings, SmtpConfig
from gateway.delivery import Delivery, Ingest
from gateway.logins import peer_address
from gateway.mail import verp
from gateway.metrics import Metrics
from gateway.transports import replies
from gateway.transports.smtp_data import ChunkedDataSMTP

log = logging.getLogger("gateway.smtp")

#: Seconds a stopping listener waits for mails being received or stored
#: (the shipped systemd units give the process TimeoutStopSec = 45 s; a
#: client's DATA timeout is 10 minutes).
SHUTDOWN_GRACE: Final = 20.0
_LEAVE_TICK: Final = 0.05
_CLOSED_WAIT: Final = 5.0


#: ``(address, trusted)`` -> the reply to RCPT; ``trusted``: the peer may reach internal mailboxes.
RecipientCheck = Callable[[str, bool], str]

#: The label of ``gateway_mails_refused_total`` for each refusal at RCPT.
_REFUSED_AT_RCPT: Final = {replies.NO_SUCH_MAILBOX: "no_such_mailbox", replies.INTERNAL_ONLY: "internal_only",
                           replies.TOO_MANY_RECIPIENTS: "too_many_recipients"}


def recipient_check(settings: Settings) -> RecipientCheck:
    """Which recipients this listener takes, from whom (see the module docstring)."""
    domains = frozenset(m.domain for m in settings.mailboxes)

    def check(address: str, trusted: bool) -> str:
        match = settings.mailbox_for(address)
        if match is None:
            # bounce+<token>@: the return path of our own mail, where delivery reports come back.
            ours = settings.is_postmaster(address) or verp.is_return_path(address, domains)
            return replies.OK if ours else replies.NO_SUCH_MAILBOX
        if match[0].internal and not trusted:
            return replies.INTERNAL_ONLY
        return replies.OK

    return check


class SmtpHandler:
    """Accepts mail for configured mailboxes and answers 250 once it is stored."""

    def __init__(self, ingest: Ingest, recipients: RecipientCheck, clock: Clock, *,
                 max_recipients: int, via: str = "smtp",
                 trusts: Callable[[str, str], bool] = lambda peer, via: False,
                 metrics: Metrics | None = None) -> None:
        self.ingest, self._recipients, self._clock = ingest, recipients, clock
        self._max_recipients, self._via, self._trusts = max_recipients, via, trusts
        # The ingest's own when none is given (the submission listener's handler).
        self._metrics: Metrics = metrics or getattr(ingest, "metrics", None) or Metrics()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        """``250``, a refusal, or ``451`` for this recipient alone when the
        check itself fails (a fault of ours): the transaction goes on."""
        try:
            return self._recipient(session, envelope, address)
        except Exception:  # noqa: BLE001 - a bug of ours must not refuse the address for good
            log.exception("could not check RCPT %s from %s; answered %s", address, _peer(session),
                          replies.INTERNAL_ERROR[:3])
            self._metrics.refused("internal_error")
            return replies.INTERNAL_ERROR

    def _recipient(self, session: Session, envelope: Envelope, address: str) -> str:
        trusted = bool(session.authenticated) or self._trusts(_peer(session), self._via)
        reply = self._recipients(address, trusted)
        if reply != replies.OK:
            log.info("refused RCPT %s from %s: %s", address, session.peer, reply[:3])
            self._metrics.refused(_REFUSED_AT_RCPT.get(reply, "other"))
            return reply
        if len(envelope.rcpt_tos) >= self._max_recipients:
            self._metrics.refused("too_many_recipients")
            return replies.TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(address)
        return replies.OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """``250`` once the mail is stored; ``451`` (for each recipient, in
        LMTP) when it is not, ours being at fault included: the client keeps
        the mail and tries again.  A fault after the commit makes that retry
        a second copy, which processing files as a duplicate of the first."""
        try:
            return await self._store(session, envelope)
        except Exception:  # noqa: BLE001 - a bug of ours must not bounce the citizen's mail
            log.exception("could not take a mail from %s (%d recipient(s)); answered %s", _peer(session),
                          len(envelope.rcpt_tos), replies.TEMPFAIL[:3])
            self._metrics.refused("internal_error")
            return self._per_recipient(replies.TEMPFAIL, envelope)

    async def _store(self, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        delivery = Delivery(
            raw=raw if isinstance(raw, bytes) else str(raw).encode("utf-8", "surrogateescape"),
            mail_from=envelope.mail_from or "", rcpt_tos=tuple(envelope.rcpt_tos), via=self._via,
            received_at=self._clock.now(), peer=_peer(session),
            authenticated_as=_login(session),
        )
        receipt = await self.ingest.stored(delivery)
        reply = replies.for_receipt(receipt)
        if not receipt.accepted:
            log.error("answered %s to %s: %s", reply, delivery.peer, receipt.reason)
        return self._per_recipient(reply, envelope)

    def _per_recipient(self, reply: str, envelope: Envelope) -> str:
        if self._via == "lmtp":  # RFC 2033: one reply per recipient
            return "\r\n".join([reply] * len(envelope.rcpt_tos))
        return reply


class ConnectionLimits:
    """The open connections of one listener, per peer address and in total.

    One client's idle connections once took all 1,024 descriptors of the
    process, and the MTA's mail and the pages with them.  A connection
    beyond ``per_peer`` from one address (``exempt`` ones, the MTA in front,
    are not counted against it) or beyond ``total`` is refused.  The cost is
    a dict update per connection; ``exempt`` is asked only of a peer already
    at its cap.
    """

    def __init__(self, *, total: int, per_peer: int, exempt: Callable[[str], bool] = lambda host: False,
                 metrics: Metrics | None = None) -> None:
        self._total, self._per_peer, self._exempt = total, per_peer, exempt
        self._metrics = metrics
        self._open: dict[str, int] = {}  # peer_address -> open connections
        self._warned: set[str] = set()  # peers (and "*", the total) refused since last below their cap
        self.open = 0
        self.sessions: set[LimitedSMTP] = set()  # the counted ones, for ``take_leave``

    @classmethod
    def of(cls, config: SmtpConfig, via: str, metrics: Metrics | None = None) -> ConnectionLimits:
        """The caps of ``[smtp]``, exempting its trusted peers on listener ``via`` from the per-peer one."""
        return cls(total=config.max_connections, per_peer=config.max_connections_per_peer,
                   exempt=lambda host: config.trusts(host, via), metrics=metrics)

    def admit(self, peer: object) -> tuple[str, str | None]:
        """Count a connection from ``peer`` (its socket address): the key it
        is counted under, and ``None``, or the reply to refuse it with (then
        it is not counted)."""
        key = peer_address(peer)
        if self.open >= self._total:
            return key, self._refused("*", replies.TOO_MANY_CONNECTIONS, key)
        count = self._open.get(key, 0)
        if count >= self._per_peer and not self._exempt(str(peer[0] if isinstance(peer, tuple) else peer)):
            return key, self._refused(key, replies.TOO_MANY_FROM_PEER, key)
        self._open[key] = count + 1
        self.open += 1
        return key, None

    def release(self, key: str) -> None:
        """A connection counted under ``key`` has closed."""
        count = self._open.pop(key, 0) - 1
        if count > 0:
            self._open[key] = count
        self.open -= 1
        if count < self._per_peer:
            self._warned.discard(key)
        if self.open < self._total:
            self._warned.discard("*")

    async def take_leave(self, grace: float) -> None:
        """The listener stops: each session is told ``421`` and closed, one
        receiving or storing a mail once it has had its answer (within
        ``grace`` seconds; past it, it is cut like the rest, and its client
        tries again).  Sessions were dropped without a word, a mail
        half-way through DATA included: its client saw the connection fail,
        and one whose commit was in flight sent it again, a duplicate."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        for _ in range(int(grace / _LEAVE_TICK) + 2):  # bounded: at the deadline every one is told
            late = loop.time() >= deadline
            for session in list(self.sessions):
                if late or not session.in_data:
                    session.take_leave()
            if not any(session.in_data and not session.leaving for session in self.sessions):
                break
            await asyncio.sleep(_LEAVE_TICK)
        for _ in range(20):  # the 421s written out before the loop ends (connection_lost empties the set)
            if not self.sessions:
                return
            await asyncio.sleep(_LEAVE_TICK)
        for session in list(self.sessions):  # a client that reads nothing, one closed after a fault: cut
            session.abort()

    def _refused(self, cap: str, reply: str, key: str) -> str:
        if self._metrics is not None:
            self._metrics.refused("too_many_connections")
        if cap not in self._warned:  # once per episode, so a flood does not flood the log too
            self._warned.add(cap)
            log.warning("refusing connections from %s: %s (%d open in all)", key, reply[10:], self.open)
        return reply


class LimitedSMTP(ChunkedDataSMTP):
    """aiosmtpd's SMTP protocol, counted in :class:`ConnectionLimits`: a
    connection over a cap gets the refusal and is closed before aiosmtpd
    starts serving it (no greeting, no task).  The body of DATA is read in
    chunks (``transports.smtp_data``)."""

    def __init__(self, handler: Any, *, limits: ConnectionLimits, metrics: Metrics | None = None,
                 **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._limits, self._metrics = limits, metrics
        self._counted: str | None = None  # the key this connection is counted under
        self._refused = False
        self._close_after_reply = False
        self._faulted_transport: Any = None  # the transport push closed after a fault
        self.leaving = False  # told 421: the listener stops (``ConnectionLimits.take_leave``)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._counted is None:  # not the second call, after STARTTLS
            key, refusal = self._limits.admit(transport.get_extra_info("peername"))
            if refusal is not None:
                self._refused = True
                if isinstance(transport, asyncio.WriteTransport):
                    transport.write(refusal.encode("ascii") + b"\r\n")
                transport.close()  # after the write is flushed
                return
            self._counted = key
            self._limits.sessions.add(self)
        super().connection_made(transport)

    def abort(self) -> None:
        """Cut the connection, whatever is left unwritten (``ConnectionLimits.take_leave``'s last resort)."""
        for transport in (self.transport, self._faulted_transport):
            if transport is not None:
                transport.abort()

    def take_leave(self) -> None:
        """``421`` and close, now: the listener stops."""
        transport = self.transport
        if self.leaving or transport is None or transport.is_closing():
            return
        self.leaving = True
        transport.write(replies.SHUTTING_DOWN.encode("ascii") + b"\r\n")
        transport.close()  # after the write is flushed; aiosmtpd's loop then ends

    async def push(self, status: AnyStr) -> None:
        """A mail over the size limit is answered ``552`` by aiosmtpd at
        MAIL's SIZE= and by ``smtp_data`` during DATA; this is where it can
        be counted.  After the reply to a fault (``handle_exception``) the
        session ends here: with no transport aiosmtpd's loop reads no
        further line, not even one already received (the rest of a body)."""
        if self._metrics is not None and status[:3] in ("552", b"552"):
            self._metrics.refused("too_big")
        try:
            await super().push(status)
        finally:
            if self._close_after_reply:
                self._close_after_reply = False
                transport, self.transport = self.transport, None
                if transport is not None:
                    self._faulted_transport = transport
                    transport.close()  # after the reply, which is already in its buffer

    def _timeout_cb(self) -> None:
        """aiosmtpd's idle timer, which asserts a transport: one closed after
        a fault (``push``) may still wait for a client that reads nothing
        to take its reply, so it is cut."""
        if self.transport is None and self._faulted_transport is not None:
            self._faulted_transport.abort()
            return
        super()._timeout_cb()

    async def handle_exception(self, error: Exception) -> str:
        """What aiosmtpd answers anything raised while it serves a command
        and no hook of ours answered for itself (RCPT and DATA do): its own
        ``500 Error: (Exception) text`` was permanent (the client bounced
        the mail) and showed our internals.  The session may be out of step
        (a body read half-way, an envelope never reset, an LMTP client
        waiting for one reply per recipient), so it gets ``421`` and is
        closed: the client tries again later, from the start."""
        if isinstance(error, (OSError, TLSSetupException)):  # the client's connection or handshake, not our fault
            log.info("SMTP session with %s ended by %s: %s", self.session.peer if self.session else "?",
                     type(error).__name__, error)
        else:
            log.error("SMTP session with %s failed: %s: %s; answered 421 and closed",
                      self.session.peer if self.session else "?", type(error).__name__, error, exc_info=error)
            if self._metrics is not None:
                self._metrics.refused("internal_error")
        # aiosmtpd closes a failed TLS handshake itself; otherwise ``push``
        # closes the session once this reply is written.
        self._close_after_reply = not isinstance(error, TLSSetupException)
        return replies.CLOSING_ON_ERROR

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        if self._counted is not None:
            self._limits.release(self._counted)
            self._limits.sessions.discard(self)
            self._counted = None
        super().connection_lost(error)


class LimitedLMTP(LimitedSMTP, LMTP):
    """The same for LMTP."""


def server_factory(handler: SmtpHandler, config: SmtpConfig, metrics: Metrics | None = None, *,
                   limits: ConnectionLimits | None = None) -> Callable[[], SMTP]:
    """What ``loop.create_server`` calls for each connection: one protocol
    each, all counted in one :class:`ConnectionLimits`."""
    kind: Any = LimitedLMTP if config.lmtp else LimitedSMTP
    limits = limits or ConnectionLimits.of(config, "lmtp" if config.lmtp else "smtp", metrics)
    handler.ingest.count_senders(lambda: limits.open)  # the group commit knows when all of them wait

    def make() -> SMTP:
        return kind(handler, limits=limits, metrics=metrics, data_size_limit=config.max_message_size,
                    enable_SMTPUTF8=True,
                    decode_data=False, hostname=config.hostname, timeout=config.timeout,
                    ident="ticket-gateway")

    return make


@dataclass(frozen=True)
class Listener:
    """A listening server and the sessions it serves."""

    server: asyncio.AbstractServer
    limits: ConnectionLimits

    async def close(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Stop listening, take leave of every session (``ConnectionLimits.take_leave``).
        From Python 3.12 ``wait_closed`` waits for every connection: bounded too."""
        self.server.close()
        await self.limits.take_leave(grace)
        try:
            await asyncio.wait_for(self.server.wait_closed(), timeout=_CLOSED_WAIT)
        except asyncio.TimeoutError:
            log.warning("%d SMTP connection(s) still open after the shutdown's grace; leaving them",
                        len(self.limits.sessions))


async def start(ingest: Ingest, settings: Settings, clock: Clock, metrics: Metrics | None = None) -> Listener:
    config = settings.smtp
    handler = SmtpHandler(ingest, recipient_check(settings), clock, max_recipients=config.max_recipients,
                          via="lmtp" if config.lmtp else "smtp", trusts=config.trusts, metrics=metrics)
    limits = ConnectionLimits.of(config, "lmtp" if config.lmtp else "smtp", metrics)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(server_factory(handler, config, metrics, limits=limits),
                                      host=config.host, port=config.port)
    log.info("%s listener on %s:%s", "LMTP" if config.lmtp else "SMTP", config.host, config.port)
    return Listener(server, limits)


def _peer(session: Session) -> str:
    """``"192.0.2.1:25"`` or ``"[2001:db8::1]:25"``: an IPv6 address in
    brackets, so that reading it back never mistakes the port for a group."""
    peer = session.peer
    if not (isinstance(peer, tuple) and len(peer) >= 2):
        return str(peer or "")
    host = str(peer[0])
    return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"


def _login(session: Session) -> str | None:
    """The SMTP AUTH identity, if the client authenticated on this listener."""
    if not session.authenticated:
        return None
    login = getattr(session.auth_data, "login", session.auth_data)
    if isinstance(login, bytes):
        return login.decode("utf-8", "replace").lower()
    return str(login).lower() if login else None
