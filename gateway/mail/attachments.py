"""Attachments: what they really are, and how a message splits into body and files.

The declared Content-Type and the file name are the sender's claim; a
``.png`` that is really a PDF (or an executable) is common enough that
policy decisions must use the sniffed type.  ``filetype`` knows the magic
numbers of binary formats; plain text has none, so text-like bytes are
reported as ``text/plain`` and anything else as unknown (None).

``split_parts`` is the one MIME walk of the gateway: it decides which
parts are the body and which are files, and keeps oversized parts out
(PITFALLS I: one huge attachment must not exhaust memory or block intake).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from typing import Final

import filetype

from gateway.mail.charsets import decode, decode_header_value

_SNIFF_BYTES: Final = 8192
_TEXT_CONTROLS: Final = frozenset(b"\t\n\r\f\b\x1b")
_BODY_TYPES: Final = frozenset({"text/plain", "text/html"})
_MAX_DEPTH: Final = 40


def sniff(data: bytes) -> str | None:
    """Return the MIME type the bytes show, ``text/plain`` for text, else None.

    >>> sniff(b"%PDF-1.7\\n...")
    'application/pdf'
    >>> sniff("Olá".encode())
    'text/plain'
    """
    if not data:
        return None
    head = data[:_SNIFF_BYTES]
    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    return "text/plain" if _looks_like_text(head) else None


def _looks_like_text(head: bytes) -> bool:
    """True when the bytes are UTF-8 or 8-bit text without control characters."""
    if any(byte < 0x20 and byte not in _TEXT_CONTROLS for byte in head) or b"\x7f" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the sniffing window is still text.
        if error.start < len(head) - 4:
            return _mostly_printable(head)
    return True


def _mostly_printable(head: bytes) -> bool:
    """Latin-1/windows-1252 text: few bytes in the C1 control range."""
    c1 = sum(1 for byte in head if 0x80 <= byte < 0xA0)
    return c1 * 20 < len(head)


@dataclass(frozen=True)
class Attachment:
    """One attached file: the sender's claims and what the bytes really are."""

    filename: str
    declared_type: str
    data: bytes = field(repr=False)
    sniffed_type: str | None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Parts:
    """A message split into the body the person wrote and everything else."""

    text: str | None = None
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    part_types: list[str] = field(default_factory=list)


def split_parts(message: Message, max_part_bytes: int, defects: list[str]) -> Parts:
    """Walk the MIME tree once: inline text/plain and text/html parts form the
    body (several, as Apple Mail splits text around inline images, are
    joined); named or non-text leaves are attachments; ``message/*`` parts
    are not descended into (a forwarded mail's body is not our body), and
    unnamed text/message leaves such as a DSN's ``message/delivery-status``
    are only listed in ``part_types``.  A part over ``max_part_bytes`` is
    left out and named in ``defects`` instead of being decoded.
    """
    parts = Parts()
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        if part.get_content_maintype() == "multipart" and isinstance(part.get_payload(), list):
            if depth >= _MAX_DEPTH:
                defects.append(f"MIME nesting deeper than {_MAX_DEPTH}; inner parts ignored")
                continue
            stack.extend((sub, depth + 1) for sub in reversed(part.get_payload()))
            continue
        try:
            _add_leaf(part, parts, max_part_bytes, defects)
        except Exception as error:  # noqa: BLE001 - one broken part must not lose the mail
            defects.append(f"unreadable {part.get_content_type()} part: "
                           f"{type(error).__name__}: {error}")
    return parts


def _add_leaf(part: Message, parts: Parts, max_part_bytes: int, defects: list[str]) -> None:
    content_type = part.get_content_type()
    parts.part_types.append(content_type)
    filename = decode_header_value(part.get_filename() or "")
    attached = part.get_content_disposition() == "attachment" or bool(filename)
    is_body = not attached and content_type in _BODY_TYPES
    if not attached and not is_body and content_type.partition("/")[0] in ("text", "message"):
        return
    size = _estimated_size(part)
    if size > max_part_bytes:
        defects.append(f"{content_type} part {filename!r} of ~{size} bytes is over "
                       f"max_part_bytes={max_part_bytes}; left out")
        return
    data = _payload_bytes(part)
    if is_body:
        text = decode(data, part.get_content_charset())
        key = "text" if content_type == "text/plain" else "html"
        previous = getattr(parts, key)
        setattr(parts, key, text if previous is None else previous + "\n" + text)
        return
    parts.attachments.append(Attachment(filename, content_type, data, sniff(data)))


def _estimated_size(part: Message) -> int:
    payload = part.get_payload()
    if not isinstance(payload, str):
        return 0
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    return len(payload) * 3 // 4 if encoding == "base64" else len(payload)


def _payload_bytes(part: Message) -> bytes:
    """Decoded payload; for ``message/*`` parts, the embedded message's bytes."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return b"\n".join(sub.as_bytes() for sub in payload if isinstance(sub, Message))
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""
