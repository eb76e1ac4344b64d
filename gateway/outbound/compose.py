"""Rendered parts into a real e-mail: headers that thread and never loop.

Every mail we send carries a Message-ID in the mailbox's domain (so a
reply finds its ticket), In-Reply-To/References to thread in the
citizen's client, ``Auto-Submitted: auto-replied`` and
``X-Auto-Response-Suppress: All`` on automatic answers (RFC 3834,
PITFALLS item 9), and header values cleaned of line breaks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from gateway.mail import headers
from gateway.mail.ids import bracket
from gateway.outbound.render import Rendered


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


def message(parts: Rendered, envelope: Envelope, attachments: Sequence[FileToSend] = ()) -> EmailMessage:
    mail = EmailMessage(policy=policy.SMTP)
    mail["From"] = headers.address(envelope.from_name, envelope.from_address)
    mail["To"] = ", ".join(envelope.to)
    mail["Subject"] = headers.clean(parts.subject, limit=250)
    mail["Date"] = format_datetime(envelope.date)
    mail["Message-ID"] = bracket(envelope.message_id)
    if envelope.reply_to:
        mail["Reply-To"] = envelope.reply_to
    if envelope.in_reply_to:
        mail["In-Reply-To"] = bracket(envelope.in_reply_to)
    references = [bracket(r) for r in envelope.references[-20:]]
    if references:
        mail["References"] = " ".join(references)
    if envelope.auto_submitted:
        mail["Auto-Submitted"] = envelope.auto_submitted
        mail["X-Auto-Response-Suppress"] = "All"
    mail["Content-Language"] = envelope.language.replace("_", "-").lower()
    for name, value in envelope.extra_headers.items():
        mail[name] = headers.clean(value)
    mail.set_content(parts.text, charset="utf-8", cte="quoted-printable")
    mail.add_alternative(parts.html, subtype="html", charset="utf-8", cte="quoted-printable")
    for item in attachments:
        maintype, _, subtype = item.content_type.partition("/")
        mail.add_attachment(item.data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                            filename=headers.clean(item.filename, limit=200) or "anexo")
    return mail
