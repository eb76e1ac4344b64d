"""Hand the mail to the service that applies it: new ticket, follow-up, or
analyst reply.  The decisions were made by the steps before; this one only
chooses the door."""

from __future__ import annotations

from gateway.mail.addresses import addr_spec_problem, domain_of
from gateway.pipeline.context import Flag, MailContext, Outcome, Stop
from gateway.services import bounces
from gateway.services.intake import Incoming, Intake
from gateway.services.types import Role
from gateway.tickets.requester import UNCHECKED, Proof


def act(ctx: MailContext, intake: Intake) -> Stop | None:
    mail = ctx.require_mail()
    if ctx.forward_to is not None:
        forwarded, reason = intake.postmaster.forward(ctx.tx, mail, ctx.inbox.raw, to=ctx.forward_to,
                                                      rcpt_tos=ctx.inbox.rcpt_tos, at=ctx.clock.now())
        return Stop(Outcome.FORWARDED if forwarded else Outcome.QUARANTINED, reason)
    role = ctx.require_role()
    # On a ticket, its own mailbox speaks (team, templates, limits), whichever address was written to.
    mailbox = ctx.home if ctx.ticket is not None and ctx.home is not None else ctx.require_mailbox()
    if mail.from_problem:
        # A From that is there but does not parse names nobody; falling back
        # to the envelope would let any MAIL FROM stand in for a broken From.
        return Stop(Outcome.QUARANTINED, f"{mail.from_problem}; a From that does not parse names no "
                                         "requester: not opened as a ticket, nothing sent")
    incoming = Incoming(mail=mail, inbox_id=ctx.inbox.id, mailbox=mailbox,
                        sender=mail.from_addr or mail.fallback_author or ctx.inbox.mail_from.lower(), at=ctx.clock.now(),
                        automatic=ctx.automatic, bounce=Flag.BOUNCE in ctx.flags, ruling=ctx.ruling,
                        check_sender=lambda: _sender_check(ctx))
    if Flag.FORGED_ANALYST in ctx.flags:
        reason = ctx.flags[Flag.FORGED_ANALYST]
        warned = intake.analysts.forged(ctx.tx, ctx.ticket, incoming)
        return Stop(Outcome.QUARANTINED, f"{reason}; not obeyed, not relayed"
                                         + ("; the team was warned" if warned else ""))
    if ctx.ticket is not None and Flag.BOUNCE in ctx.flags:
        # A delivery report: kept on the ticket of the mail it reports on,
        # never answered (services.bounces, tickets.bounces).
        bounced = ctx.bounced or bounces.find(ctx.tx, ctx.inbox.raw, token=ctx.return_path)
        ctx.ticket_id, ctx.protocol = ctx.ticket.id, ctx.ticket.protocol
        return Stop(Outcome.FOLLOW_UP, intake.bounces.receive(ctx.tx, ctx.ticket, incoming, bounced)
                    + f" ({ctx.match_reason})")
    if ctx.ticket is not None:
        if role is Role.ANALYST and not ctx.automatic:
            intake.analysts.reply(ctx.tx, ctx.ticket, incoming)
            landed, new = ctx.ticket, False
        elif role is Role.COLLEAGUE and not ctx.automatic:
            intake.analysts.colleague(ctx.tx, ctx.ticket, incoming, proof=ctx.proof)
            landed, new = ctx.ticket, False
        else:
            landed, new = intake.follow_ups.add(ctx.tx, ctx.ticket, incoming, role=role,
                                               match_reason=ctx.match_reason, ruling_as_new=ctx.ruling_as_new)
        ctx.ticket_id, ctx.protocol = landed.id, landed.protocol
        if new:
            return Stop(Outcome.NEW_TICKET, f"opened {landed.protocol}, linked to closed {ctx.ticket.protocol}")
        return Stop(Outcome.FOLLOW_UP, f"added to {landed.protocol} ({ctx.match_reason})")
    if ctx.automatic:
        what = "bounce" if Flag.BOUNCE in ctx.flags else "automatic mail"
        reasons = ctx.flags.get(Flag.BOUNCE) or ctx.flags.get(Flag.AUTOMATIC, "")
        if ctx.previous_ticket is not None:
            return Stop(Outcome.QUARANTINED,
                        f"{what} from {incoming.sender or 'the null sender'}, who is not on "
                        f"{ctx.previous_ticket.protocol} ({reasons}); kept, not added to it")
        # Nothing for a person to fix, so no quarantine: filed, visible in
        # `gateway filed list` and counted, never answered.
        return Stop(Outcome.FILED, f"{what} that refers to no ticket ({reasons}); filed, not opened as a ticket")
    if not incoming.sender:
        return Stop(Outcome.QUARANTINED, "no sender address in From, Sender, Reply-To or the envelope; "
                                         "nobody to answer")
    if not mail.from_addr:
        # No From: Sender, Reply-To or the envelope only say whom to answer.
        # identify() read the From, so such a mail is nobody's follow-up and
        # no analyst's; it must not open a ticket in an analyst's name either.
        named = f"the {mail.fallback_header} header" if mail.fallback_author else "the envelope sender"
        if problem := addr_spec_problem(incoming.sender):
            return Stop(Outcome.QUARANTINED, f"no From, and {named} {incoming.sender!r} is no address "
                                             f"a relay could take ({problem}); not opened as a ticket, nothing sent")
        if any(incoming.sender in m.staff for m in ctx.settings.mailboxes):
            return Stop(Outcome.QUARANTINED, f"no From, and {named} names analyst {incoming.sender}; a mail "
                                             "in an analyst's name opens no ticket")
        ctx.note(f"no From: the requester {incoming.sender} is named by {named}")
    previous = ctx.previous_ticket
    reason = ""
    if previous is not None:
        reason = (f"{incoming.sender} is not on this ticket and quoted its protocol" if role is Role.STRANGER
                  else f"the requester wrote again after the ticket was {previous.status}")
    ticket = intake.opening.open_ticket(ctx.tx, incoming, previous=previous, previous_reason=reason)
    ctx.ticket_id, ctx.protocol = ticket.id, ticket.protocol
    return Stop(Outcome.NEW_TICKET, f"opened {ticket.protocol}")


def _sender_check(ctx: MailContext) -> Proof:
    """What the MTA in front says of the From ([auth] requester_decisions
    says whether a decision needs it); read when first asked."""
    evidence = ctx.evidence
    if not evidence.present and not ctx.settings.auth.decisions_need_alignment:
        return UNCHECKED
    domain = domain_of(ctx.require_mail().from_addr)
    method = evidence.aligned_pass(domain)
    ok = method is not None or not ctx.settings.auth.decisions_need_alignment
    failed = evidence.present and method is None
    return Proof(ok, evidence.summary(domain) if failed or not ok else "", failed=failed)
