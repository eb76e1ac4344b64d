"""Judge the mail by its mailbox's rule file: rules, attachments, required data.

Administrators write a desk's intake rules as data (``rules/*.toml``); this
step only evaluates them and records the :class:`Ruling` with every rule's
reason, so ``gateway explain`` reads the same judgement the ``act`` step
applies.  Analysts' mail and automatic mail are not judged: a rule must
never reject an analyst's answer or reply to an out-of-office robot.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Final, Protocol

from gateway.calendar.mailboxes import calendar_for
from gateway.pipeline.context import Flag, MailContext, Stop
from gateway.rules import schema
from gateway.rules.conditions import Facts
from gateway.rules.engine import Evaluation
from gateway.rules.ruling import judge
from gateway.services.types import Role
from gateway.tickets.states import Status

log = logging.getLogger("gateway.rules")


class RuleSource(Protocol):
    """Where the current rules of a mailbox come from (a RuleStore)."""

    def get(self, mailbox: str) -> schema.RuleSet: ...


class _NoRuleFiles:
    def get(self, mailbox: str) -> schema.RuleSet:
        return schema.EMPTY


NO_RULE_FILES: Final[RuleSource] = _NoRuleFiles()


def apply_rules(ctx: MailContext, rules: RuleSource) -> Stop | None:
    if ctx.forward_to is not None:  # postmaster mail: no rules, no ticket
        return None
    mail, mailbox, role = ctx.require_mail(), ctx.require_mailbox(), ctx.require_role()
    ruleset = rules.get(mailbox.address)
    if ruleset is schema.EMPTY:
        ctx.note(f"mailbox {mailbox.address} has no rule file")
        return None
    if role in (Role.ANALYST, Role.COLLEAGUE) or ctx.automatic or Flag.FORGED_ANALYST in ctx.flags:
        what = "analyst mail" if role in (Role.ANALYST, Role.COLLEAGUE) else "automatic or forged mail"
        ctx.note(f"rules of {ruleset.source} not applied: {what}")
        return None
    facts = Facts.from_mail(mail, mailbox=mailbox.address, is_new=ctx.ticket is None,
                            arrived_at=ctx.inbox.received_at, calendar=calendar_for(mailbox))
    ruling = judge(ruleset, facts, with_required=ctx.ticket is None)
    previous = ctx.previous_ticket
    if ruling.outcome.reject is not None and previous is not None and previous.status == Status.REJECTED.value:
        # A reply to our rejection quotes it (and its subject names the topic):
        # returning it again answers an auto-responder forever; a person decides.
        ruling = replace(ruling, evaluation=Evaluation(ruling.evaluation.results, tuple(
            d for d in ruling.evaluation.decisions if not isinstance(d.action, schema.Reject))))
        ctx.note(f"not returned again: it answers {previous.protocol}, which the rules already returned")
    ctx.ruling = ruling
    if ctx.ticket is not None and ctx.ticket.status == Status.CLOSED.value:
        # A reply to a closed ticket that neither answers the survey nor may
        # reopen it becomes a new ticket (the service decides): that one is
        # judged as a first mail, category, assignee and required data included.
        ctx.ruling_as_new = judge(ruleset, replace(facts, is_new=True), with_required=True)
        ctx.note(f"{ctx.ticket.protocol} is closed: if this becomes a new ticket, rules matched "
                 + (", ".join(repr(r.rule) for r in ctx.ruling_as_new.evaluation.matches) or "none"))
    matched = [result.rule for result in ruling.evaluation.matches]
    ctx.note(f"rules of {ruleset.source} ({ruleset.mode} match): "
             + (f"matched {', '.join(map(repr, matched))}" if matched else "no rule matched"))
    for refusal in ruling.refusals:
        ctx.note(f"attachment {refusal.filename!r} not passed on: {refusal.reason}")
    if ruling.missing:
        ctx.note(f"required fields missing or invalid: {', '.join(ruling.missing)}")
    # Field names only: the values are personal data and stay on the ticket.
    log.info("inbox #%s %s: rules matched %s; fields found %s; missing %s; refused %d attachment(s)",
             ctx.inbox.id, mailbox.address, matched or "none", sorted(ruling.fields) or "none",
             list(ruling.missing) or "none", len(ruling.refusals))
    return None
