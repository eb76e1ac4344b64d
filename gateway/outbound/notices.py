"""Where templates, message and queue meet: a notice becomes an outbox row.

Mails are rendered when they are queued, in the caller's transaction: the
outbox row holds the exact bytes and Message-ID, retries resend the same
mail, and a later template change does not alter a queued one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gateway import links
from gateway.config import MailboxConfig, Settings
from gateway.mail.ids import new_message_id
from gateway.calendar.mailboxes import deadline
from gateway.outbound import compose, words
from gateway.outbound.render import Renderer
from gateway.store import outbox, tickets
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets.states import Status


class Notifier:
    def __init__(self, settings: Settings, renderer: Renderer) -> None:
        self.settings = settings
        self.renderer = renderer

    def queue(self, tx: Transaction, *, kind: str, ticket: TicketRow, mailbox: MailboxConfig,
              to: Sequence[str], now: datetime, context: dict[str, Any] | None = None,
              reply_to: str | None = None, in_reply_to: str | None = None, references: Sequence[str] = (),
              attachments: Sequence[compose.FileToSend] = (), auto_submitted: str | None = "auto-replied",
              from_name: str | None = None, role: str = "system") -> str:
        """Render, compose and queue one mail; it also goes on the ticket's
        timeline as an outgoing message (team notices as internal ones).
        Returns the mail's Message-ID."""
        language = ticket.language or mailbox.language
        parts = self.renderer.render(kind, language=language, mailbox=mailbox.address,
                                     context={**self.common_context(ticket, mailbox, language), **(context or {})})
        message_id = new_message_id(kind, mailbox.domain)
        envelope = compose.Envelope(
            from_name=from_name or mailbox.display_name, from_address=mailbox.address, to=list(to),
            message_id=message_id, date=now, reply_to=reply_to, in_reply_to=in_reply_to,
            references=references, auto_submitted=auto_submitted, language=language,
            extra_headers={"X-Ticket-Protocol": ticket.protocol},
        )
        raw = compose.message(parts, envelope, attachments)
        # No thread_ref row: replies find the ticket by the outbox's Message-ID.
        timeline = {"direction": "out", "role": role, "sender": mailbox.address, "sent_at": now,
                    "subject": parts.subject, "text": parts.text, "message_id": message_id,
                    "automatic": auto_submitted is not None, "internal": kind.startswith("team_")}
        if attachments:  # their rows need the message's id
            tickets.add_message(tx, ticket, attachments=[_described(a) for a in attachments], **timeline)
        else:
            tickets.add_sent(tx, ticket, **timeline)
        outbox.add(tx, ticket_id=ticket.id, kind=kind, message_id=message_id,
                   mail_from=mailbox.address, rcpt_tos=list(to), raw=raw, at=now)
        return message_id

    def common_context(self, ticket: TicketRow, mailbox: MailboxConfig, language: str) -> dict[str, Any]:
        web = self.settings.web
        return {
            "protocol": ticket.protocol,
            "subject": ticket.subject,
            "requester_name": ticket.requester_name or ticket.requester,
            "requester": ticket.requester,
            "status_label": Status(ticket.status).label(language),
            "mailbox_name": mailbox.display_name,
            "mailbox_address": mailbox.address,
            "reply_address": mailbox.address_with_token(ticket.protocol),
            "tracking_url": links.make_url(web.base_url, web.secret, ticket.protocol, "track"),
            **promises(ticket, mailbox, language),
        }


def promises(ticket: TicketRow, mailbox: MailboxConfig, language: str) -> dict[str, str]:
    """What a mail may promise about reopening, from the mailbox's real
    ``reopen_window`` (issue 15, bug 6): ``reopen_window`` in words ("7
    dias", "" where a reply never reopens) and, once the ticket is closed,
    ``reopen_until``, the last day a reply reopens it ("" otherwise)."""
    window = mailbox.reopen_window
    if window is None:
        return {"reopen_window": "", "reopen_until": ""}
    until = ""
    if ticket.closed_at is not None and Status(ticket.status) is Status.CLOSED:
        until = words.deadline(deadline(mailbox, ticket.closed_at, window), mailbox.timezone, language)
    return {"reopen_window": words.duration(window, language), "reopen_until": until}


def _described(item: compose.FileToSend) -> dict[str, object]:
    return {"filename": item.filename, "declared_type": item.content_type, "sniffed_type": item.content_type,
            "size": len(item.data), "sha256": hashlib.sha256(item.data).hexdigest()}
