"""The SMTP (or LMTP) listener: aiosmtpd in, ``Delivery`` out.

Only ``handle_RCPT`` and ``handle_DATA`` are ours.  A recipient that is no
configured mailbox gets ``550`` at RCPT, so the gateway is never an open
relay (``postmaster@`` and ``abuse@`` of our domains are accepted, RFC 5321
4.5.1); an ``internal`` mailbox takes mail only from a trusted peer (a
logged-in session, LMTP from the MTA, ``[smtp] trusted_networks``); size is advertised with SIZE and enforced by aiosmtpd (``552``);
the idle timeout closes slow clients (``421``).  ``250`` is answered only
after ``Ingest`` committed the raw mail, without blocking the event loop:
the handler awaits the group-commit writer's future.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.clock import Clock
from gateway.config import Settings, SmtpConfig
from gateway.delivery import Delivery, Ingest
from gateway.transports import replies

log = logging.getLogger("gateway.smtp")


#: ``(address, trusted)`` -> the reply to RCPT; ``trusted``: the peer may reach internal mailboxes.
RecipientCheck = Callable[[str, bool], str]


def recipient_check(settings: Settings) -> RecipientCheck:
    """Which recipients this listener takes, from whom (see the module docstring)."""
    def check(address: str, trusted: bool) -> str:
        match = settings.mailbox_for(address)
        if match is None:
            return replies.OK if settings.is_postmaster(address) else replies.NO_SUCH_MAILBOX
        if match[0].internal and not trusted:
            return replies.INTERNAL_ONLY
        return replies.OK

    return check


class SmtpHandler:
    """Accepts mail for configured mailboxes and answers 250 once it is stored."""

    def __init__(self, ingest: Ingest, recipients: RecipientCheck, clock: Clock, *,
                 max_recipients: int, via: str = "smtp", trusts: Callable[[str], bool] = lambda peer: False) -> None:
        self._ingest, self._recipients, self._clock = ingest, recipients, clock
        self._max_recipients, self._via, self._trusts = max_recipients, via, trusts

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        trusted = self._via == "lmtp" or bool(session.authenticated) or self._trusts(_peer(session))
        reply = self._recipients(address, trusted)
        if reply != replies.OK:
            log.info("refused RCPT %s from %s: %s", address, session.peer, reply[:3])
            return reply
        if len(envelope.rcpt_tos) >= self._max_recipients:
            return replies.TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(address)
        return replies.OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        delivery = Delivery(
            raw=raw if isinstance(raw, bytes) else str(raw).encode("utf-8", "surrogateescape"),
            mail_from=envelope.mail_from or "", rcpt_tos=tuple(envelope.rcpt_tos), via=self._via,
            received_at=self._clock.now(), peer=_peer(session),
            authenticated_as=_login(session),
        )
        receipt = await self._ingest.stored(delivery)
        reply = replies.for_receipt(receipt)
        if not receipt.accepted:
            log.error("answered %s to %s: %s", reply, delivery.peer, receipt.reason)
        if self._via == "lmtp":  # one reply per recipient
            return "\r\n".join([reply] * len(envelope.rcpt_tos))
        return reply


def server_factory(handler: SmtpHandler, config: SmtpConfig) -> Callable[[], SMTP]:
    """What ``loop.create_server`` calls for each connection."""
    kind: Any = LMTP if config.lmtp else SMTP

    def make() -> SMTP:
        return kind(handler, data_size_limit=config.max_message_size, enable_SMTPUTF8=True,
                    decode_data=False, hostname=config.hostname, timeout=config.timeout,
                    ident="ticket-gateway")

    return make


async def start(ingest: Ingest, settings: Settings, clock: Clock) -> asyncio.AbstractServer:
    config = settings.smtp
    handler = SmtpHandler(ingest, recipient_check(settings), clock, max_recipients=config.max_recipients,
                          via="lmtp" if config.lmtp else "smtp", trusts=config.trusts)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(server_factory(handler, config), host=config.host, port=config.port)
    log.info("%s listener on %s:%s", "LMTP" if config.lmtp else "SMTP", config.host, config.port)
    return server


def _peer(session: Session) -> str:
    peer = session.peer
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else str(peer or "")


def _login(session: Session) -> str | None:
    """The SMTP AUTH identity, if the client authenticated on this listener."""
    if not session.authenticated:
        return None
    login = getattr(session.auth_data, "login", session.auth_data)
    if isinstance(login, bytes):
        return login.decode("utf-8", "replace").lower()
    return str(login).lower() if login else None
