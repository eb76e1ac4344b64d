"""Outlook's ``Thread-Index``: which conversation a mail belongs to.

Outlook and Exchange write ``Thread-Index`` on every mail: base64 of a
22-byte header (a FILETIME and a GUID, made when the conversation started)
followed by one 5-byte block per reply.  The first 22 bytes are therefore
the same on every mail of one conversation, whatever the subject became
and whichever ``In-Reply-To`` a server dropped ([MS-OXOMSG] 2.2.1.3,
PidTagConversationIndex).  The pipeline uses it as the last way to find a
ticket, and only for a sender already on that ticket: the header is as
easy to copy as any other (README, "Security model").
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

#: Bytes of the conversation's header block ([MS-OXOMSG] 2.2.1.3).
BASE_BYTES: Final = 22
_CHILD_BYTES: Final = 5
_BASE64: Final = re.compile(r"[A-Za-z0-9+/]+={0,2}")


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
