"""Who the sender is for the matched ticket, and whether they may add to it.

A follow-up is accepted only from the ticket's requester, an address that
was on its mails, or an analyst with proof (DESIGN "Who is an analyst").
Anyone else quoting the protocol gets a new ticket and the old one a note,
so guessing a protocol lets nobody into another's ticket (PITFALLS C).  A
mail that claims an analyst address without proof is never obeyed.
"""

from __future__ import annotations

from gateway.mail.authresults import aligned_pass
from gateway.pipeline.context import Flag, MailContext, Outcome, Stop
from gateway.services.types import Role
from gateway.store import tickets
from gateway.tickets.states import Status


def identify(ctx: MailContext) -> Stop | None:
    mail, mailbox = ctx.require_mail(), ctx.require_mailbox()
    sender = mail.from_addr
    if sender in (*mailbox.team, *mailbox.analysts):
        proof = _analyst_proof(ctx, sender)
        if proof is None:
            ctx.flag(Flag.FORGED_ANALYST, f"From claims analyst {sender} without SMTP AUTH, an internal "
                                          "mailbox or a trusted, aligned Authentication-Results pass")
            ctx.role = Role.STRANGER
            return None
        ctx.role = Role.ANALYST
        ctx.note(f"sender is analyst {sender} ({proof})")
        return None if ctx.ticket is not None else Stop(
            Outcome.QUARANTINED, f"analyst {sender} wrote without a protocol; nothing to act on")
    ticket = ctx.ticket
    if ticket is None:
        ctx.role = Role.REQUESTER
        return None
    if sender == ticket.requester:
        ctx.role = Role.REQUESTER
    elif sender in tickets.participants(ctx.tx, ticket.id):
        ctx.role = Role.PARTICIPANT
    elif Flag.BOUNCE in ctx.flags:
        # A bounce comes from a mailer daemon, never from someone on the
        # ticket: it is kept on the ticket it refers to (no answer, no state
        # change) so the analyst sees that the address failed.
        ctx.note(f"bounce from {sender or 'the null sender'} refers to {ticket.protocol}: stored there")
        ctx.role = Role.STRANGER
        return None
    else:
        ctx.note(f"{sender or 'an unknown sender'} is not on ticket {ticket.protocol}: a new ticket")
        ctx.role, ctx.previous_ticket, ctx.ticket = Role.STRANGER, ticket, None
        return None
    # A closed ticket may still take a survey answer or reopen: the service
    # decides.  A rejected one is final.
    if Status(ticket.status) is Status.REJECTED and not ctx.automatic:
        ctx.note(f"ticket {ticket.protocol} is {ticket.status}: a new ticket linked to it")
        ctx.previous_ticket, ctx.ticket = ticket, None
    return None


def _analyst_proof(ctx: MailContext, sender: str) -> str | None:
    if ctx.require_mailbox().internal:
        return "internal mailbox"
    if ctx.inbox.authenticated_as and ctx.inbox.authenticated_as.lower() == sender:
        return "SMTP AUTH"
    method = aligned_pass(ctx.require_mail().headers_all("Authentication-Results"),
                          from_domain=sender.rsplit("@", 1)[-1],
                          trusted=ctx.settings.auth.trusted_authserv_ids)
    return f"{method} pass from a trusted MTA" if method else None
