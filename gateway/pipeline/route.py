"""Which of our mailboxes this mail is for, and the ``+protocol`` token.

The envelope decides (the listener already refused unknown recipients),
and only the envelope when there is one: headers say whatever the sender
wrote, and a mail accepted for ``postmaster@`` with ``To: interno@`` must
not become mail for the internal mailbox.  For transports without an
envelope (pipe with --mailbox, IMAP) the hint and then the To/Cc headers do.  Mail only for ``postmaster@`` or
``abuse@`` of our domains is no request: it goes to the person named by
``[smtp] postmaster`` (``act`` forwards it), never into a ticket.
"""

from __future__ import annotations

from gateway.pipeline.context import MailContext, Outcome, Stop


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
