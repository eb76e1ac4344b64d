"""What a ticket holds, as plain data for the CLI's JSON and the pages.

The shape is DESIGN's Interface: protocol, mailbox, status, requester,
category, messages (direction, role, sender, date, text, attachments) and
events.  Internal messages (team notifications, notes) are marked so a
page for the citizen can leave them out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.rules.ruling import shown_value
from gateway.store import fields, outbox, tickets
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets.fields import mask_cpfs_in
from gateway.tickets.states import Status


def summary(ticket: TicketRow) -> dict[str, Any]:
    return {
        "protocol": ticket.protocol,
        "mailbox": ticket.mailbox,
        "status": ticket.status,
        "status_label": Status(ticket.status).label(ticket.language),
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
    }


def detail(tx: Transaction, protocol: str) -> dict[str, Any] | None:
    ticket = tickets.full(tx, protocol)
    if ticket is None:
        return None
    linked = tickets.by_id(tx, ticket.linked_ticket_id) if ticket.linked_ticket_id else None
    delivery = {row.message_id: row for row in outbox.for_ticket(tx, ticket.id)}
    return {
        **summary(ticket),
        "requester_name": ticket.requester_name,
        "language": ticket.language,
        "linked_to": linked.protocol if linked else None,
        "participants": sorted(tickets.participants(tx, ticket.id)),
        # CPFs are personal data: pages and JSON show them masked (***.456.789-**).
        "fields": {name: {"value": shown_value(name, value), "valid": valid}
                   for name, (value, valid) in fields.of_ticket(tx, ticket.id).items()},
        "missing_fields": ticket.missing_fields.split(),
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
                "text": mask_cpfs_in(m.text),
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
             "note": mask_cpfs_in(e.note)}
            for e in ticket.events
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
