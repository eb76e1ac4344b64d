"""Hand the mail to the service that applies it: new ticket, follow-up, or
analyst reply.  The decisions were made by the steps before; this one only
chooses the door."""

from __future__ import annotations

from gateway.pipeline.context import Flag, MailContext, Outcome, Stop
from gateway.services.intake import Incoming, Intake
from gateway.services.types import Role


def act(ctx: MailContext, intake: Intake) -> Stop | None:
    mail, role = ctx.require_mail(), ctx.require_role()
    incoming = Incoming(mail=mail, inbox_id=ctx.inbox.id, mailbox=ctx.require_mailbox(),
                        sender=mail.from_addr or ctx.inbox.mail_from.lower(), at=ctx.clock.now(),
                        automatic=ctx.automatic, bounce=Flag.BOUNCE in ctx.flags, ruling=ctx.ruling)
    if Flag.FORGED_ANALYST in ctx.flags:
        reason = ctx.flags[Flag.FORGED_ANALYST]
        intake.warn_forged(ctx.tx, ctx.ticket, incoming, reason)
        return Stop(Outcome.QUARANTINED, f"{reason}; not obeyed, not relayed, the team was warned")
    if ctx.ticket is not None:
        if role is Role.ANALYST and not ctx.automatic:
            intake.analyst_mail(ctx.tx, ctx.ticket, incoming)
            landed, new = ctx.ticket, False
        else:
            landed, new = intake.add_follow_up(ctx.tx, ctx.ticket, incoming, role=role,
                                               match_reason=ctx.match_reason)
        ctx.ticket_id = landed.id
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
        return Stop(Outcome.QUARANTINED, f"{what} that refers to no ticket ({reasons}); kept, not opened as a ticket")
    if not incoming.sender:
        return Stop(Outcome.QUARANTINED, "no sender address in From or the envelope; nobody to answer")
    previous = ctx.previous_ticket
    reason = ""
    if previous is not None:
        reason = (f"{incoming.sender} is not on this ticket and quoted its protocol" if role is Role.STRANGER
                  else f"the requester wrote again after the ticket was {previous.status}")
    ticket = intake.open_ticket(ctx.tx, incoming, previous=previous, previous_reason=reason)
    ctx.ticket_id = ticket.id
    return Stop(Outcome.NEW_TICKET, f"opened {ticket.protocol}")
