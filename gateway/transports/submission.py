"""The submission listener: analysts log in (SMTP AUTH) and send their
replies through it, which proves who they are (DESIGN "Who is an analyst").

It is the SMTP listener's handler with authentication in front: MAIL is
refused until AUTH succeeded (530), a wrong password gets 535, and AUTH is
offered only after STARTTLS unless ``require_tls`` is off for loopback
tests.  The identity reaches the pipeline as ``Delivery.authenticated_as``;
``identify`` accepts it only when it is the From address.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any, Final

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from gateway.clock import Clock
from gateway.config import Settings
from gateway.delivery import Ingest
from gateway.transports.smtp import SmtpHandler

log = logging.getLogger("gateway.submission")

Verifier = Callable[[str, str], bool]


MAX_FAILURES: Final = 5  # per client address ...
FAILURE_WINDOW: Final = 600.0  # ... in this many seconds; then refused without checking


def authenticator(verify: Verifier, clock: Callable[[], float] = time.monotonic) -> Callable[..., AuthResult]:
    """Check LOGIN/PLAIN credentials; a client that keeps failing is refused
    without the (deliberately slow) password check, so guessing is slow and
    cannot stall the listener."""
    failures: dict[str, deque[float]] = defaultdict(deque)

    def check(server: SMTP, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        peer = str(session.peer[0]) if isinstance(session.peer, tuple) else str(session.peer)
        recent = failures[peer]
        now = clock()
        while recent and now - recent[0] > FAILURE_WINDOW:
            recent.popleft()
        login = auth_data.login.decode("utf-8", "replace")
        if len(recent) < MAX_FAILURES and verify(login, auth_data.password.decode("utf-8", "replace")):
            return AuthResult(success=True, auth_data=login.lower())
        recent.append(now)
        log.warning("failed SMTP AUTH for %s from %s (%d recent failures)", login, peer, len(recent))
        return AuthResult(success=False, handled=False)

    return check


async def start(ingest: Ingest, settings: Settings, clock: Clock, verify: Verifier) -> asyncio.AbstractServer:
    config, smtp = settings.submission, settings.smtp
    handler = SmtpHandler(ingest, lambda address: settings.mailbox_for(address) is not None, clock,
                          max_recipients=smtp.max_recipients, via="submission")
    context = None
    if config.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(config.tls_cert, config.tls_key)
    check = authenticator(verify)

    def make() -> SMTP:
        return SMTP(handler, data_size_limit=smtp.max_message_size, enable_SMTPUTF8=True, decode_data=False,
                    hostname=smtp.hostname, timeout=smtp.timeout, ident="ticket-gateway submission",
                    tls_context=context, require_starttls=context is not None and config.require_tls,
                    auth_required=True, auth_require_tls=config.require_tls, authenticator=check)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(make, host=config.host, port=config.port)
    log.info("submission listener (SMTP AUTH) on %s:%s", config.host, config.port)
    return server
