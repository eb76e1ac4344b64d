"""The submission listener: analysts log in (SMTP AUTH) and send their
replies through it, which proves who they are (README, "Analysts").

It is the SMTP listener's handler with authentication in front: MAIL is
refused until AUTH succeeded (530), a wrong password gets 535, and AUTH is
offered only after STARTTLS unless ``require_tls`` is off for loopback
tests (before it, AUTH is refused with 530).  The identity reaches the
pipeline as ``Delivery.authenticated_as``; ``identify`` accepts it only
when it is the From address.

aiosmtpd's ``authenticator`` is a plain function called on the event loop,
and the password check is slow on purpose.  So aiosmtpd still runs the
PLAIN and LOGIN exchanges (challenges, base64, PLAIN's NUL-separated
fields), its ``authenticator`` only hands the decoded credentials back
(:func:`hand_over`), and the handler's ``auth_PLAIN``/``auth_LOGIN`` hooks,
which aiosmtpd awaits, ask the :class:`AuthGuard` (a worker thread, a cap,
one check per client address at a time, a back-off per client address and
per address and account; see its module).  Connections are capped per peer
address and in total by ``[smtp] max_connections_per_peer`` and
``max_connections``, as on the SMTP listener.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from gateway.clock import Clock
from gateway.config import Settings
from gateway.delivery import Ingest
from gateway.transports.auth_guard import AuthGuard, Verifier
from gateway.transports.smtp import (ConnectionLimits, LimitedSMTP, Listener, SmtpHandler, peer_address,
                                     recipient_check)

log = logging.getLogger("gateway.submission")


def hand_over(server: SMTP, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    """The ``authenticator`` aiosmtpd calls at the end of its PLAIN and LOGIN
    exchanges: it checks nothing and returns the credentials, as a failure,
    to the handler hook that awaited the exchange.  A mechanism without such
    a hook therefore never logs anyone in."""
    return AuthResult(success=False, handled=False, auth_data=auth_data)


class SubmissionHandler(SmtpHandler):
    """The SMTP handler plus AUTH PLAIN and LOGIN hooks whose password check
    the guard runs off the event loop."""

    def __init__(self, *args: Any, guard: AuthGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard = guard

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._checked(server, await server.auth_PLAIN(server, args))

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._checked(server, await server.auth_LOGIN(server, args))

    async def _checked(self, server: SMTP, exchanged: AuthResult) -> AuthResult:
        """Check what the exchange decoded; an exchange that failed (aborted,
        bad base64, already answered by aiosmtpd) is passed on as it is."""
        credentials = exchanged.auth_data
        if not isinstance(credentials, LoginPassword):
            return exchanged
        address = peer_address(server.session.peer if server.session is not None else None)
        return await self._guard.check(address, credentials.login.decode("utf-8", "replace"),
                                       credentials.password.decode("utf-8", "replace"))


async def start(ingest: Ingest, settings: Settings, clock: Clock, verify: Verifier,
                remembered: Verifier | None = None) -> Listener:
    """``verify`` is the slow password check; ``remembered`` a fast one that
    knows only passwords already verified (they skip the busy cap)."""
    config, smtp = settings.submission, settings.smtp
    guard = AuthGuard(verify, failure_delay=config.failure_delay, max_failure_delay=config.max_failure_delay,
                      concurrent_checks=config.concurrent_checks, remembered=remembered)
    limits = ConnectionLimits.of(smtp, "submission")
    ingest.count_senders(lambda: limits.open)
    handler = SubmissionHandler(ingest, recipient_check(settings), clock,
                                max_recipients=smtp.max_recipients, via="submission", guard=guard)
    context = None
    if config.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(config.tls_cert, config.tls_key)

    def make() -> SMTP:
        return LimitedSMTP(handler, limits=limits, data_size_limit=smtp.max_message_size, enable_SMTPUTF8=True,
                           decode_data=False, hostname=smtp.hostname, timeout=smtp.timeout,
                           ident="ticket-gateway submission", tls_context=context,
                           require_starttls=context is not None and config.require_tls,
                           auth_required=True, auth_require_tls=config.require_tls, authenticator=hand_over)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(make, host=config.host, port=config.port)
    log.info("submission listener (SMTP AUTH) on %s:%s", config.host, config.port)
    return Listener(server, limits)
