"""Who the sender is for the matched ticket, and whether they may add to it.

A follow-up is accepted only from the ticket's requester, an address that
was on its mails, or an analyst with proof (README, "Analysts").
Anyone else quoting the protocol gets a new ticket and the old one a note,
so guessing a protocol lets nobody into another's ticket (PITFALLS C).

An analyst's word counts only on tickets of a mailbox that lists them (its
``team`` or ``analysts``), and only with proof that the mail is theirs:

- SMTP AUTH on the submission listener as that very address;
- an aligned SPF/DKIM/DMARC pass in the Authentication-Results our MTA
  added (``ctx.evidence``; the rules are in ``gateway.mail.authresults``);
- arrival at an ``internal`` mailbox that lists them, by a path only the
  site's own network can use (``internal_path``).

A proven analyst of *another* mailbox who writes on a ticket (with its
protocol, to any of our addresses) is a colleague: the mail is kept as an
internal note, and no command in it is obeyed.  A mail that claims an
analyst address without proof is never obeyed nor relayed.
"""

from __future__ import annotations

from gateway.config import MailboxConfig
from gateway.mail.addresses import domain_of
from gateway.pipeline.context import Flag, MailContext, Outcome, Stop, internal_path
from gateway.services.types import Role
from gateway.store import tickets
from gateway.store.models import TicketRow
from gateway.tickets.states import Status


def identify(ctx: MailContext) -> Stop | None:
    if ctx.forward_to is not None:
        return None
    mail, routed = ctx.require_mail(), ctx.require_mailbox()
    sender, ticket = mail.from_addr, ctx.ticket
    login = ctx.inbox.authenticated_as
    if ctx.inbox.via == "submission" and (not login or login.lower() != sender):
        # A login proves one address; a mail in another's name through it
        # would let any analyst answer as a citizen or as a colleague.
        return Stop(Outcome.QUARANTINED, f"logged in on the submission listener as {login or 'nobody'} "
                                         f"but the From is {sender or 'missing'}; a login speaks only for itself")
    home = _home(ctx, ticket) or routed
    ctx.home = home
    if sender and sender in home.staff:
        return _analyst(ctx, sender, home)
    if ticket is None:
        ctx.role = Role.REQUESTER
        return None
    if sender == ticket.requester:
        ctx.role = Role.REQUESTER
    elif sender in tickets.participants(ctx.tx, ticket.id):
        ctx.role = Role.PARTICIPANT
    elif sender and any(sender in m.staff for m in ctx.settings.mailboxes):
        return _colleague(ctx, sender, ticket, home)
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


def _analyst(ctx: MailContext, sender: str, home: MailboxConfig) -> Stop | None:
    proof = _proof(ctx, sender)
    if proof is None:
        ctx.flag(Flag.FORGED_ANALYST, f"From claims analyst {sender} of {home.address} without SMTP AUTH, "
                                      "an internal mailbox reached from inside, or a trusted, aligned "
                                      f"Authentication-Results pass ({ctx.evidence.summary(domain_of(sender))})")
        ctx.role = Role.STRANGER
        return None
    ctx.role, ctx.proof = Role.ANALYST, proof
    ctx.note(f"sender is analyst {sender} of {home.address} ({proof})")
    if ctx.ticket is None:
        return Stop(Outcome.QUARANTINED, f"analyst {sender} wrote without a protocol; nothing to act on")
    return None


def _colleague(ctx: MailContext, sender: str, ticket: TicketRow, home: MailboxConfig) -> Stop | None:
    """An analyst of another mailbox writes on this ticket: a note at most."""
    proof = _proof(ctx, sender)
    if proof is None:
        ctx.flag(Flag.FORGED_ANALYST, f"From claims {sender}, analyst of another mailbox, without proof, "
                                      f"on {ticket.protocol} of {home.address}")
        ctx.role = Role.STRANGER
        return None
    ctx.role, ctx.proof = Role.COLLEAGUE, proof
    ctx.note(f"{sender} ({proof}) is no analyst of {home.address}, which {ticket.protocol} belongs to: "
             "kept as an internal note, no command obeyed")
    return None


def _proof(ctx: MailContext, sender: str) -> str | None:
    """How the mail shows it is ``sender``'s, or None."""
    routed = ctx.require_mailbox()
    if routed.internal and sender in routed.staff and internal_path(ctx.inbox, ctx.settings, routed):
        return f"internal mailbox {routed.address} reached by {ctx.inbox.via}"
    if ctx.inbox.authenticated_as and ctx.inbox.authenticated_as.lower() == sender:
        return "SMTP AUTH"
    method = ctx.evidence.aligned_pass(domain_of(sender))
    return f"{method} pass from a trusted MTA" if method else None


def _home(ctx: MailContext, ticket: TicketRow | None) -> MailboxConfig | None:
    """The mailbox the matched ticket belongs to (its team decides on it)."""
    if ticket is None:
        return None
    if ctx.mailbox is not None and ticket.mailbox == ctx.mailbox.address:
        return ctx.mailbox
    match = ctx.settings.mailbox_for(ticket.mailbox)
    return match[0] if match else None
