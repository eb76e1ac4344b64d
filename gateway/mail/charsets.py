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
from collections.abc import Callable, Iterable
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
    except (LookupError, ValueError):  # ValueError: a NUL in the label
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
        except (UnicodeError, LookupError):  # UnicodeError, not only UnicodeDecodeError: punycode's and idna's
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


#: Codecs whose strict decoding of 8-bit bytes is evidence: random bytes
#: rarely form valid GB18030, Shift_JIS or Big5 sequences, while any byte
#: string is "valid" windows-1252.  A mail's own multi-byte charsets are
#: therefore tried before its single-byte ones.
_MULTI_BYTE: Final = frozenset(
    {"gb18030", "gbk", "gb2312", "hz", "big5", "big5hkscs", "cp950", "shift_jis", "cp932", "euc_jp",
     "euc_jis_2004", "shift_jis_2004", "iso2022_jp", "iso2022_jp_ext", "cp949", "euc_kr", "johab", "utf-7"}
)
#: When the detector ranks several codecs as equally clean, the first of
#: these wins: on a dozen bytes of GB2312 it cannot tell Chinese from
#: Korean (measured: "转发：整体方案" ranks cp949 and gb18030 alike), and
#: undeclared GB2312 is far the more common in mail.
_DETECTOR_PREFERENCE: Final = ("gb18030", "cp932", "shift_jis", "euc_jp", "big5", "cp1251", "koi8_r", "cp949")
#: Runs of this many non-ASCII characters or more are no Latin word.
_LATIN_RUN: Final = re.compile(r"[^\x00-\x7f]{3,}")
_LATIN_PAIR: Final = re.compile(r"(?<![A-Za-z])[^\x00-\x7f]{2}(?![A-Za-z])")


def decode_undeclared(data: bytes, hints: Iterable[str] = ()) -> str:
    """Decode 8-bit bytes that declare no charset (a raw 8-bit header, an
    attachment name, a text part without ``charset=``); never raises.

    Order: UTF-8; then ``hints``, the charsets the mail declares elsewhere
    (multi-byte ones first); then windows-1252 when it reads as Latin words
    (the common Brazilian case: ``Solicita\xe7\xe3o``); then
    ``charset-normalizer``; then windows-1252 with U+FFFD.  A charset is
    only taken when it decodes every byte, so there is never a replacement
    character when one does.

    Why the Latin check comes before the detector: on a subject's few bytes
    the detector guesses (measured: ``N\xe3o consigo`` as big5), while
    windows-1252 text has its non-ASCII letters one or two at a time inside
    ASCII words, and CJK or Cyrillic bytes read as windows-1252 come in
    longer runs (``\xd7\xaa\xb7\xa2`` is ``×ª·¢``).

    >>> decode_undeclared("转发：整体方案".encode("gb18030"))
    '转发：整体方案'
    >>> decode_undeclared(b"Hofj\xe4geralle.jpg")
    'Hofjägeralle.jpg'
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.reason == "unexpected end of data" and error.start >= len(data) - 3 and error.start > 0:
            # UTF-8 whose last character was cut off (a client shortened a
            # long file name by bytes): the rest is UTF-8, the stub is dropped.
            return data[:error.start].decode("utf-8")
        mostly = _mostly_utf8(data)
        if mostly is not None:
            return mostly
    declared = [c for c in dict.fromkeys(codec_for(h) for h in hints) if c and c not in ("ascii", "utf-8")]
    for codec in sorted(declared, key=lambda c: c not in _MULTI_BYTE):
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    latin = _as_latin(data)
    if latin is not None:
        return latin
    detected = _detect(data)
    if detected is not None:
        return detected
    return data.decode(FALLBACK_CODEC, errors="replace")


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with one or two broken bytes (a name cut inside a character,
    then its closing quote), without them; None when the bytes are not
    mostly UTF-8.  Text in a single-byte charset practically never holds
    even three valid multi-byte UTF-8 sequences."""
    text = data.decode("utf-8", errors="replace")
    broken = text.count("\ufffd")
    if broken > 2 or sum(1 for char in text if ord(char) > 0x7F and char != "\ufffd") < 3:
        return None
    return data.decode("utf-8", errors="ignore")


def _as_latin(data: bytes) -> str | None:
    """``data`` as windows-1252 if it reads like Latin-alphabet words, else None."""
    try:
        text = data.decode(FALLBACK_CODEC)
    except UnicodeDecodeError:
        return None
    if _LATIN_RUN.search(text) or _LATIN_PAIR.search(text):
        return None
    return text


def _detect(data: bytes) -> str | None:
    """The text ``charset-normalizer`` finds cleanest, or None.  Imported
    here: the detector is needed only for undeclared 8-bit bytes, which
    most mail never has, and importing it costs every process start."""
    from charset_normalizer import from_bytes

    matches = [m for m in from_bytes(data) if not m.encoding.startswith(("utf_16", "utf_32"))]
    if not matches:
        return None
    cleanest = min(m.chaos for m in matches)
    tied = [m for m in matches if m.chaos <= cleanest]
    ranked = sorted(tied, key=lambda m: _DETECTOR_PREFERENCE.index(m.encoding)
                    if m.encoding in _DETECTOR_PREFERENCE else len(_DETECTOR_PREFERENCE))
    for match in ranked:
        try:
            return data.decode(match.encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def declared_charsets(values: Iterable[str]) -> list[str]:
    """The charsets named in RFC 2047 encoded words of ``values`` (header
    values), in order, without repeats: hints for :func:`decode_undeclared`."""
    found: dict[str, None] = {}
    for value in values:
        if "=?" in value:
            found.update(dict.fromkeys(m.lower() for m in _ENCODED_CHARSET.findall(value)))
    return list(found)


_ENCODED_CHARSET: Final = re.compile(r"=\?([^?*\s]+)(?:\*[^?]*)?\?[BbQq]\?")
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


class Undeclared:
    """Decodes one mail's undeclared 8-bit bytes (:func:`decode_undeclared`)
    with the charsets the mail declares elsewhere as hints.  The hints are
    computed by ``hints`` the first time such bytes turn up and are not
    UTF-8 (UTF-8 is tried before any hint), so never for the mail that has
    none, nor for a client writing raw UTF-8 headers (SMTPUTF8, most of
    today's): walking the parts for their charsets cost 0.17 ms a mail."""

    def __init__(self, hints: Callable[[], list[str]]) -> None:
        self._source = hints
        self._hints: list[str] | None = None

    def __call__(self, data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        if self._hints is None:
            self._hints = self._source()
        return decode_undeclared(data, self._hints)
