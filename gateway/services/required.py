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
from datetime import datetime

from gateway.calendar.mailboxes import deadline
from gateway.config import MailboxConfig
from gateway.rules.engine import FIELD_LABELS, field_is_valid
from gateway.rules.ruling import Ruling, check_fields
from gateway.store import fields as field_rows
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets import moves
from gateway.tickets.change import Change, Deadline, To, event, fields, notice
from gateway.tickets.fields import extract_fields
from gateway.tickets.kinds import EventKind, Template
from gateway.tickets.states import Status


def store(tx: Transaction, ticket: TicketRow, values: Mapping[str, str], at: datetime) -> None:
    """Keep the fields as written, each with whether it passed its check."""
    field_rows.put(tx, ticket.id, {name: (value, field_is_valid(name, value)) for name, value in values.items()}, at)


def wait_for(ticket: TicketRow, mailbox: MailboxConfig, ruling: Ruling, *, at: datetime) -> tuple[Change, str]:
    """A new ticket waits for its missing fields; the change and the team's line."""
    problems = _described(ruling.problems())
    change = (moves.ask(Status(ticket.status), "gateway", question=problems, kind=EventKind.FIELDS_MISSING,
                        until=deadline(mailbox, at, mailbox.wait_limit))
              + fields(missing_fields=" ".join(ruling.missing)))
    return change, f"Dados obrigatórios faltando ({problems}); pedimos ao solicitante e o chamado aguarda a resposta."


def request(ticket: TicketRow, mailbox: MailboxConfig, problems: list[dict[str, str]]) -> Change:
    """The one automatic reply that lists what is missing, with the limit."""
    due = ticket.limit_at or deadline(mailbox, ticket.created_at, mailbox.wait_limit)
    return notice(Template.MISSING_FIELDS, To.REQUESTER, capped=True, context={"missing": problems},
                  deadline=Deadline(due))


def answer(tx: Transaction, ticket: TicketRow, mailbox: MailboxConfig, text: str, *, sender: str,
           at: datetime) -> tuple[Change, str]:
    """Read the requester's reply for the fields still missing (kept as
    written); the change and the team's headline."""
    wanted = ticket.missing_fields.split()
    found = extract_fields(text)
    if "email" in wanted:
        found.setdefault("email", sender)
    given = {name: found[name] for name in wanted if found.get(name, "").strip()}
    store(tx, ticket, given, at)
    missing, invalid = check_fields(wanted, given)
    if not missing:
        labels = ", ".join(FIELD_LABELS.get(name, name) for name in wanted)
        return (moves.answered(Status.WAITING, sender, kind=EventKind.FIELDS_COMPLETED,
                               note=f"dados recebidos: {labels}")
                + notice(Template.FIELDS_RECEIVED, To.REQUESTER, capped=True,
                         context={"received": [FIELD_LABELS.get(name, name) for name in wanted]}),
                f"O solicitante enviou os dados que faltavam ({labels}); o chamado voltou para Em andamento.")
    problems = [{"name": name, "label": FIELD_LABELS.get(name, name),
                 "problem": "invalid" if name in invalid else "missing"} for name in missing]
    change = (fields(missing_fields=" ".join(missing))
              + event(EventKind.FIELDS_STILL_MISSING, sender, _described(problems))
              + request(ticket, mailbox, problems))
    return change, f"O solicitante respondeu, mas ainda faltam dados ({_described(problems)}); pedimos de novo."


def _described(problems: list[dict[str, str]]) -> str:
    return ", ".join(f"{p['label']} {'inválido' if p['problem'] == 'invalid' else 'ausente'}" for p in problems)
