"""Which of our mailboxes this mail is for, and the ``+protocol`` token.

The envelope decides (the listener already refused unknown recipients);
for transports without an envelope (pipe with --mailbox, IMAP) the hint
and then the To/Cc headers do.
"""

from __future__ import annotations

from gateway.pipeline.context import MailContext, Outcome, Stop


def route(ctx: MailContext) -> Stop | None:
    mail = ctx.require_mail()
    candidates = [*ctx.inbox.rcpt_tos]
    if ctx.inbox.mailbox_hint:
        candidates.append(ctx.inbox.mailbox_hint)
    candidates += [*mail.to, *mail.cc]
    for address in candidates:
        match = ctx.settings.mailbox_for(address)
        if match is not None:
            ctx.mailbox, ctx.token = match
            return None
    tried = ", ".join(candidates) or "no recipient at all"
    return Stop(Outcome.QUARANTINED, f"no configured mailbox for {tried}")
