"""Turn the stored bytes into a ``ParsedMail``.

Parsing must never take the process down nor take long: ``gateway.mail.parsed``
caps sizes, MIME parts and nesting (``[processing]``) and falls back between
parsers; when even that fails the mail stops here with the parser's words
and goes to quarantine, raw bytes kept.
"""

from __future__ import annotations

from gateway.errors import ParseError
from gateway.mail.parsed import parse as parse_bytes
from gateway.pipeline.context import MailContext, Outcome, Stop


def parse(ctx: MailContext) -> Stop | None:
    limits = ctx.settings.processing
    try:
        ctx.mail = parse_bytes(ctx.inbox.raw, max_header_bytes=limits.max_header_bytes,
                               max_part_bytes=limits.max_part_bytes, max_parts=limits.max_parts,
                               max_depth=limits.max_depth)
    except ParseError as error:
        return Stop(Outcome.QUARANTINED, f"the mail could not be parsed: {error}")
    return None
