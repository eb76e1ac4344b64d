"""The same mail delivered twice has exactly one effect.

The key is the Message-ID when there is one, otherwise the SHA-256 of the
bytes.  MTAs retry after a lost ``250``, users forward the same mail to two
of our addresses, an IMAP folder is rescanned after a UIDVALIDITY change:
each of those arrives here and stops as a duplicate (PITFALLS D).
"""

from __future__ import annotations

from gateway.pipeline.context import MailContext, Outcome, Stop
from gateway.store import inbox


def dedupe(ctx: MailContext) -> Stop | None:
    mail = ctx.require_mail()
    key = f"mid:{mail.message_id}" if mail.message_id else f"sha:{ctx.inbox.sha256}"
    owner = inbox.take_key(ctx.tx, key, ctx.inbox.id)
    if owner is not None and owner != ctx.inbox.id:
        return Stop(Outcome.DUPLICATE, f"already processed as inbox #{owner} ({key[:80]})")
    return None
