"""Outlook's ``Thread-Index``: which conversation a mail belongs to.

Outlook and Exchange write ``Thread-Index`` on every mail: base64 of a
22-byte header (a FILETIME and a GUID, made when the conversation started)
followed by one 5-byte block per reply.  The first 22 bytes are therefore
the same on every mail of one conversation, whatever the subject became
and whichever ``In-Reply-To`` a server dropped ([MS-OXOMSG] 2.2.1.3,
PidTagConversationIndex).  The pipeline uses it as the last way to find a
ticket, and only for a sender already on that ticket: the header is as
easy to copy as any other (README, "Security model").

Our own mails carry one too (:func:`for_ticket`), with ``Thread-Topic``:
without them Outlook and OWA left each mail about a ticket a conversation
of its own (PITFALLS J, freescout#4922).  A ticket's conversation is made
from the ticket, not stored: its header block holds the ticket's creation
time and a GUID naming the ticket, signed, the same for every mail of the
ticket, and each mail adds one response block, its time after that.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import datetime, timezone
from functools import lru_cache
from typing import Final

from gateway.mail import randomness

#: Bytes of the conversation's header block ([MS-OXOMSG] 2.2.1.3).
BASE_BYTES: Final = 22
_CHILD_BYTES: Final = 5
_BASE64: Final = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_FILETIME_ZERO: Final = datetime(1601, 1, 1, tzinfo=timezone.utc)
_DROPPED_BITS: Final = 24  # the header keeps a FILETIME's 40 high bits
_OURS: Final = b"TGW\x01"  # the first GUID bytes of a conversation the gateway made


def conversation_of(value: str) -> str | None:
    """The conversation of a ``Thread-Index`` value, as 44 hex digits, or
    None when the value is no Thread-Index (not base64, or not 22 bytes
    plus whole 5-byte blocks).

    >>> conversation_of("AdC0xOxFwE/tigzGSJa9glHhu/rfhwAAPsBA")
    '01d0b4c4ec45c04fed8a0cc64896bd8251e1bbfadf87'
    """
    if not value:
        return None
    value = "".join(value.split())
    if not value or len(value) > 4096 or not _BASE64.fullmatch(value):
        return None
    try:
        data = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(data) < BASE_BYTES or (len(data) - BASE_BYTES) % _CHILD_BYTES:
        return None
    base = data[:BASE_BYTES]
    if not any(base):
        return None  # all zeros: a placeholder, shared by unrelated mails
    return base.hex()


def for_ticket(ticket_id: int, started: datetime, at: datetime, secret: str) -> str:
    """The ``Thread-Index`` of a mail about ticket ``ticket_id`` (created
    ``started``) sent ``at``: the ticket's conversation header and one
    response block ([MS-OXOMSG] 2.2.1.3): a delta code, 31 bits of the time
    since the header's (the delta code 0 drops its 18 low bits, 1 its 23),
    4 random bits and a sequence count of 0.

    >>> at = datetime(2026, 12, 7, 14, 0, tzinfo=timezone.utc)
    >>> ticket_of(conversation_of(for_ticket(42, at, at, "s3cr3t")), "s3cr3t")
    42
    """
    header = _header(ticket_id, started, secret)
    delta = max(0, _filetime(at) - (int.from_bytes(header[1:6], "big") << _DROPPED_BITS))
    code, steps = (0, delta >> 18) if delta < 1 << 49 else (1, min(delta >> 23, (1 << 31) - 1))
    block = (code << 39 | steps << 8 | (randomness.token_bytes(1)[0] & 0xF0)).to_bytes(_CHILD_BYTES, "big")
    return base64.b64encode(header + block).decode("ascii")


def ticket_of(conversation: str | None, secret: str | tuple[str, ...]) -> int | None:
    """The ticket of a conversation of ours (``conversation_of`` of a reply
    to one of our mails: Outlook keeps the header and adds a block), or
    None: another conversation, or a tag not signed with ``secret`` (or
    any of several: the web secret and those before it)."""
    if not conversation or len(conversation) != 2 * BASE_BYTES:
        return None
    guid = bytes.fromhex(conversation)[6:]
    if guid[:4] != _OURS:
        return None
    secrets = (secret,) if isinstance(secret, str) else secret
    if not any(hmac.compare_digest(guid[12:], _tag(guid[4:12], key)) for key in secrets):
        return None
    return int.from_bytes(guid[4:12], "big")


@lru_cache(maxsize=256)
def _header(ticket_id: int, started: datetime, secret: str) -> bytes:
    """Reserved byte 0x01, the FILETIME's 40 high bits (big-endian), and a
    GUID of ours: a mark, the ticket's id and a tag signed with the web
    secret, so a reply that lost every other reference finds its ticket
    (``ticket_of``), and nobody makes one for a ticket they never got a
    mail of.  The acknowledgement and the team's notice of a new ticket,
    and every later mail about it, share it."""
    ident = ticket_id.to_bytes(8, "big")
    return b"\x01" + (_filetime(started) >> _DROPPED_BITS).to_bytes(5, "big") + _OURS + ident + _tag(ident, secret)


def _tag(ident: bytes, secret: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), b"thread-index " + ident, hashlib.sha256).digest()[:4]


def _filetime(at: datetime) -> int:
    """100-nanosecond intervals since 1601-01-01 UTC (Windows' FILETIME);
    0 for an earlier instant (a migrated ticket dated by a mangled Date)."""
    delta = at - _FILETIME_ZERO
    return max(0, (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10)
