"""Required contact data: kept on the ticket, asked for once, filled in by the reply.

A desk such as CNES cannot act without the requester's CPF and UF.  A new
request without them (or with a CPF whose check digits fail) is created
``waiting`` with the mailbox's wait limit, and the requester gets one
reply listing exactly what is missing, with lines to fill in.  Their
answer is read for those fields: when all are there and valid the ticket
goes back to ``open``; otherwise it keeps waiting and the reply names what
is still wrong.  ``ticket.missing_fields`` holds the names still missing,
and only while the ticket waits for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.config import MailboxConfig
from gateway.outbound import words
from gateway.rules.engine import FIELD_LABELS, field_is_valid
from gateway.rules.ruling import Ruling, check_fields
from gateway.schedule.mailboxes import deadline
from gateway.store import fields, tickets
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets import lifecycle
from gateway.tickets.fields import extract_fields
from gateway.tickets.states import Status

if TYPE_CHECKING:
    from gateway.services.actions import Actions


def store(tx: Transaction, ticket: TicketRow, values: Mapping[str, str], at: datetime) -> None:
    """Keep the fields as written, each with whether it passed its check."""
    fields.put(tx, ticket.id, {name: (value, field_is_valid(name, value)) for name, value in values.items()}, at)


def wait_for(actions: Actions, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, ruling: Ruling, *,
             at: datetime) -> str:
    """Put a new ticket in ``waiting`` for the missing fields; the team's line."""
    problems = _described(ruling.problems())
    due = deadline(mailbox, at, mailbox.wait_limit)
    change = replace(lifecycle.ask(Status(ticket.status), question=problems, deadline=due),
                     event="fields_missing")
    actions.apply(tx, ticket, change, actor="gateway", at=at)
    ticket.missing_fields = " ".join(ruling.missing)
    return f"Dados obrigatórios faltando ({problems}); pedimos ao solicitante e o chamado aguarda a resposta."


def reply_context(actions: Actions, ticket: TicketRow, mailbox: MailboxConfig,
                  problems: list[dict[str, str]]) -> dict[str, Any]:
    """Variables of the ``missing_fields`` template."""
    due = ticket.limit_at or deadline(mailbox, ticket.created_at, mailbox.wait_limit)
    return {"missing": problems, "deadline": words.deadline(due, mailbox.timezone, ticket.language),
            "deadline_date": words.short_date(due, mailbox.timezone)}


def answer(actions: Actions, tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, text: str, *,
           sender: str, at: datetime) -> str:
    """Read the requester's reply for the fields still missing; returns the team's headline."""
    wanted = ticket.missing_fields.split()
    found = extract_fields(text)
    if "email" in wanted:
        found.setdefault("email", sender)
    given = {name: found[name] for name in wanted if found.get(name, "").strip()}
    store(tx, ticket, given, at)
    missing, invalid = check_fields(wanted, given)
    if not missing:
        ticket.missing_fields = ""
        labels = ", ".join(FIELD_LABELS.get(name, name) for name in wanted)
        change = replace(lifecycle.answered(Status.WAITING), event="fields_completed",  # type: ignore[arg-type]
                         note=f"dados recebidos: {labels}")
        actions.apply(tx, ticket, change, actor=sender, at=at)
        return f"O solicitante enviou os dados que faltavam ({labels}); o chamado voltou para Em andamento."
    ticket.missing_fields = " ".join(missing)
    problems = [{"name": name, "label": FIELD_LABELS.get(name, name),
                 "problem": "invalid" if name in invalid else "missing"} for name in missing]
    tickets.add_event(tx, ticket, at=at, actor=sender, kind="fields_still_missing", note=_described(problems))
    actions.auto_reply(tx, ticket, mailbox, "missing_fields", at, **reply_context(actions, ticket, mailbox,
                                                                                        problems))
    return f"O solicitante respondeu, mas ainda faltam dados ({_described(problems)}); pedimos de novo."


def _described(problems: list[dict[str, str]]) -> str:
    return ", ".join(f"{p['label']} {'inválido' if p['problem'] == 'invalid' else 'ausente'}" for p in problems)
