"""Whether a stored mail's bytes name an address, once what encoded them
is undone (``gateway forget`` looks for the person in every stored mail).

A plain search of the bytes misses an address that quoted-printable broke
across a line or wrote as ``=XX``, that RFC 2047 encoded in a subject
(``outbound.compose`` writes a non-ASCII subject so, an address across two
words), or that sits in a mail attached in base64 (a postmaster forward of
a mail with a line over 998 bytes).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

from gateway.mail.charsets import decode

#: RFC 2047 encoded words side by side (an address may span two), and one of them.
_ENCODED_WORDS: Final = re.compile(rb"=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=(?:\s*=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=)*")
_ENCODED_WORD: Final = re.compile(rb"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")
#: A block of base64 lines: a long first line, then lines of any length.
_BASE64_LINES: Final = re.compile(rb"(?m)^[A-Za-z0-9+/]{16,}={0,2}\r?\n(?:[A-Za-z0-9+/]+={0,2}\r?\n)*")


def names(data: bytes, address: str, depth: int = 0) -> bool:
    """The address (lower case) in ``data``: as it is, with quoted-printable
    undone (soft line breaks, ``=XX``), in RFC 2047 encoded words, or in a
    block of base64 lines decoded (two levels deep: a mail attached in a
    mail)."""
    if _holds(data, address) or _holds(binascii.a2b_qp(data), address):
        return True
    for words in _ENCODED_WORDS.finditer(data):
        if _holds(_decoded_words(words.group()), address):
            return True
    if depth >= 2:
        return False
    for block in _BASE64_LINES.finditer(data):
        try:
            decoded = base64.b64decode(block.group())  # not validated: the line ends are skipped
        except (binascii.Error, ValueError):
            continue
        if names(decoded, address, depth + 1):
            return True
    return False


def _holds(data: bytes, address: str) -> bool:
    if address.isascii():
        return address.encode("ascii") in data.lower()
    return address in data.decode("utf-8", "replace").lower()  # an SMTPUTF8 address


def _decoded_words(words: bytes) -> bytes:
    """A run of RFC 2047 words as UTF-8, word by word (``email.header``'s
    decoder grows with the square of a run's length); a word that cannot be
    read is left out, never raised."""
    out: list[str] = []
    for word in _ENCODED_WORD.finditer(words):
        charset, kind, text = word.groups()
        try:
            data = (base64.b64decode(text + b"=" * (-len(text) % 4)) if kind in b"Bb"
                    else binascii.a2b_qp(text, header=True))
        except (binascii.Error, ValueError):
            continue
        out.append(decode(data, charset.decode("ascii", "replace").partition("*")[0]))  # never raises
    return "".join(out).encode("utf-8")
