"""Where templates, message and queue meet: a notice becomes an outbox row.

Mails are rendered when they are queued, in the caller's transaction: the
outbox row holds the rendered parts, envelope and Message-ID (a draft, whose
MIME the sender writes: ``outbound.compose``; a mail with files as its
bytes), retries resend the same mail, and a later template change does not
alter a queued one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gateway import links
from gateway.config import MailboxConfig, Settings
from gateway.mail import threadindex, verp
from gateway.mail.ids import new_message_id
from gateway.calendar.mailboxes import deadline
from gateway.outbound import compose, statuses, words
from gateway.outbound.render import Renderer
from gateway.rules.engine import FIELD_LABELS
from gateway.store import fields, outbox, tickets
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
              from_name: str | None = None, role: str = "system", common: dict[str, Any] | None = None) -> str:
        """Render, compose and queue one mail; it also goes on the ticket's
        timeline as an outgoing message (team notices as internal ones).
        ``common``: what :meth:`common` gave for this ticket, mailbox and
        ``now``, when several mails of one change share it.
        Returns the mail's Message-ID."""
        language = ticket.language or mailbox.language
        if common is None:
            common = self.common(tx, ticket, mailbox, now)
        parts = self.renderer.render(kind, language=language, mailbox=mailbox.address,
                                     context={**common, **(context or {})})
        message_id = new_message_id(kind, mailbox.domain)
        envelope = compose.Envelope(
            from_name=from_name or mailbox.display_name, from_address=mailbox.address, to=list(to),
            message_id=message_id, date=now, reply_to=reply_to, in_reply_to=in_reply_to,
            references=references, auto_submitted=auto_submitted, language=language,
            extra_headers={"X-Ticket-Protocol": ticket.protocol},
            thread_index=threadindex.for_ticket(ticket.id, ticket.created_at, now, self.settings.web.secret),
            thread_topic=ticket.subject or ticket.protocol,
        )
        # Files go inside the mail now; a draft holds none (compose.sendable writes it when it is sent).
        raw = compose.message(parts, envelope, attachments) if attachments else compose.draft(parts, envelope)
        # No thread_ref row: replies find the ticket by the outbox's Message-ID.
        timeline = {"direction": "out", "role": role, "sender": mailbox.address, "sent_at": now,
                    "subject": parts.subject, "text": parts.text, "message_id": message_id,
                    "automatic": auto_submitted is not None, "internal": kind.startswith("team_")}
        if attachments:  # their rows need the message's id
            tickets.add_message(tx, ticket, attachments=[_described(a) for a in attachments], **timeline)
        else:
            tickets.add_sent(tx, ticket, **timeline)
        # VERP: a bounce comes back to bounce+<token>@ and names this row (mail.verp).
        token = verp.new_token()
        outbox.add(tx, ticket_id=ticket.id, kind=kind, message_id=message_id,
                   mail_from=verp.return_path(token, mailbox.domain), rcpt_tos=list(to), raw=raw, at=now,
                   verp_token=token)
        return message_id

    def common(self, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, now: datetime) -> dict[str, Any]:
        """The variables every mail about ``ticket`` has at ``now``."""
        language = ticket.language or mailbox.language
        return {**self.common_context(ticket, mailbox, language), **still_missing(tx, ticket),
                "promised": promised(ticket, mailbox, language, now),
                "status_label": statuses.label(ticket, mailbox, language, now)}  # the desk's words, now

    def common_context(self, ticket: TicketRow, mailbox: MailboxConfig, language: str) -> dict[str, Any]:
        web = self.settings.web
        return {
            "protocol": ticket.protocol,
            "subject": ticket.subject,
            "requester_name": ticket.requester_name or ticket.requester,
            "greeting": greeting(ticket, language),
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


def greeting(ticket: TicketRow, language: str) -> str:
    """"Prezado(a) Otávio Reis," with a name we may use, else "Olá,": not
    an address in place of a name, nor the name the same mail asks for
    (issue 15, bug 8: "Prezado(a) Otávio Reis, ... Nome: não informado")."""
    name = (ticket.requester_name or "").strip()
    if "@" in name or "nome" in (ticket.missing_fields or "").split():
        name = ""
    return words.greeting(name, language)


def still_missing(tx: Transaction, ticket: TicketRow) -> dict[str, Any]:
    """``missing``: the data a waiting ticket still lacks, for any mail that
    names them (the reminder, above all), as the rules' own request does:
    ``[{"name": "cpf", "label": "CPF", "problem": "invalid"}]``; empty
    while the ticket waits for nothing."""
    names = (ticket.missing_fields or "").split()
    if not names:
        return {"missing": []}
    given = fields.of_ticket(tx, ticket.id)
    return {"missing": [{"name": name, "label": FIELD_LABELS.get(name, name),
                         "problem": "invalid" if name in given and not given[name][1] else "missing"}
                        for name in names]}


#: What the acknowledgement promises, per SLA target (the ticket's column: its words).
_PROMISES = {"pt_BR": (("resolution_due_at", "Prazo de atendimento"),
                       ("first_response_due_at", "Prazo para a primeira resposta")),
             "en": (("resolution_due_at", "Promised answer time"),
                    ("first_response_due_at", "Promised first response"))}


def promised(ticket: TicketRow, mailbox: MailboxConfig, language: str, now: datetime) -> list[dict[str, str]]:
    """The answer times the desk promises for this ticket (its category's
    SLA, from the rules or ``[mailbox.sla]``), in words: ``[{"what": "Prazo
    de atendimento", "until": "hoje, às 16h30"}]``; none without an SLA."""
    shown = []
    for column, what in _PROMISES["en" if language == "en" else "pt_BR"]:
        due = getattr(ticket, column)
        if due is not None:
            shown.append({"what": what, "until": words.day_and_time(due, now, mailbox.timezone, language)})
    return shown


def _described(item: compose.FileToSend) -> dict[str, object]:
    return {"filename": item.filename, "declared_type": item.content_type, "sniffed_type": item.content_type,
            "size": len(item.data), "sha256": hashlib.sha256(item.data).hexdigest()}
