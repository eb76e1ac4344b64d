"""VERP: the return path that says which of our mails bounced.

Every mail we send leaves with ``MAIL FROM:<bounce+<token>@<mailbox
domain>>`` (the ``Return-Path`` the receiving side records).  A bounce goes
back to that address, so its envelope recipient names the outbox row it is
about even when the report quotes nothing of the original (many do not,
and a truncated one may have lost it).

The token is random (80 bits, base32, lower case): unguessable, so nobody
can forge a bounce for a mail of someone else's, and case-insensitive, as
some MTAs lower-case local parts.  It is stored on the outbox row; nothing
about the ticket is in it.  Nine characters of the time it was drawn come
before the random ones, so that new tokens go to the end of the outbox's
unique index, not each to a page of its own (``mail.ids`` says why); a
token of 16 characters, drawn before, is still read.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection
from typing import Final

from gateway.mail import randomness

#: The local part bounces come back to (with ``recipient_delimiter = +`` Postfix
#: delivers ``bounce+TOKEN@`` as ``bounce@``, so one map entry is enough).
LOCAL_PART: Final = "bounce"
_TOKEN: Final = re.compile(r"^(?:[a-z2-7]{9})?[a-z2-7]{16}$")
_BASE32: Final = bytes(b"abcdefghijklmnopqrstuvwxyz234567"[byte & 31] for byte in range(256))
# The time's digits: the same 32 symbols in the order they sort in, so that tokens sort as drawn.
_SORTED: Final = "234567abcdefghijklmnopqrstuvwxyz"
_PAIRS: Final = tuple(high + low for high in _SORTED for low in _SORTED)  # 10 bits as two digits


def new_token() -> str:
    """A fresh token: the time in 9 characters, then 16 characters of base32 (80 random bits).

    Each random byte gives its low five bits to one character (the byte
    table, _BASE32), which ``base64.b32encode``'s Python loop did at several
    times the cost, once for every mail queued."""
    ms = time.time_ns() // 1_000_000  # 45 bits, 9 digits: about 1,100 years from 1970
    return (_SORTED[ms >> 40 & 31] + _PAIRS[ms >> 30 & 1023] + _PAIRS[ms >> 20 & 1023] + _PAIRS[ms >> 10 & 1023]
            + _PAIRS[ms & 1023] + randomness.token_bytes(16).translate(_BASE32).decode("ascii"))


def return_path(token: str, domain: str) -> str:
    """``bounce+<token>@<domain>``, the envelope sender of one mail."""
    return f"{LOCAL_PART}+{token}@{domain}"


def token_of(address: str, domains: Collection[str]) -> str | None:
    """The token of a VERP address of ours, or None.

    ``domains``: our mailboxes' domains (lower case); an address of another
    domain, or with no well-formed token, is not ours.
    """
    local, at, domain = address.strip().strip("<>").lower().rpartition("@")
    if not at or domain not in domains:
        return None
    base, plus, token = local.partition("+")
    if base != LOCAL_PART or not plus or not _TOKEN.match(token):
        return None
    return token


def is_return_path(address: str, domains: Collection[str]) -> bool:
    """Whether ``address`` is ``bounce@`` or ``bounce+anything@`` one of our
    domains: the listener takes it (a report whose token is unknown is still
    read, and tied to its mail by the Message-ID it quotes)."""
    local, at, domain = address.strip().strip("<>").lower().rpartition("@")
    return bool(at) and domain in domains and local.partition("+")[0] == LOCAL_PART
