"""Use case: mail for postmaster@ or abuse@ of our domains.

RFC 5321 4.5.1 requires postmaster to be accepted; it is no request, so it
is handed to the person who reads it (``[smtp] postmaster``) with the
original attached as it arrived: no ticket, no answer.  Capped per hour:
the address is public, and spam to it must not become a flood to a person.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from gateway.config import Settings
from gateway.mail import verp
from gateway.mail.headers import clean
from gateway.mail.ids import new_message_id
from gateway.mail.parsed import ParsedMail
from gateway.outbound import compose
from gateway.outbound.compose import FileToSend
from gateway.outbound.render import Renderer
from gateway.services.incoming import NO_SUBJECT
from gateway.store import counters, outbox
from gateway.store.db import Transaction

PER_HOUR: Final = 60


class Postmaster:
    def __init__(self, settings: Settings, renderer: Renderer) -> None:
        self.settings, self.renderer = settings, renderer

    def forward(self, tx: Transaction, mail: ParsedMail, raw: bytes, *, to: str, rcpt_tos: Iterable[str],
                at: datetime) -> tuple[bool, str]:
        """Returns (forwarded, what happened)."""
        written = ", ".join(sorted(set(rcpt_tos)))
        if counters.bump(tx, "postmaster", at=at) > PER_HOUR:
            return False, f"mail to {written}: more than {PER_HOUR} this hour; kept, not forwarded"
        mailbox = self.settings.mailboxes[0]
        sender = f"postmaster@{mailbox.domain}"
        parts = self.renderer.render("postmaster_forward", language=mailbox.language, mailbox=mailbox.address,
                                     context={"written": written, "sender": mail.from_addr,
                                              "subject": clean(mail.subject) or NO_SUBJECT})
        message_id = new_message_id("postmaster", mailbox.domain)
        envelope = compose.Envelope(from_name=f"postmaster {mailbox.domain}", from_address=sender, to=[to],
                                    message_id=message_id, date=at, auto_submitted="auto-generated",
                                    language=mailbox.language)
        original = FileToSend("mensagem-original.eml", "message/rfc822", raw)
        token = verp.new_token()
        outbox.add(tx, ticket_id=None, kind="postmaster", message_id=message_id,
                   mail_from=verp.return_path(token, mailbox.domain), rcpt_tos=[to],
                   raw=compose.message(parts, envelope, [original]), at=at, verp_token=token)
        return True, f"mail to {written}: forwarded to {to}, no ticket"
