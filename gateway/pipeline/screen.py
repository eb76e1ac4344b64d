"""Recognise mail that must never be answered (RFC 3834), before any ticket
is touched.

An automatic answer to an automatic answer is how two robots start a loop.
This step only sets flags: such mail is still stored on its ticket, it
just triggers no acknowledgement and changes no state.
"""

from __future__ import annotations

from gateway.mail.automatic import classify
from gateway.pipeline.context import Flag, MailContext, Stop


def screen(ctx: MailContext) -> Stop | None:
    verdict = classify(ctx.require_mail(), envelope_sender=_envelope_sender(ctx),
                       own_addresses=ctx.settings.own_addresses)
    reasons = "; ".join(verdict.reasons)
    if verdict.bounce:
        ctx.flag(Flag.BOUNCE, reasons)
    if verdict.automatic:
        ctx.flag(Flag.AUTOMATIC, reasons)
    return None


def _envelope_sender(ctx: MailContext) -> str | None:
    """The SMTP envelope sender, or None when the transport had no envelope.

    Over SMTP/LMTP an empty sender is the null sender ``<>`` of a bounce; a
    pipe or IMAP mail with no sender simply does not know it, and the
    classifier then reads ``Return-Path`` instead.
    """
    if ctx.inbox.mail_from or ctx.inbox.via in ("smtp", "lmtp", "submission"):
        return ctx.inbox.mail_from
    return None
