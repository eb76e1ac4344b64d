"""What a mailbox's rules decided about a mail, as changes to its ticket.

The pipeline's ``apply_rules`` step judged the mail (:class:`Ruling`);
here the judgement becomes a Change: category, priority, SLA, tags and
assignee on the ticket, notes on its timeline, an out-of-scope request
``rejected`` with the rule's template, a request without its required data
created ``waiting`` with one reply listing exactly what is missing, and one
notice listing the attachments that were kept but not passed on.

Every mail decided here is an automatic answer to a person's mail, so it
carries ``Auto-Submitted: auto-replied`` and counts against the same
per-sender hourly limit as the acknowledgement (``Notice.capped``): a robot
that answers our answers stops getting them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final

from gateway.outbound import words
from gateway.outbound.render import number
from gateway.rules import schema
from gateway.rules.engine import Refusal, human_size
from gateway.rules.ruling import Ruling
from gateway.services import required
from gateway.services.incoming import MAX_LISTED, Incoming
from gateway.store.db import Transaction
from gateway.store.models import TicketRow
from gateway.tickets import moves
from gateway.tickets.change import NOTHING, Change, To, event, notice
from gateway.tickets.kinds import EventKind, Template
from gateway.tickets.states import TRANSITIONS, Status

ACTOR: Final = "gateway"


def and_more(count: int) -> str:
    """``"e mais 9.980 arquivos"``: the end of a list of files cut at MAX_LISTED (pt_BR)."""
    return f"e mais {number(count, 'pt_BR')} arquivo{'s' if count != 1 else ''}"


@dataclass(frozen=True)
class Plan:
    """What the rules decided for a new ticket: the change, whether to
    acknowledge, and the lines the team notification starts with."""

    change: Change = NOTHING
    acknowledge: bool = True
    headline: str = ""


def decide_new(tx: Transaction, ticket: TicketRow, incoming: Incoming) -> Plan:
    """Classify the new ticket, keep its fields, and reject it or make it
    wait for missing data.  Mails come later (:func:`answers`), after the
    acknowledgement when there is one."""
    ruling = incoming.ruling
    if ruling is None:
        return Plan()
    change, lines = _classify(ticket, ruling)
    if ruling.required:
        required.store(tx, ticket, ruling.fields, incoming.at)
    reject = ruling.outcome.reject
    if reject is not None:
        rejected, line = _reject(ticket, ruling, reject)
        change += rejected
        lines.append(line)
    elif ruling.missing:
        waiting, line = required.wait_for(ticket, incoming.mailbox, ruling, at=incoming.at)
        change += waiting
        lines.append(line)
    lines += _refusal_lines(ruling)
    return Plan(change, acknowledge=reject is None and not ruling.missing, headline="\n".join(lines))


def answers(ticket: TicketRow, incoming: Incoming, *, rejected: bool, waiting: bool) -> Change:
    """The rules' mails to the requester: the rejection or the list of
    missing data, the refused attachments, the rules' extra replies.
    ``rejected``/``waiting``: the ticket's state once the rules' change is applied."""
    ruling = incoming.ruling
    if ruling is None:
        return NOTHING
    change = NOTHING
    reject = ruling.outcome.reject
    if reject is not None and rejected:
        change += notice(reject.template, To.REQUESTER, capped=True, context={"text": reject.reason})
    elif ruling.missing and waiting:
        change += required.request(ticket, incoming.mailbox, ruling.problems())
    if ruling.refusals:
        change += notice(Template.ATTACHMENTS_REFUSED, To.REQUESTER, capped=True,
                         context=refusal_context(ruling, ticket.language or incoming.mailbox.language))
    for template in ruling.outcome.replies:
        change += notice(template, To.REQUESTER, capped=True)
    return change


#: The first answers to a new request that can carry the refused attachments too.
_CARRIERS: Final = (Template.ACK.value, Template.MISSING_FIELDS.value, Template.REJECTED.value)


def one_mail(answers: Change) -> Change:
    """A first mail's answers as one mail: the list of refused attachments
    goes inside the acknowledgement, the request for missing data or the
    return, rather than in a mail of its own a second later (a citizen
    reads one mail that says all; issue 15)."""
    refused = [n for n in answers.notices if n.template == Template.ATTACHMENTS_REFUSED.value]
    carrier = next((n for n in answers.notices if n.to is To.REQUESTER and n.template in _CARRIERS), None)
    if not refused or carrier is None:
        return answers
    merged = replace(carrier, context={**carrier.context, **refused[0].context})
    return replace(answers, notices=tuple(merged if n is carrier else n for n in answers.notices
                                          if n is not refused[0]))


def on_follow_up(ticket: TicketRow, incoming: Incoming) -> tuple[Change, str]:
    """Rules whose conditions take follow-ups act on the existing ticket;
    the change and the lines for the team notification."""
    ruling = incoming.ruling
    if ruling is None:
        return NOTHING, ""
    change, lines = _classify(ticket, ruling)
    reject = ruling.outcome.reject
    rejected = ticket.status == Status.REJECTED.value
    if reject is not None and Status.REJECTED in TRANSITIONS[Status(ticket.status)]:
        moved, line = _reject(ticket, ruling, reject)
        change += moved
        lines.append(line)
        rejected = True
    lines += _refusal_lines(ruling)
    change += answers(ticket, incoming, rejected=rejected, waiting=bool(ticket.missing_fields))
    return change, "\n".join(lines)


# -- the parts -------------------------------------------------------------------

def _classify(ticket: TicketRow, ruling: Ruling) -> tuple[Change, list[str]]:
    """Category, priority, SLA, tags, assignee and notes; each change an event naming its rule."""
    outcome, by = ruling.outcome, _deciding_rules(ruling)
    change, lines = NOTHING, []
    matched = [result.rule for result in ruling.evaluation.matches]
    if matched:
        change += event(EventKind.RULES, ACTOR, f"regras aplicadas ({ruling.source}): {', '.join(matched)}")
    values: dict[str, Any] = {}
    changes: list[tuple[EventKind, str, str]] = []  # (event kind, value, rule)
    if outcome.category and outcome.category != ticket.category:
        values["category"] = outcome.category
        changes.append((EventKind.CATEGORY, outcome.category, by[schema.SetCategory]))
    if outcome.priority and outcome.priority != ticket.priority:
        values["priority"] = outcome.priority
        changes.append((EventKind.PRIORITY, outcome.priority, by[schema.SetPriority]))
    if outcome.first_response or outcome.resolution:
        values["sla_first_response"] = str(outcome.first_response) if outcome.first_response else None
        values["sla_resolution"] = str(outcome.resolution) if outcome.resolution else None
        shown = ", ".join(f"{name} {value}" for name, value in (("primeira resposta", outcome.first_response),
                                                                 ("resolução", outcome.resolution)) if value)
        changes.append((EventKind.SLA, shown, by[schema.SetSla]))
    new_tags = [tag for tag in outcome.tags if tag not in (ticket.tags or [])]
    if new_tags:
        values["tags"] = [*(ticket.tags or []), *new_tags]  # a new list: the JSON column sees the change
        changes.append((EventKind.TAGS, ", ".join(new_tags), by[schema.AddTags]))
    if outcome.assignee and outcome.assignee != ticket.assignee:
        values["assignee"] = outcome.assignee
        changes.append((EventKind.ASSIGNED, outcome.assignee, by[schema.Assign]))
    for kind, value, rule in changes:
        note = f"{value} (regra {rule!r})"
        # A rule's assignee makes a new ticket "assigned", as #atribuir does.
        change += (moves.assign(Status(ticket.status), ACTOR, assignee=value, note=note)
                   if kind is EventKind.ASSIGNED else event(kind, ACTOR, note))
    if changes:
        change += Change(fields=values, refresh=True)  # the category's or the rule's SLA
        lines.append("Regras: " + "; ".join(f"{_LABELS[kind]} {value}" for kind, value, _ in changes))
    for decision in ruling.evaluation.decisions:
        if isinstance(decision.action, schema.Note):
            change += event(EventKind.NOTE, ACTOR, f"{decision.action.text} (regra {decision.rule!r})")
            lines.append(f"Nota: {decision.action.text}")
    return change, lines


def _reject(ticket: TicketRow, ruling: Ruling, reject: schema.Reject) -> tuple[Change, str]:
    rule = _deciding_rules(ruling)[schema.Reject]
    change = moves.reject(Status(ticket.status), ACTOR, reason=f"{reject.reason} (regra {rule!r})")
    return change, (f"Devolvido automaticamente pela regra {rule!r}: {reject.reason}\n"
                    "Se a devolução foi um engano, responda com #reabrir e uma nota ao solicitante.")


_LABELS: Final = {EventKind.CATEGORY: "categoria", EventKind.PRIORITY: "prioridade", EventKind.SLA: "SLA",
                  EventKind.TAGS: "etiquetas", EventKind.ASSIGNED: "atribuído a"}


def _deciding_rules(ruling: Ruling) -> dict[type, str]:
    """For each kind of action, the rule whose value won (the last one)."""
    return {type(decision.action): decision.rule for decision in ruling.evaluation.decisions}


def _refusal_lines(ruling: Ruling) -> list[str]:
    """The team's line, in the same words as the citizen's mail (never a MIME type)."""
    if not ruling.refusals:
        return []
    shown, more = ruling.refusals[:MAX_LISTED], max(0, len(ruling.refusals) - MAX_LISTED)
    return ["Anexos guardados com a mensagem original, mas não repassados: "
            + "; ".join([*(f"{refusal.filename}: {_why(refusal)}" for refusal in shown),
                         *([and_more(more)] if more else [])])]


def _why(refusal: Refusal) -> str:
    if refusal.kind == "type":
        return f"{words.file_kind(refusal.real_type, 'pt_BR', refusal.filename)}, tipo não aceito"
    limit = human_size(refusal.limit) if refusal.limit else ""
    if refusal.kind == "size":
        return f"{human_size(refusal.size)}, acima do limite de {limit} por arquivo"
    return f"os anexos juntos passariam do limite de {limit} por mensagem"


def refusal_context(ruling: Ruling, language: str = "pt_BR") -> dict[str, Any]:
    """Template variables of the refused attachments (``attachments_refused``,
    or the first mail that carries them): each file (the first MAX_LISTED,
    and how many more), its kind and why, and the limits, all in the words
    people use ("Word", "programa (EXE)"), never a MIME type."""
    policy = ruling.policy
    shown, more = ruling.refusals[:MAX_LISTED], max(0, len(ruling.refusals) - MAX_LISTED)
    return {
        "refused": [{"filename": refusal.filename,
                     "type": words.file_kind(refusal.real_type, language, refusal.filename),
                     "size": human_size(refusal.size), "kind": refusal.kind,
                     "limit": human_size(refusal.limit) if refusal.limit else ""}
                    for refusal in shown],
        "refused_more": more,
        "allowed_types": words.accepted_kinds(policy.allowed, language),
        "max_size": human_size(policy.max_size) if policy.max_size else "",
        "max_total": human_size(policy.max_total) if policy.max_total else "",
    }
