"""Which of our mailboxes this mail is for, and the ``+protocol`` token.

The envelope decides (the listener already refused unknown recipients),
and only the envelope when there is one: headers say whatever the sender
wrote, and a mail accepted for ``postmaster@`` with ``To: interno@`` must
not become mail for the internal mailbox.  For transports without an
envelope (pipe with --mailbox, IMAP) the hint and then the To/Cc headers do.  Mail only for ``postmaster@`` or
``abuse@`` of our domains is no request: it goes to the person named by
``[smtp] postmaster`` (``act`` forwards it), never into a ticket.  Mail to
``bounce+<token>@`` (the return path of our own mail, ``mail.verp``) is a
delivery report for the mailbox of that domain, flagged automatic.
"""

from __future__ import annotations

from gateway.mail import verp
from gateway.pipeline.context import Flag, MailContext, Outcome, Stop


def route(ctx: MailContext) -> Stop | None:
    mail = ctx.require_mail()
    candidates = [*ctx.inbox.rcpt_tos]
    if ctx.inbox.mailbox_hint:
        candidates.append(ctx.inbox.mailbox_hint)
    if not ctx.inbox.rcpt_tos:
        candidates += [*mail.to, *mail.cc]
    for address in candidates:
        match = ctx.settings.mailbox_for(address)
        if match is not None:
            ctx.mailbox, ctx.token = match
            return None
    if _to_return_path(ctx):
        return None
    postmaster = next((a for a in ctx.inbox.rcpt_tos if ctx.settings.is_postmaster(a)), None)
    if postmaster is not None:
        to = ctx.settings.postmaster_to
        if not to:
            return Stop(Outcome.QUARANTINED, f"mail to {postmaster}, and nobody to hand it to: "
                                             "set [smtp] postmaster (or a team for the first mailbox)")
        ctx.forward_to = to[0]
        ctx.note(f"mail to {postmaster}: handed to {to[0]}, no ticket")
        return None
    tried = ", ".join(candidates) or "no recipient at all"
    return Stop(Outcome.QUARANTINED, f"no configured mailbox for {tried}")


def _to_return_path(ctx: MailContext) -> bool:
    """Mail to ``bounce+<token>@`` one of our domains: a report on a mail of
    ours (or an auto-reply sent to the return path), for the mailbox of that
    domain; it is automatic whatever its headers say, so never answered."""
    domains = {m.domain for m in ctx.settings.mailboxes}
    address = next((a for a in ctx.inbox.rcpt_tos if verp.is_return_path(a, domains)), None)
    if address is None:
        return False
    domain = address.strip().strip("<>").lower().rpartition("@")[2]
    ctx.mailbox = next(m for m in ctx.settings.mailboxes if m.domain == domain)
    ctx.return_path = verp.token_of(address, domains) or ""
    ctx.flag(Flag.AUTOMATIC, f"sent to our return path {address}")
    ctx.note(f"mail to the return path {address}: a delivery report for {ctx.mailbox.address}")
    return True
