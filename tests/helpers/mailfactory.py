"""Build test mails by keyword, with fictitious people and example domains."""

from __future__ import annotations

import itertools
import re
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timezone

_counter = itertools.count(1)


def make_mail(*, subject: str | None = "Erro ao incluir profissional no CNES",
              body: str = "Bom dia,\n\nNão consigo incluir a enfermeira na unidade.\n\nAtenciosamente,\nAna",
              sender: str = "Ana Souza <ana.souza@example.org>", to: str = "atendimento@example.gov.br",
              cc: str | None = None, message_id: str | None = "auto", in_reply_to: str | None = None,
              references: str | None = None, headers: dict[str, str] | None = None,
              attachments: list[tuple[str, str, bytes]] = (), trace: dict[str, str] | None = None) -> bytes:
    """A plain mail as a mail client sends it (CRLF lines, as SMTP wants);
    ``message_id=None`` leaves the Message-ID out.  ``headers`` are the
    client's own (below From); ``trace`` are what the MTA in front adds on
    top of the mail, e.g. its Authentication-Results."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    if cc:
        mail["Cc"] = cc
    if subject is not None:
        mail["Subject"] = subject
    mail["Date"] = format_datetime(datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc))
    if message_id == "auto":
        message_id = f"<test.{next(_counter)}.{id(mail)}@client.example.org>"
    if message_id:
        mail["Message-ID"] = message_id
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    if references:
        mail["References"] = references
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(body)
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    raw = mail.as_bytes(policy=policy.SMTP)
    on_top = b"".join(f"{name}: {value}\r\n".encode("utf-8") for name, value in (trace or {}).items())
    return on_top + raw


def crlf(raw: bytes) -> bytes:
    """SMTP wants CRLF lines; smtplib converts str but sends bytes as they are
    (corpus files on disk often have LF or bare CR)."""
    return re.sub(rb"\r\n|\r|\n", b"\r\n", raw)
