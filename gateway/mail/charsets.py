"""Decode the bytes of a header or body part by the charset it declares.

Charset trouble is the most common way helpdesks lose or garble mail
(PITFALLS F and item 12): an unknown label such as ``ks_c_5601-1987`` makes
a naive ``bytes.decode`` raise, and one raise aborts the batch.  Here a
label is first mapped through an alias table (GLPI's list plus the labels
seen in our corpus), then decoding never raises: a declared charset that
fails falls back to UTF-8, then to windows-1252 with replacement
characters, which is what a Brazilian mail mislabelled as ``us-ascii``
almost always is.
"""

from __future__ import annotations

import codecs
import email.errors
import email.header
import re
from functools import lru_cache
from typing import Final

#: Labels Python does not know, or knows under a narrower meaning.
ALIASES: Final[dict[str, str]] = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ks_c_5601-1989": "cp949",
    "euc-kr": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6",
    # WHATWG: browsers read latin-1 and ascii labels as windows-1252.
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "x-user-defined": "cp1252",
    "unknown-8bit": "utf-8",
    "x-unknown": "utf-8",
    "unknown": "utf-8",
    "default": "utf-8",
    "uft-8": "utf-8",
    "utf8": "utf-8",
    "x-utf8": "utf-8",
    "utf-7": "utf-7",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "windows-874": "cp874",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "ansi_x3.4-1968": "ascii",
    "646": "ascii",
}

FALLBACK_CODEC: Final = "cp1252"


@lru_cache(maxsize=256)
def codec_for(label: str | None) -> str | None:
    """Return a Python codec name for a MIME charset label, or None if unknown.

    >>> codec_for("KS_C_5601-1987")
    'cp949'
    """
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = ALIASES.get(name, name)
    if name.startswith("windows-125") and name[-1].isdigit():
        name = "cp125" + name[-1]
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode(data: bytes, charset: str | None) -> str:
    """Decode ``data`` read as ``charset``; never raises.

    Order: the declared charset strictly, then UTF-8 strictly, then
    windows-1252 with U+FFFD for the few bytes it does not define.
    """
    codec = codec_for(charset)
    if codec is not None:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
    if codec != "utf-8":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return data.decode(codec if codec in _SINGLE_BYTE else FALLBACK_CODEC, errors="replace")


# Single-byte codecs keep their own reading of the bytes on the lenient pass;
# a multi-byte codec that failed is more likely a wrong label than a typo.
_SINGLE_BYTE: Final = frozenset(
    {"cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257",
     "cp1258", "iso8859-2", "iso8859-15", "koi8-r", "koi8-u", "cp874", "iso8859-8"}
)


_FOLD: Final = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAK: Final = re.compile(r"[\r\n]")


def decode_header_value(raw: str) -> str:
    """Unfold and decode one header value to text; never raises.

    Handles RFC 2047 encoded words in any charset of the alias table and
    raw 8-bit bytes (kept by the stdlib parser as surrogate escapes), which
    are read as UTF-8, else windows-1252.  Folded values come out as one
    line, so a tag on a continuation line is still seen
    (django-helpdesk#756):

    >>> decode_header_value("=?utf-8?q?RES=3A_=5BATD-2026-000123-0=5D?=\\n Solicita=?utf-8?q?=C3=A7=C3=A3o?=")
    'RES: [ATD-2026-000123-0] Solicitação'
    """
    value = _LINE_BREAK.sub("", _FOLD.sub("", raw))
    if _has_surrogates(value):
        value = decode(value.encode("ascii", "surrogateescape"), None)
    if "=?" not in value:
        return value.strip()
    try:
        chunks = email.header.decode_header(value)
    except (email.errors.HeaderParseError, ValueError, LookupError):
        return value.strip()
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        elif charset is None:
            # decode_header re-encodes the text between encoded words this way.
            out.append(chunk.decode("raw-unicode-escape", errors="replace"))
        else:
            out.append(decode(chunk, charset))
    return "".join(out).strip()


def _has_surrogates(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
