"""``gateway explain mail.eml``: how the pipeline sees a mail, changing nothing.

The mail goes through the real steps (the deciding ones, the rules, and
``act`` with the real services) inside one transaction that is always
rolled back: what is printed is what the gateway would do, down to the
rendered mails it would queue, and no row, sequence number or outbox
entry survives.  Personal data (CPFs, phone numbers, digits in addresses)
is masked in everything shown, the mails it would send included.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from typing import Any

from gateway.app import Gateway
from gateway.delivery import Delivery, inbox_row
from gateway.pipeline import runner
from gateway.pipeline.context import MailContext
from gateway.rules import schema
from gateway.rules.engine import human_size
from gateway.rules.ruling import Ruling
from gateway.outbound import compose
from gateway.store import inbox, outbox, tickets
from gateway.tickets.fields import mask_personal_data_in


class _RollBack(Exception):
    """Raised to leave the transaction without committing anything."""


def explain(gateway: Gateway, raw: bytes, *, mailbox: str | None = None, sender: str = "",
            via: str = "explain") -> dict[str, Any]:
    """The explanation as plain data (the ``--json`` output).

    ``via`` is the door the mail is judged as coming through: "explain"
    (nobody vouched for it, as on the public listener), or "pipe" (handed
    over by the MTA in front, whose Authentication-Results then count)."""
    now = gateway.clock.now()
    row = inbox_row(Delivery(raw=raw, mail_from=sender, rcpt_tos=(mailbox,) if mailbox else (), via=via,
                             received_at=now, mailbox_hint=mailbox))
    report: dict[str, Any] = {}
    try:
        with gateway.db.transaction() as tx:
            [inbox_id] = inbox.add_accepted(tx, [row])
            ctx = MailContext(inbox=inbox.get(tx, inbox_id), settings=gateway.settings, tx=tx,  # type: ignore[arg-type]
                              clock=gateway.clock)
            stop = runner.run(ctx, runner.deciding_steps(gateway.rules))
            report = _decided(ctx, gateway)
            known = {mail.id for mail in outbox.for_ticket(tx, ctx.ticket.id)} if ctx.ticket is not None else set()
            if stop is None:
                stop = gateway.ingest.pipeline[-1](ctx)  # act, with the real services
            report["result"] = {"outcome": stop.outcome.value if stop else None, "reason": stop.reason if stop else ""}
            report["ticket_after"] = _ticket_after(tx, ctx.ticket_id)
            report["mails"] = [_mail(mail) for mail in (outbox.for_ticket(tx, ctx.ticket_id) if ctx.ticket_id else [])
                               if mail.id not in known]
            raise _RollBack
    except _RollBack:
        pass
    report["steps"] = [{"step": entry.step, "stopped": entry.note} for entry in ctx.trace]
    report["notes"] = list(ctx.notes)
    # Every string, not a list of fields: a field added later is masked too.
    return mask_personal_data_in(report, except_keys=frozenset({"message_id"}))


def _decided(ctx: MailContext, gateway: Gateway) -> dict[str, Any]:
    mail = ctx.mail
    mailbox = ctx.mailbox
    return {
        "mail": {"message_id": mail.message_id if mail else None, "from": mail.from_addr if mail else "",
                 "subject": mail.subject if mail else "", "date": mail.date.isoformat() if mail and mail.date else None},
        "mailbox": {"address": mailbox.address, "name": mailbox.display_name, "token": ctx.token,
                    "rules": mailbox.rules or None} if mailbox else None,
        "ticket": ({"protocol": ctx.ticket.protocol, "status": ctx.ticket.status, "matched_by": ctx.match_reason}
                   if ctx.ticket is not None else None),
        "previous_ticket": ctx.previous_ticket.protocol if ctx.previous_ticket is not None else None,
        "role": ctx.role.value if ctx.role else None,
        "proof": ctx.proof or None,
        "authentication": ctx.evidence.summary(mail.from_addr.rpartition("@")[2]) if mail and mail.from_addr else None,
        "authentication_notes": list(ctx.evidence.notes) if mail else [],
        "flags": {flag.value: reason for flag, reason in ctx.flags.items()},
        "rules": _rules(ctx.ruling, gateway, mailbox.address if mailbox else None),
        "attachments": _attachments(ctx),
        "fields": _fields(ctx.ruling),
    }


def _rules(ruling: Ruling | None, gateway: Gateway, address: str | None) -> dict[str, Any] | None:
    if ruling is None:
        ruleset = gateway.rules.get(address) if address else schema.EMPTY
        return None if ruleset is schema.EMPTY else {"source": ruleset.source, "applied": False}
    by_rule: dict[str, list[str]] = {}
    for decision in ruling.evaluation.decisions:
        by_rule.setdefault(decision.rule, []).append(describe_action(decision.action))
    outcome = ruling.outcome
    return {
        "source": ruling.source, "mode": ruling.mode, "applied": True,
        "results": [{"rule": r.rule, "source": r.source, "matched": r.matched, "evaluated": r.evaluated,
                     "reason": r.reason, "actions": by_rule.get(r.rule, [])}
                    for r in ruling.evaluation.results],
        "fired": _fired(ruling),
        "outcome": {"category": outcome.category, "priority": outcome.priority,
                    "sla": {"first_response": str(outcome.first_response) if outcome.first_response else None,
                            "resolution": str(outcome.resolution) if outcome.resolution else None},
                    "tags": list(outcome.tags), "assignee": outcome.assignee,
                    "reject": {"template": outcome.reject.template, "reason": outcome.reject.reason}
                    if outcome.reject else None,
                    "replies": list(outcome.replies), "notes": list(outcome.notes)},
    }


def _fired(ruling: Ruling) -> list[dict[str, Any]]:
    """The rules whose value the ticket gets (the last one per kind of
    action), each with the words that made it match: "returned by
    'conta gov.br' because body has 'gov.br'; body has 'autenticação'"."""
    reasons = {result.rule: result for result in ruling.evaluation.matches}
    winners: dict[str, tuple[str, schema.Action]] = {}
    for decision in ruling.evaluation.decisions:
        kind = type(decision.action).__name__
        if isinstance(decision.action, (schema.Note, schema.Reply, schema.AddTags)):
            kind += f":{len(winners)}"  # these add up: every rule counts
        winners[kind] = (decision.rule, decision.action)
    fired: dict[str, dict[str, Any]] = {}
    for rule, action in winners.values():
        entry = fired.setdefault(rule, {"rule": rule, "source": reasons[rule].source,
                                        "because": reasons[rule].reason, "actions": []})
        entry["actions"].append(describe_action(action))
    return list(fired.values())


def describe_action(action: schema.Action) -> str:
    """One action as a rule file would say it: ``category = "funcionalidade"``."""
    if isinstance(action, schema.SetCategory):
        return f"category = {action.category!r}"
    if isinstance(action, schema.SetPriority):
        return f"priority = {action.priority!r}"
    if isinstance(action, schema.SetSla):
        parts = [f"{name} = {str(value)!r}" for name, value in (("first_response", action.first_response),
                                                               ("resolution", action.resolution)) if value]
        return "sla = {" + ", ".join(parts) + "}"
    if isinstance(action, schema.AddTags):
        return f"tags = {list(action.tags)!r}"
    if isinstance(action, schema.Assign):
        return f"assign = {action.address!r}"
    if isinstance(action, schema.Reject):
        return f"reject = {{template = {action.template!r}, reason = {action.reason!r}}}"
    if isinstance(action, schema.Reply):
        return f"reply = {action.template!r}"
    return f"note = {action.text!r}"


def _attachments(ctx: MailContext) -> list[dict[str, Any]]:
    if ctx.mail is None:
        return []
    refused = {refusal.index: refusal for refusal in (ctx.ruling.refusals if ctx.ruling else ())}
    return [{"filename": a.filename, "declared_type": a.declared_type, "type": a.sniffed_type, "size": a.size,
             "passed_on": index not in refused, "refused_because": refused[index].reason if index in refused else None}
            for index, a in enumerate(ctx.mail.attachments)]


def _fields(ruling: Ruling | None) -> dict[str, Any] | None:
    if ruling is None or not ruling.required:
        return None
    return {"required": list(ruling.required), "found": ruling.shown_fields(), "missing": ruling.problems()}


def _ticket_after(tx: Any, ticket_id: int | None) -> dict[str, Any] | None:
    ticket = tickets.by_id(tx, ticket_id) if ticket_id else None
    if ticket is None:
        return None
    return {"protocol": ticket.protocol, "status": ticket.status, "category": ticket.category,
            "priority": ticket.priority, "assignee": ticket.assignee, "tags": list(ticket.tags or []),
            "missing_fields": ticket.missing_fields.split(),
            "resolution_due_at": ticket.resolution_due_at.isoformat() if ticket.resolution_due_at else None}


def _mail(row: Any) -> dict[str, Any]:
    message = message_from_bytes(compose.sendable(row.raw), policy=policy.default)
    body = message.get_body(("plain",))
    return {"kind": row.kind, "to": list(row.rcpt_tos), "subject": str(message["Subject"] or ""),
            "attachments": [part.get_filename() for part in message.iter_attachments()],  # type: ignore[attr-defined]
            "text": body.get_content() if body is not None else ""}  # type: ignore[attr-defined]


def as_text(report: dict[str, Any]) -> str:
    """The explanation for a person, in the pipeline's order."""
    lines: list[str] = []
    mail = report.get("mail") or {}
    lines.append(f"mail:     {mail.get('message_id') or '(no Message-ID)'} from {mail.get('from') or '?'}")
    lines.append(f"          subject: {mail.get('subject') or '(none)'}")
    mailbox = report.get("mailbox")
    lines.append(f"mailbox:  {mailbox['address']} ({mailbox['name']})" if mailbox else "mailbox:  none")
    ticket = report.get("ticket")
    if ticket:
        lines.append(f"ticket:   {ticket['protocol']} ({ticket['status']}), matched by {ticket['matched_by']}")
    else:
        previous = f" (not added to {report['previous_ticket']})" if report.get("previous_ticket") else ""
        lines.append(f"ticket:   none matched: a new ticket{previous}")
    lines.append(f"role:     {report.get('role') or '-'}" + (f" ({report['proof']})" if report.get("proof") else ""))
    if report.get("authentication"):
        lines.append(f"auth:     {report['authentication']}")
    for note in report.get("authentication_notes") or []:
        lines.append(f"          {note}")
    for flag, reason in (report.get("flags") or {}).items():
        lines.append(f"flag:     {flag}: {reason}")
    lines += _rules_text(report.get("rules"))
    for attachment in report.get("attachments") or []:
        verdict = "passed on" if attachment["passed_on"] else f"NOT passed on: {attachment['refused_because']}"
        lines.append(f"attachment: {attachment['filename']} ({attachment['type'] or 'unknown'}, "
                     f"{human_size(attachment['size'])}): {verdict}")
    fields = report.get("fields")
    if fields:
        found = ", ".join(f"{name}={value}" for name, value in fields["found"].items()) or "none"
        lines.append(f"fields:   required {', '.join(fields['required'])}; found {found}")
        if fields["missing"]:
            lines.append("          missing or invalid: " + ", ".join(
                f"{item['label']} ({item['problem']})" for item in fields["missing"]))
    result = report.get("result") or {}
    lines.append(f"result:   {result.get('outcome')}: {result.get('reason')}")
    after = report.get("ticket_after")
    if after:
        lines.append(f"          {after['protocol']} would be {after['status']}; category {after['category'] or '-'}, "
                     f"priority {after['priority']}, assignee {after['assignee'] or '-'}, "
                     f"tags {', '.join(after['tags']) or '-'}")
    mails = report.get("mails") or []
    lines.append(f"mails that would be sent: {len(mails) or 'none'}")
    for sent in mails:
        lines.append(f"  {sent['kind']:<20} to {', '.join(sent['to'])}: {sent['subject']}")
    lines.append("nothing was changed (explain rolls its transaction back)")
    return "\n".join(lines)


def _rules_text(rules: dict[str, Any] | None) -> list[str]:
    if rules is None:
        return ["rules:    the mailbox has no rule file"]
    if not rules.get("applied"):
        return [f"rules:    {rules['source']} not applied to this mail (analyst, automatic or forged mail)"]
    lines = [f"rules:    {rules['source']} ({rules['mode']} match)"]
    for result in rules["results"]:
        mark = "MATCH" if result["matched"] else ("skip " if not result["evaluated"] else "no   ")
        lines.append(f"  [{mark}] {result['rule']}: {result['reason']}")
        for action in result["actions"]:
            lines.append(f"            -> {action}")
    for fired in rules.get("fired") or []:
        lines.append(f"fired:    {fired['rule']!r} ({fired['source']}): {'; '.join(fired['actions'])}")
        lines.append(f"          because {fired['because']}")
    return lines
