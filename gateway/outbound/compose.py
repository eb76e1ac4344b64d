"""Rendered parts into a real e-mail: headers that thread and never loop.

Every mail we send carries a Message-ID in the mailbox's domain (so a
reply finds its ticket), In-Reply-To/References to thread in the
citizen's client, ``Auto-Submitted: auto-replied`` and
``X-Auto-Response-Suppress: All`` on automatic answers (RFC 3834,
PITFALLS item 9), and header values cleaned of line breaks.

Built with the ``email`` package's compat32 classes and explicit RFC 2047
/ 2231 encoding: the modern ``EmailMessage`` header registry cost several
milliseconds per mail, and every ticket sends two (bench/results/ingest.md).
"""

from __future__ import annotations

import secrets
from base64 import b64encode
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import encoders, policy
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime
from quopri import encodestring
from typing import Any, Final

from gateway.mail import headers
from gateway.mail.ids import bracket
from gateway.outbound.render import Rendered

class _Wire(policy.Compat32):
    """compat32 folding builds a Header object for every header; a short
    ASCII value needs none."""

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if isinstance(value, str) and value.isascii():
            lines = f"{name}: {value}".split("\r\n")
            if all(len(line) <= 78 for line in lines) and all(line[:1] == " " for line in lines[1:]):
                return "\r\n".join(lines) + self.linesep
        return super()._fold(name, value, sanitize)


_WIRE: Final = _Wire(linesep="\r\n", max_line_length=78, mangle_from_=False)
_WORD_BYTES: Final = 45  # 45 bytes -> 60 base64 characters: each encoded word stays under 75


@dataclass(frozen=True)
class FileToSend:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Envelope:
    """Who the mail is from and to, and how it threads."""

    from_name: str
    from_address: str
    to: Sequence[str]
    message_id: str
    date: datetime
    reply_to: str | None = None
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    auto_submitted: str | None = "auto-replied"
    language: str = "pt_BR"
    extra_headers: dict[str, str] = field(default_factory=dict)


def message(parts: Rendered, envelope: Envelope, attachments: Sequence[FileToSend] = ()) -> bytes:
    """The mail's bytes, CRLF line ends, ready for the outbox."""
    body = MIMEMultipart("alternative", _boundary(), _subparts=[_text(parts.text, "plain"), _text(parts.html, "html")])
    if attachments:
        mail = MIMEMultipart("mixed", _boundary(), _subparts=[body, *(_attachment(item) for item in attachments)])
    else:
        mail = body
    mail["From"] = _encoded(headers.address(envelope.from_name, envelope.from_address))
    mail["To"] = ", ".join(envelope.to)
    mail["Subject"] = _encoded(headers.clean(parts.subject, limit=250))
    mail["Date"] = format_datetime(envelope.date)
    mail["Message-ID"] = bracket(envelope.message_id)
    if envelope.reply_to:
        mail["Reply-To"] = envelope.reply_to
    if envelope.in_reply_to:
        mail["In-Reply-To"] = bracket(envelope.in_reply_to)
    if envelope.references:
        mail["References"] = " ".join(bracket(r) for r in envelope.references[-20:])
    if envelope.auto_submitted:
        mail["Auto-Submitted"] = envelope.auto_submitted
        mail["X-Auto-Response-Suppress"] = "All"
    mail["Content-Language"] = envelope.language.replace("_", "-").lower()
    for name, value in envelope.extra_headers.items():
        mail[name] = _encoded(headers.clean(value))
    return mail.as_bytes(policy=_WIRE)


def _boundary() -> str:
    """A boundary no part can contain: every part is quoted-printable or
    base64, and neither ever writes "=_".  Choosing it here spares the
    generator's search of the whole text for a collision."""
    return f"=_{secrets.token_hex(12)}"


def _encoded(value: str) -> str:
    """ASCII stays as it is; anything else becomes RFC 2047 B-encoded words,
    split on character boundaries, one per folded line."""
    if value.isascii():
        return value
    # Keep the readable ASCII head ("[ATD-2026-000001-3] ") as plain text.
    cut = next(i for i, c in enumerate(value) if not c.isascii())
    cut = value.rfind(" ", 0, cut) + 1
    head, value = value[:cut], value[cut:]
    words, chunk = [], b""
    for char in value:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    encoded = "\r\n ".join(f"=?utf-8?b?{b64encode(w).decode('ascii')}?=" for w in words)
    return f"{head.rstrip()}\r\n {encoded}" if head.strip() else encoded


def _text(text: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(encodestring(text.replace("\r\n", "\n").encode("utf-8")).decode("ascii"))
    return part


def _attachment(item: FileToSend) -> MIMEBase:
    maintype, _, subtype = item.content_type.partition("/")
    part = MIMEBase(maintype or "application", subtype or "octet-stream")
    part.set_payload(item.data)
    encoders.encode_base64(part)
    filename = headers.clean(item.filename, limit=200) or "anexo"
    part.add_header("Content-Disposition", "attachment",
                    filename=filename if filename.isascii() else ("utf-8", "", filename))
    return part
