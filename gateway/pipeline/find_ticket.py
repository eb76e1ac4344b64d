"""Find the ticket a mail belongs to, trying in this order:

1. a protocol in the subject, any localised prefix, any case, brackets or
   not, with a valid check digit (a near-miss typo matches nothing);
2. the ``+protocol`` token of the recipient address;
3. In-Reply-To / References against every Message-ID we sent or received
   (a citizen replying to their own first mail threads too: PITFALLS A);
   then the thread's root, the first of its References, against the roots
   earlier mails named: two replies to a mail we never received share
   nothing else (zammad#5716); only for someone already on the ticket;
4. for a bounce, the Message-IDs of ours quoted in the returned headers;
5. Outlook's ``Thread-Index`` conversation (Exchange servers drop
   In-Reply-To, and subjects lose the protocol): one of our mails' (it
   names its ticket, signed: ``mail.threadindex``), else one a mail on the
   ticket came with; only when the sender is already the ticket's
   requester or participant: the header is as easy to copy as a subject,
   and must not take a stranger into someone's ticket;
6. a protocol in the body (our mails quote it), again only for a
   sender already on that ticket (PITFALLS item 4);
7. last, an old number of a legacy mailbox in the subject (``[[mailbox]]
   legacy_references``, kept as aliases by ``gateway migrate``), only for
   a sender already on that ticket (PITFALLS item 8).

A bounce is first tied to the mail of ours it reports on (its VERP return
path, else the Message-ID it quotes): that mail's ticket is its ticket.

Whether the sender may add to the ticket is the next step's question.
"""

from __future__ import annotations

import re

from gateway.mail import threadindex
from gateway.pipeline.context import Flag, MailContext, Stop
from gateway.services import bounces
from gateway.store import tickets
from gateway.store.models import TicketRow
from gateway.tickets import protocol
from gateway.tickets.protocol import Protocol

_MESSAGE_ID = re.compile(rb"<([^<>\s@]{1,200}@[^<>\s@]{1,200})>")
_BODY_PROTOCOLS = 5  # a body listing hundreds of protocols costs five look-ups, not hundreds
_LEGACY_NUMBERS = 5  # the same for old numbers in a subject


def find_ticket(ctx: MailContext) -> Stop | None:
    if ctx.forward_to is not None:  # postmaster mail: no ticket
        return None
    mail = ctx.require_mail()
    if Flag.BOUNCE in ctx.flags and _bounced_mail(ctx):
        return None
    prefixes = [m.protocol_prefix for m in ctx.settings.mailboxes]
    for candidate in protocol.find_all(mail.subject, prefixes):
        if _use(ctx, tickets.by_protocol(ctx.tx, str(candidate)), f"protocol {candidate} in the subject"):
            return None
        ctx.note(f"protocol {candidate} in the subject matches no ticket")
    if ctx.token:
        token = protocol.parse(ctx.token)
        found = tickets.by_protocol(ctx.tx, str(token)) if token else None
        if _use(ctx, found, f"protocol {ctx.token} in the recipient address"):
            return None
        ctx.note(f"recipient token {ctx.token!r} is not a protocol of ours")
    thread = [*mail.references, *mail.in_reply_to]
    if _use(ctx, tickets.by_message_ids(ctx.tx, thread), "In-Reply-To/References"):
        return None
    if _for_someone_on_it(ctx, tickets.by_thread_root(ctx.tx, mail.thread_root),
                          "the root of its References, which another mail on the ticket named too"):
        return None
    if Flag.BOUNCE in ctx.flags:
        quoted = [m.decode("ascii", "replace") for m in _MESSAGE_ID.findall(ctx.inbox.raw)]
        if _use(ctx, tickets.by_message_ids(ctx.tx, quoted), "a Message-ID of ours in the bounce"):
            return None
    if _same_conversation(ctx):
        return None
    if _protocol_in_text(ctx, prefixes):
        return None
    if _legacy_number(ctx):
        return None
    ctx.note("no ticket matched: this is a new request")
    return None


def _protocol_in_text(ctx: MailContext, prefixes: list[str]) -> bool:
    """Step 6: a protocol in the body, for someone on that ticket.  A reply
    whose subject lost the protocol and whose headers another system
    stripped (zammad#3022: ServiceNow) still quotes our mail, which names
    it; the sender must be on the ticket, so a mention in a stranger's mail
    or a new request naming an old ticket of someone else's stays apart.
    At most ``_BODY_PROTOCOLS`` distinct ones are looked up."""
    seen: set[Protocol] = set()
    for candidate in protocol.find_in_text(ctx.require_mail().text, prefixes):
        if candidate in seen:
            continue
        seen.add(candidate)
        if _for_someone_on_it(ctx, tickets.by_protocol(ctx.tx, str(candidate)), f"protocol {candidate} in the body"):
            return True
        if len(seen) >= _BODY_PROTOCOLS:
            break
    return False


def _legacy_number(ctx: MailContext) -> bool:
    """Step 7: an old number of the legacy mailbox in the subject, in one
    of the shapes ``[[mailbox]] legacy_references`` gives (compiled at
    load), which ``gateway migrate`` kept as an alias of the ticket its
    conversation became.  Never signed or checked like our protocols, so
    only for someone on that ticket: a stranger's "Chamado nº 1234" opens a
    ticket of their own.  A mailbox without patterns does nothing here; at
    most ``_LEGACY_NUMBERS`` are looked up."""
    mailbox = ctx.mailbox
    if mailbox is None or not mailbox.legacy_references:
        return False
    for number in mailbox.legacy_references_in(ctx.require_mail().subject)[:_LEGACY_NUMBERS]:
        if _for_someone_on_it(ctx, tickets.by_legacy_reference(ctx.tx, mailbox.address, number),
                              f"old number {number} of the legacy mailbox in the subject"):
            return True
    return False


def _same_conversation(ctx: MailContext) -> bool:
    """Step 5: the Outlook conversation of a ticket, for someone on it: one
    of our mails' (a reply keeps its Thread-Index), else the one a mail on
    the ticket came with."""
    mail = ctx.require_mail()
    ours = threadindex.ticket_of(mail.thread_index, ctx.settings.web.verifying_secrets)
    found = tickets.by_id(ctx.tx, ours) if ours is not None else tickets.by_thread_index(ctx.tx, mail.thread_index)
    return _for_someone_on_it(ctx, found, "the Outlook conversation (Thread-Index)")


def _for_someone_on_it(ctx: MailContext, found: TicketRow | None, reason: str) -> bool:
    """``found`` for a sender already on it (its requester or a participant):
    a thread's root or an Outlook conversation is as easy to copy as a
    subject, and must not take a stranger into someone's ticket."""
    if found is None:
        return False
    sender = ctx.require_mail().from_addr
    if not sender or (sender != found.requester and sender not in tickets.participants(ctx.tx, found.id)):
        ctx.note(f"{reason} leads to {found.protocol}, but {sender or 'the sender'} is not on it: not matched")
        return False
    return _use(ctx, found, reason)


def _bounced_mail(ctx: MailContext) -> bool:
    """Step 0, for a bounce: the ticket of the mail of ours it reports on,
    named by the VERP return path it came back to, else by the Message-ID
    it quotes (``services.bounces.find``).  First, because a bounce's
    subject quotes whatever protocol the returned mail carried."""
    ctx.bounced = bounces.find(ctx.tx, ctx.inbox.raw, token=ctx.return_path)
    row = ctx.bounced.row
    if row is None or row.ticket_id is None:
        return False
    return _use(ctx, tickets.by_id(ctx.tx, row.ticket_id), f"{ctx.bounced.how} of the bounce (outbox #{row.id})")


def _use(ctx: MailContext, ticket: TicketRow | None, reason: str) -> bool:
    if ticket is None:
        return False
    ctx.ticket, ctx.match_reason = ticket, reason
    ctx.note(f"ticket {ticket.protocol} matched by {reason}")
    return True
