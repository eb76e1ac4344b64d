"""Judge the mail by its mailbox's rule file: rules, attachments, required data.

Administrators write a desk's intake rules as data (``rules/*.toml``); this
step only evaluates them and records the :class:`Ruling` with every rule's
reason, so ``gateway explain`` reads the same judgement the ``act`` step
applies.  Analysts' mail and automatic mail are not judged: a rule must
never reject an analyst's answer or reply to an out-of-office robot.
"""

from __future__ import annotations

import logging
from typing import Final, Protocol

from gateway.pipeline.context import Flag, MailContext, Stop
from gateway.rules import schema
from gateway.rules.conditions import Facts
from gateway.rules.ruling import judge
from gateway.schedule.mailboxes import calendar_for
from gateway.services.types import Role

log = logging.getLogger("gateway.rules")


class RuleSource(Protocol):
    """Where the current rules of a mailbox come from (a RuleStore)."""

    def get(self, mailbox: str) -> schema.RuleSet: ...


class _NoRuleFiles:
    def get(self, mailbox: str) -> schema.RuleSet:
        return schema.EMPTY


NO_RULE_FILES: Final[RuleSource] = _NoRuleFiles()


def apply_rules(ctx: MailContext, rules: RuleSource) -> Stop | None:
    mail, mailbox, role = ctx.require_mail(), ctx.require_mailbox(), ctx.require_role()
    ruleset = rules.get(mailbox.address)
    if ruleset is schema.EMPTY:
        ctx.note(f"mailbox {mailbox.address} has no rule file")
        return None
    if role is Role.ANALYST or ctx.automatic or Flag.FORGED_ANALYST in ctx.flags:
        what = "analyst mail" if role is Role.ANALYST else "automatic or forged mail"
        ctx.note(f"rules of {ruleset.source} not applied: {what}")
        return None
    facts = Facts.from_mail(mail, mailbox=mailbox.address, is_new=ctx.ticket is None,
                            arrived_at=ctx.inbox.received_at, calendar=calendar_for(mailbox))
    ruling = ctx.ruling = judge(ruleset, facts, with_required=ctx.ticket is None)
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
