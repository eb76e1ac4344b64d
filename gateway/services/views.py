"""What a ticket holds, as plain data for the CLI's JSON and the pages.

The shape ``gateway tickets show`` promises: protocol, mailbox, status,
requester, category, messages (direction, role, sender, date, text, attachments) and
events.  Internal messages (team notifications, notes) are marked so a
page for the citizen can leave them out.

Whoever reads this data is a person (or their terminal's scrollback), so
every text in it has personal data masked (``mask_personal_data``: CPFs,
phone numbers, digits in addresses) unless the caller asks to ``reveal``
it (``gateway tickets show --reveal``).  Every string is masked, not a list
of fields, so a field added later is masked too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Protocol

from gateway.config import Settings
from gateway.outbound import statuses
from gateway.tickets.fields import mask_personal_data_in, shown_value

# Identifiers, not text: a Message-ID is searched for as written.
_NOT_MASKED: Final = frozenset({"message_id"})


class TicketReads(Protocol):
    """Where :func:`detail` (and ``tickets list``, ``link``) read tickets: ``store.reads.SessionReads`` (a
    transaction of the ORM) or ``store.direct.DirectReads`` (the short
    commands, without SQLAlchemy).  Rows carry the ORM's column names.
    This module imports neither, so a command that reads directly never
    loads SQLAlchemy through it."""

    def listing(self, *, mailbox: str | None = None, status: str | None = None, limit: int = 100) -> list[Any]: ...
    def by_protocol(self, protocol: str) -> Any: ...
    def full(self, protocol: str) -> Any: ...
    def by_id(self, ticket_id: int) -> Any: ...
    def participants(self, ticket_id: int) -> set[str]: ...
    def fields_of(self, ticket_id: int) -> dict[str, tuple[str, bool]]: ...
    def outbox_of(self, ticket_id: int) -> Sequence[Any]: ...


def summary(ticket: Any, *, reveal: bool = False, settings: Settings | None = None,
            now: datetime | None = None) -> dict[str, Any]:
    """One line of ``tickets list``: personal data masked unless ``reveal``.
    With ``settings``, the status in the ticket's desk's words
    (``[mailbox.status_names]``), and, with ``now``, closed tickets a reply
    may still reopen shown as resolved."""
    mailbox = settings.mailbox_for(ticket.mailbox) if settings is not None else None
    return _shown({
        "protocol": ticket.protocol,
        "mailbox": ticket.mailbox,
        "status": ticket.status,
        "status_label": statuses.label(ticket, mailbox[0] if mailbox else None, ticket.language, now),
        "requester": ticket.requester,
        "subject": ticket.subject,
        "category": ticket.category,
        "priority": ticket.priority,
        "assignee": ticket.assignee,
        "tags": list(ticket.tags or []),
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "due_at": _iso(ticket.due_at),
        "due_kind": ticket.due_kind,
    }, reveal)


def detail(reads: TicketReads, protocol: str, *, reveal: bool = False, settings: Settings | None = None,
           now: datetime | None = None) -> dict[str, Any] | None:
    """The whole ticket (``tickets show``): personal data masked unless ``reveal``."""
    ticket = reads.full(protocol)
    if ticket is None:
        return None
    linked = reads.by_id(ticket.linked_ticket_id) if ticket.linked_ticket_id else None
    delivery = {row.message_id: row for row in reads.outbox_of(ticket.id)}
    return _shown({
        **summary(ticket, reveal=True, settings=settings, now=now),  # masked below, once
        "requester_name": ticket.requester_name,
        "language": ticket.language,
        "linked_to": linked.protocol if linked else None,
        "participants": sorted(reads.participants(ticket.id)),
        # A CPF shows masked (***.456.789-**), or by its length when malformed.
        "fields": {name: {"value": value if reveal else shown_value(name, value), "valid": valid}
                   for name, (value, valid) in reads.fields_of(ticket.id).items()},
        "missing_fields": ticket.missing_fields.split(),
        # The requester's survey answer (issue 15, bug 10); None until they answer.
        "survey": ({"score": ticket.survey_score, "comment": ticket.survey_comment,
                    "answered_at": _iso(ticket.survey_at)} if ticket.survey_score is not None else None),
        "sla": {"first_response": ticket.sla_first_response, "resolution": ticket.sla_resolution,
                "first_response_due_at": _iso(ticket.first_response_due_at),
                "resolution_due_at": _iso(ticket.resolution_due_at)},
        "messages": [
            {
                "direction": m.direction,
                "role": m.role,
                "sender": m.sender,
                "date": _iso(m.sent_at),
                "subject": m.subject,
                "text": m.text,
                "internal": m.internal,
                "automatic": m.automatic,
                "message_id": m.message_id,
                "delivery": delivery[m.message_id].status if m.message_id in delivery else None,
                "attachments": [
                    {"filename": a.filename, "declared_type": a.declared_type, "type": a.sniffed_type,
                     "size": a.size, "passed_on": a.passed_on}
                    for a in m.attachments
                ],
            }
            for m in ticket.messages
        ],
        "events": [
            {"at": _iso(e.at), "actor": e.actor, "kind": e.kind, "from": e.from_status, "to": e.to_status,
             "note": e.note}
            for e in ticket.events
        ],
    }, reveal)


def _shown(data: dict[str, Any], reveal: bool) -> dict[str, Any]:
    return data if reveal else mask_personal_data_in(data, except_keys=_NOT_MASKED)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
