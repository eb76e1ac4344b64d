"""A mail with 8-bit content, made fit for a relay without 8BITMIME.

RFC 6152 section 3: a client must not send 8-bit data to a server that
did not offer 8BITMIME; it may convert the mail to 7 bits.  Our own text
parts go as ``8bit`` (``outbound.compose``) and a forwarded original keeps
its bytes, while nearly every relay (Postfix, Exchange, sendmail, the big
providers) offers 8BITMIME: the conversion is done here, when a mail is
sent to one that does not, never at composing time.

Each 8-bit leaf part gets its very bytes re-encoded, whatever charset it
names or fails to name (the ``email`` package's own conversion needs a
charset, and raises on a part without one): a text in quoted-printable,
which keeps it readable and grows a Portuguese text by 10-20% where
base64 adds over a third (a mail near the relay's size limit stays under it),
anything else in base64; a mail inside another is
converted inside and labelled ``7bit``; a header with 8-bit bytes is
read as ``mail.charsets`` reads one (UTF-8, else windows-1252) and
written in RFC 2047 encoded words where they may go: free text, and an
address field name by name with its domains in IDNA (the package's own
conversion turns a whole ``From`` into one ``unknown-8bit`` word,
address included); and 8-bit bytes before or after a multipart's parts,
which no client shows (RFC 2046 5.1.1), are dropped.  Nothing the reader
sees is lost; a mail that cannot be converted so (an 8-bit file name in
``Content-Type``, a Message-ID or local part not in ASCII) raises
``Unconvertible`` and goes as it came.
"""

from __future__ import annotations

from base64 import encodebytes
from binascii import b2a_qp
from email import policy
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.parser import BytesParser
from email.utils import formataddr, getaddresses
from io import BytesIO
from typing import Final

from gateway.mail.addresses import ascii_domain
from gateway.mail.charsets import decode_header_value

# compat32 keeps every header as it came (no refolding of what is
# already 7-bit) and never raises on a malformed one.
_READ: Final = policy.compat32.clone(linesep="\r\n")
_WRITE: Final = policy.compat32.clone(linesep="\r\n", cte_type="7bit")
_EIGHT_BIT: Final = frozenset({"8bit", "binary"})
#: Fields of free text, where encoded words may stand for any word (RFC 2047 5(1)).
_FREE_TEXT: Final = frozenset({"subject", "comments", "keywords", "thread-topic", "content-description"})
_ADDRESS_FIELDS: Final = frozenset({"from", "to", "cc", "bcc", "reply-to", "sender", "resent-from", "resent-to",
                                    "resent-cc", "resent-sender", "disposition-notification-to"})


def to_seven_bit(raw: bytes) -> bytes:
    """``raw`` with its 8-bit parts re-encoded; ``raw`` itself when it is
    ASCII already.  ``Unconvertible`` when 7 bits cannot say the same."""
    if raw.isascii():
        return raw
    message = BytesParser(policy=_READ).parsebytes(raw)
    for part in message.walk():
        _convert(part)
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=_WRITE).flatten(message)
    return out.getvalue()


def _convert(part: Message) -> None:
    _headers(part)
    for edge in ("preamble", "epilogue"):
        if not (getattr(part, edge) or "").isascii():
            setattr(part, edge, None)
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if part.is_multipart():  # a multipart, or a message/rfc822 whose mail is converted in its turn
        if part.get_content_maintype() == "message" and encoding in _EIGHT_BIT:
            part.replace_header("Content-Transfer-Encoding", "7bit")
        return
    payload = part.get_payload()
    if not isinstance(payload, str) or payload.isascii():
        return
    if part.get_content_maintype() in ("multipart", "message"):  # malformed: its parts could not be read
        raise Unconvertible(f"a {part.get_content_type()} part whose parts could not be read has 8-bit bytes")
    data = part.get_payload(decode=True)  # 8-bit text comes back as its bytes (quoted-printable or base64 were ASCII)
    del part["Content-Transfer-Encoding"]
    if part.get_content_maintype() == "text":  # its line breaks kept as breaks, every other byte as it was
        part["Content-Transfer-Encoding"] = "quoted-printable"
        part.set_payload(_quoted_printable(data))
    else:
        part["Content-Transfer-Encoding"] = "base64"
        part.set_payload(encodebytes(data).decode("ascii"))


def _quoted_printable(data: bytes) -> str:
    """``data`` in quoted-printable lines, CRLF between them (RFC 2045 6.7).
    The lines are split on CRLF only: a CR or LF alone is a byte of the
    text, written ``=0D``/``=0A`` (binascii's binary mode), as are a NUL
    and a space at a line's end, so the text decodes to its very bytes."""
    return "\r\n".join(b2a_qp(line, quotetabs=False, istext=False, header=False).decode("ascii")
                       .replace("=\n", "=\r\n") for line in data.split(b"\r\n"))


def _headers(part: Message) -> None:
    """Every header field with 8-bit bytes rewritten, the order of all kept."""
    fields = list(part.raw_items())
    if all(value.isascii() for _, value in fields):
        return
    for name in {name for name, _ in fields}:
        del part[name]
    for name, value in fields:
        part[name] = value if value.isascii() else _encoded(name, value)


def _encoded(name: str, value: str) -> str | Header:
    """An 8-bit field in 7 bits, where RFC 2047 allows it: free text in
    encoded words; an address field name by name, its domains in IDNA.
    Anywhere else (a parameter of ``Content-Type``, a Message-ID, a local
    part not in ASCII) an encoded word would change what the field means:
    ``Unconvertible``."""
    text = decode_header_value(value)
    lowered = name.lower()
    if lowered in _ADDRESS_FIELDS:
        pairs = getaddresses([text])
        if not pairs or not all(address for _, address in pairs):
            raise Unconvertible(f"the {name} field names no address that can be read")
        written = []
        for display_name, address in pairs:
            address = ascii_domain(address)
            if not address.isascii():
                raise Unconvertible(f"the {name} field holds an address that is not ASCII even in IDNA")
            written.append(formataddr((display_name, address), charset="utf-8"))
        return ", ".join(written)
    if lowered in _FREE_TEXT or lowered.startswith("x-"):
        return Header(text, "utf-8", header_name=name)
    raise Unconvertible(f"the {name} field has 8-bit bytes where no encoded word may go")


class Unconvertible(ValueError):
    """A mail this module cannot put in 7 bits without changing it."""
