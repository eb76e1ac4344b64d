"""Apply what a mailbox's rules decided about a mail to its ticket.

The pipeline's ``apply_rules`` step judged the mail (:class:`Ruling`);
here the judgement becomes rows and mails in the caller's transaction:
category, priority, SLA, tags and assignee on the ticket, notes on its
timeline, an out-of-scope request ``rejected`` with the rule's template,
a request without its required data created ``waiting`` with one reply
listing exactly what is missing, and one notice listing the attachments
that were kept but not passed on.

Every mail sent here is an automatic answer to a person's mail, so it
carries ``Auto-Submitted: auto-replied`` and counts against the same
per-sender hourly limit as the acknowledgement: a robot that answers our
answers stops getting them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

from gateway.config import MailboxConfig, Settings
from gateway.outbound.render import number
from gateway.rules import schema
from gateway.rules.engine import human_size, type_label
from gateway.rules.ruling import Ruling
from gateway.services import required
from gateway.store import tickets
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets import lifecycle
from gateway.tickets.states import TRANSITIONS, Status

if TYPE_CHECKING:
    from gateway.services.actions import Actions
    from gateway.services.intake import Incoming

ACTOR: Final = "gateway"
#: Files a mail names before "e mais N arquivos": a mail of 10,000 parts
#: once drew a 1.5 MB list back to its sender, and to the team.
MAX_LISTED: Final = 20

T = TypeVar("T")


def listed(items: Sequence[T], limit: int = MAX_LISTED) -> tuple[list[T], int]:
    """The first ``limit`` items to name, and how many more there are."""
    return list(items[:limit]), max(0, len(items) - limit)


def and_more(count: int) -> str:
    """``"e mais 9.980 arquivos"``: the end of a list of files cut at MAX_LISTED (pt_BR)."""
    return f"e mais {number(count, 'pt_BR')} arquivo{'s' if count != 1 else ''}"


@dataclass(frozen=True)
class Plan:
    """What the rules leave for the intake to do: acknowledge or not, and
    the line the team notification starts with."""

    acknowledge: bool = True
    headline: str = ""


class Rulings:
    def __init__(self, settings: Settings, actions: Actions) -> None:
        self.settings, self.actions = settings, actions

    # -- a new ticket --------------------------------------------------------

    def decide_new(self, tx: Transaction, ticket: TicketRow, incoming: Incoming) -> Plan:
        """Classify the new ticket, store its fields, and reject it or make
        it wait for missing data.  Mails come later (:meth:`answer`), after
        the acknowledgement when there is one."""
        ruling = incoming.ruling
        if ruling is None:
            return Plan()
        lines = self._classify(tx, ticket, ruling, incoming.at)
        if ruling.required:
            required.store(tx, ticket, ruling.fields, incoming.at)
        reject = ruling.outcome.reject
        if reject is not None:
            lines.append(self._reject(tx, ticket, ruling, reject, incoming.at))
        elif ruling.missing:
            lines.append(required.wait_for(self.actions, tx, ticket, incoming.mailbox, ruling, at=incoming.at))
        lines += _refusal_lines(ruling)
        return Plan(acknowledge=reject is None and not ruling.missing, headline="\n".join(lines))

    def answer(self, tx: Transaction, ticket: TicketRow, incoming: Incoming) -> None:
        """The rules' mails to the requester: the rejection or the list of
        missing data, the refused attachments, the rules' extra replies."""
        ruling = incoming.ruling
        if ruling is None:
            return
        mailbox, at = incoming.mailbox, incoming.at
        reject = ruling.outcome.reject
        if reject is not None and ticket.status == Status.REJECTED.value:
            self.actions.auto_reply(tx, ticket, mailbox, reject.template, at, text=reject.reason)
        elif ruling.missing and ticket.missing_fields:
            self.actions.auto_reply(tx, ticket, mailbox, "missing_fields", at, **required.reply_context(
                self.actions, ticket, mailbox, ruling.problems()))
        if ruling.refusals:
            self.actions.auto_reply(tx, ticket, mailbox, "attachments_refused", at, **refusal_context(ruling))
        for template in ruling.outcome.replies:
            self.actions.auto_reply(tx, ticket, mailbox, template, at)

    # -- a follow-up -----------------------------------------------------------

    def on_follow_up(self, tx: Transaction, ticket: TicketRow, incoming: Incoming) -> str:
        """Rules whose conditions take follow-ups act on the existing ticket;
        returns the lines for the team notification."""
        ruling = incoming.ruling
        if ruling is None:
            return ""
        lines = self._classify(tx, ticket, ruling, incoming.at)
        reject = ruling.outcome.reject
        if reject is not None and Status.REJECTED in TRANSITIONS[Status(ticket.status)]:
            lines.append(self._reject(tx, ticket, ruling, reject, incoming.at))
        lines += _refusal_lines(ruling)
        self.answer(tx, ticket, incoming)
        return "\n".join(lines)

    # -- the parts -------------------------------------------------------------

    def _classify(self, tx: Transaction, ticket: TicketRow, ruling: Ruling, at: datetime) -> list[str]:
        """Category, priority, SLA, tags, assignee and notes; each change an event naming its rule."""
        outcome, by = ruling.outcome, _deciding_rules(ruling)
        lines: list[str] = []
        matched = [result.rule for result in ruling.evaluation.matches]
        if matched:
            tickets.add_event(tx, ticket, at=at, actor=ACTOR, kind="rules",
                              note=f"regras aplicadas ({ruling.source}): {', '.join(matched)}")
        changes: list[tuple[str, str, str]] = []  # (event kind, value, rule)
        if outcome.category and outcome.category != ticket.category:
            ticket.category = outcome.category
            changes.append(("category", outcome.category, by[schema.SetCategory]))
        if outcome.priority and outcome.priority != ticket.priority:
            ticket.priority = outcome.priority
            changes.append(("priority", outcome.priority, by[schema.SetPriority]))
        if outcome.first_response or outcome.resolution:
            ticket.sla_first_response = str(outcome.first_response) if outcome.first_response else None
            ticket.sla_resolution = str(outcome.resolution) if outcome.resolution else None
            shown = ", ".join(f"{name} {value}" for name, value in (("primeira resposta", outcome.first_response),
                                                                     ("resolução", outcome.resolution)) if value)
            changes.append(("sla", shown, by[schema.SetSla]))
        new_tags = [tag for tag in outcome.tags if tag not in (ticket.tags or [])]
        if new_tags:
            ticket.tags = [*(ticket.tags or []), *new_tags]  # a new list: the JSON column sees the change
            changes.append(("tags", ", ".join(new_tags), by[schema.AddTags]))
        if outcome.assignee and outcome.assignee != ticket.assignee:
            ticket.assignee = outcome.assignee
            changes.append(("assigned", outcome.assignee, by[schema.Assign]))
        for kind, value, rule in changes:
            tickets.add_event(tx, ticket, at=at, actor=ACTOR, kind=kind, note=f"{value} (regra {rule!r})")
        if changes:
            self.actions.refresh_deadlines(ticket, at)  # the category's or the rule's SLA
            lines.append("Regras: " + "; ".join(f"{_LABELS[kind]} {value}" for kind, value, _ in changes))
        for decision in ruling.evaluation.decisions:
            if isinstance(decision.action, schema.Note):
                tickets.add_event(tx, ticket, at=at, actor=ACTOR, kind="note",
                                  note=f"{decision.action.text} (regra {decision.rule!r})")
                lines.append(f"Nota: {decision.action.text}")
        return lines

    def _reject(self, tx: Transaction, ticket: TicketRow, ruling: Ruling, reject: schema.Reject,
                at: datetime) -> str:
        rule = _deciding_rules(ruling)[schema.Reject]
        change = replace(lifecycle.reject(Status(ticket.status), reason=reject.reason),
                         note=f"{reject.reason} (regra {rule!r})")
        self.actions.apply(tx, ticket, change, actor=ACTOR, at=at)
        return f"Devolvido automaticamente pela regra {rule!r}: {reject.reason}"


_LABELS: Final = {"category": "categoria", "priority": "prioridade", "sla": "SLA", "tags": "etiquetas",
                  "assigned": "atribuído a"}


def _deciding_rules(ruling: Ruling) -> dict[type, str]:
    """For each kind of action, the rule whose value won (the last one)."""
    return {type(decision.action): decision.rule for decision in ruling.evaluation.decisions}


def _refusal_lines(ruling: Ruling) -> list[str]:
    if not ruling.refusals:
        return []
    shown, more = listed(ruling.refusals)
    return ["Anexos guardados com a mensagem original, mas não repassados: "
            + "; ".join([*(f"{refusal.filename} ({refusal.reason})" for refusal in shown),
                         *([and_more(more)] if more else [])])]


def refusal_context(ruling: Ruling) -> dict[str, Any]:
    """Template variables of ``attachments_refused``: each file (the first
    MAX_LISTED, and how many more), why, and the limits."""
    policy = ruling.policy
    shown, more = listed(ruling.refusals)
    return {
        "refused": [{"filename": refusal.filename, "type": type_label(refusal.real_type),
                     "size": human_size(refusal.size), "kind": refusal.kind,
                     "limit": human_size(refusal.limit) if refusal.limit else ""}
                    for refusal in shown],
        "refused_more": more,
        "allowed_types": ", ".join(type_label(glob) for glob in policy.allowed),
        "max_size": human_size(policy.max_size) if policy.max_size else "",
        "max_total": human_size(policy.max_total) if policy.max_total else "",
    }
