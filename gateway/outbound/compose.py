"""Rendered parts into a real e-mail: headers that thread and never loop.

Every mail we send carries a Message-ID in the mailbox's domain (so a
reply finds its ticket), In-Reply-To/References to thread in the
citizen's client (and Thread-Index/Thread-Topic for Outlook's), ``Auto-Submitted: auto-replied`` and
``X-Auto-Response-Suppress: All`` and ``X-Loop: <mailbox>`` on automatic
answers (RFC 3834, PITFALLS item 9), and header values cleaned of line
breaks.

Written out directly, not through the ``email`` package: every mail has
the same shape (multipart/alternative text and HTML, in multipart/mixed
when files go along), and the package's generic generator and header
folding cost more than the rest of queueing a notice (bench/results/
ingest.md).  The tests parse what this writes with the ``email`` package
and with real clients' rules (tests/unit/test_outbound_parts.py).

A notice is queued as a *draft* (:func:`draft`): its rendered parts and
envelope, everything decided when the ticket changed, and the MIME is
written by the sender (:func:`sendable`).  Writing the MIME of two notices
was a tenth of processing a new mail, in the one thread that opens every
ticket, while each sender has its own (bench/results/ingest.md).  The
draft keeps the texts as UTF-8 bytes, so a search of the stored mails for
an address (store.retention) finds it in a draft as in a mail.
"""

from __future__ import annotations

import json
import re
from base64 import b64encode, encodebytes
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timedelta
from email.utils import format_datetime, quote
from quopri import encodestring
from typing import Final
from urllib.parse import quote as quote_url

from gateway.mail import headers, randomness
from gateway.mail.ids import bracket
from gateway.outbound.render import Rendered

_MAX_LINE: Final = 78
_MIME_TYPE: Final = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_BREAKS: Final = re.compile(r"[\r\n]+")
_MAX_8BIT_LINE: Final = 998  # bytes before CRLF (RFC 5322 2.1.1, RFC 6152)
_WORD_BYTES: Final = 45  # 45 bytes -> 60 base64 characters: each encoded word stays under 75
# What a draft begins with: no mail does (a NUL is no header's first byte).
_DRAFT: Final = b"\0gateway draft 1\n"


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
    #: Outlook's conversation (``mail.threadindex.for_ticket``) and its topic.
    thread_index: str | None = None
    thread_topic: str | None = None


def message(parts: Rendered, envelope: Envelope, attachments: Sequence[FileToSend] = ()) -> bytes:
    """The mail's bytes, CRLF line ends, ready for the outbox."""
    alternative = _boundary(parts.text, parts.html)
    body = (f"--{alternative}\r\n{_text(parts.text, 'plain')}\r\n"
            f"--{alternative}\r\n{_text(parts.html, 'html')}\r\n"
            f"--{alternative}--\r\n")
    content_type = f'multipart/alternative; boundary="{alternative}"'
    if attachments:
        mixed = _boundary(parts.text, parts.html)
        files = "".join(f"--{mixed}\r\n{_attachment(item)}\r\n" for item in attachments)
        body = (f"--{mixed}\r\nContent-Type: {content_type}\r\n\r\n{body}\r\n"
                f"{files}--{mixed}--\r\n")
        content_type = f'multipart/mixed; boundary="{mixed}"'
    fields = [
        ("Content-Type", content_type),
        ("MIME-Version", "1.0"),
        ("From", _from(envelope.from_name, envelope.from_address)),
        ("To", _one_line(", ".join(envelope.to))),
        ("Subject", _encoded(headers.clean(parts.subject, limit=250))),
        ("Date", _date(envelope.date, envelope.date.utcoffset())),
        ("Message-ID", bracket(_one_line(envelope.message_id))),
    ]
    if envelope.reply_to:
        fields.append(("Reply-To", _one_line(envelope.reply_to)))
    if envelope.in_reply_to:
        fields.append(("In-Reply-To", bracket(_one_line(envelope.in_reply_to))))
    if envelope.references:
        fields.append(("References", " ".join(bracket(_one_line(r)) for r in envelope.references[-20:])))
    if envelope.thread_index:
        fields.append(("Thread-Topic", _encoded(headers.clean(envelope.thread_topic or "", limit=250))))
        fields.append(("Thread-Index", _one_line(envelope.thread_index)))
    if envelope.auto_submitted:
        fields.append(("Auto-Submitted", _one_line(envelope.auto_submitted)))
        fields.append(("X-Auto-Response-Suppress", "All"))
        # What RT, OTRS and list managers put on their automatic mail: a peer
        # helpdesk that keeps it in its answer is recognised (mail.automatic).
        fields.append(("X-Loop", _one_line(envelope.from_address)))
    fields.append(("Content-Language", envelope.language.replace("_", "-").lower()))
    fields.extend((name, _encoded(headers.clean(value))) for name, value in envelope.extra_headers.items())
    head = "".join(_field(name, value) for name, value in fields)
    # ASCII but for an internationalised address or Message-ID copied from
    # a citizen's mail (RFC 6532), which only UTF-8 can carry.
    return f"{head}\r\n{body}".encode("utf-8", "surrogateescape")  # a forwarded original keeps its bytes


def draft(parts: Rendered, envelope: Envelope) -> bytes:
    """What :func:`message` would write, kept as data until it is sent:
    a line of JSON (the envelope, the subject, the texts' lengths), then
    the text and the HTML as UTF-8.  JSON for the texts themselves cost
    as much as the MIME it stands for.  The head is UTF-8 as written, the
    bytes of an address copied from a citizen's mail (RFC 6532, kept in
    surrogates) included, so that ``gateway forget`` reads every address
    as it would in a mail (``mail.naming``)."""
    text, html = parts.text.encode("utf-8"), parts.html.encode("utf-8")
    head = json.dumps({
        "subject": parts.subject, "text": len(text), "html": len(html),
        "from_name": envelope.from_name, "from_address": envelope.from_address, "to": list(envelope.to),
        "message_id": envelope.message_id, "date": envelope.date.isoformat(), "reply_to": envelope.reply_to,
        "in_reply_to": envelope.in_reply_to, "references": list(envelope.references),
        "auto_submitted": envelope.auto_submitted, "language": envelope.language,
        "extra_headers": envelope.extra_headers, "thread_index": envelope.thread_index,
        "thread_topic": envelope.thread_topic}, separators=(",", ":"), ensure_ascii=False)
    return b"".join((_DRAFT, head.encode("utf-8", "surrogateescape"), b"\n", text, html))


def sendable(stored: bytes | memoryview) -> bytes:
    """The mail to send for what the outbox holds: a draft written as a
    mail now (a new boundary each time; nothing else changes), a mail as
    it is.  A draft that cannot be read raises ValueError naming what is
    wrong: the sender fails that row alone, with the reason."""
    data = bytes(stored)
    if not data.startswith(_DRAFT):
        return data
    end = data.find(b"\n", len(_DRAFT))
    try:
        if end < 0:
            raise ValueError("no end to its head")
        head = json.loads(data[len(_DRAFT):end].decode("utf-8", "surrogateescape"))
        texts = data[end + 1:]
        cut = head["text"]
        if cut + head["html"] != len(texts):
            raise ValueError(f"the texts are {len(texts)} bytes, not the {cut} + {head['html']} its head says")
        parts = Rendered(head["subject"], texts[:cut].decode("utf-8"), texts[cut:].decode("utf-8"))
        envelope = Envelope(
            from_name=head["from_name"], from_address=head["from_address"], to=head["to"],
            message_id=head["message_id"], date=datetime.fromisoformat(head["date"]), reply_to=head["reply_to"],
            in_reply_to=head["in_reply_to"], references=head["references"], auto_submitted=head["auto_submitted"],
            language=head["language"], extra_headers=head["extra_headers"], thread_index=head["thread_index"],
            thread_topic=head["thread_topic"])
    except (KeyError, TypeError, ValueError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"a queued draft that cannot be read ({type(error).__name__}: {error}); it was "
                         "stored damaged, and the mail is not sent") from error
    return message(parts, envelope)


def _field(name: str, value: str) -> str:
    """One header field, folded at spaces to lines of at most 78
    characters where it can be (RFC 5322 2.1.1); ``value`` may already
    hold folds (encoded words)."""
    if len(name) + len(value) < _MAX_LINE - 1 and "\r\n" not in value:  # most fields: nothing to fold
        return f"{name}: {value}\r\n"
    out = []
    for index, segment in enumerate(f"{name}: {value}".split("\r\n")):
        words = segment.split(" ")
        if index:  # a fold already in the value: keep its leading space
            words.pop(0)
            line = " " + (words.pop(0) if words else "")
        else:
            line = words.pop(0)
        for word in words:
            if len(line) + 1 + len(word) > _MAX_LINE and line.strip():
                out.append(line)
                line = " " + word
            else:
                line += " " + word
        out.append(line)
    return "\r\n".join(out) + "\r\n"


@lru_cache(maxsize=256)
def _from(name: str, address: str) -> str:
    """The From field's value: a mailbox's, the same for all its mails."""
    return _encoded(headers.address(name, address))


@lru_cache(maxsize=16)
def _date(value: datetime, offset: timedelta | None) -> str:
    """The Date field's value: one instant for all the mails of a change.
    ``offset`` is in the key because equal instants in two zones compare
    equal but are written with their own offsets."""
    return format_datetime(value)


def _one_line(value: str) -> str:
    return _BREAKS.sub(" ", value)


def _boundary(*texts: str) -> str:
    """A boundary no part contains.  Quoted-printable and base64 never
    write "=_"; a text part sent as it is (``_text``) could, so the two
    texts are searched (96 random bits: in practice the first one is
    taken).  Choosing it here spares the generator's search of the whole
    mail for a collision."""
    while True:  # each try fails with probability ~2^-96: bounded in practice
        boundary = f"=_{randomness.token_hex(12)}"
        if not any(boundary in text for text in texts):
            return boundary


def _encoded(value: str) -> str:
    """ASCII stays as it is; anything else becomes RFC 2047 B-encoded words,
    split on character boundaries, one per folded line."""
    if value.isascii():
        return value
    # Keep the readable ASCII head ("[ATD-2026-000001-3] ") as plain text.
    cut = next(i for i, c in enumerate(value) if not c.isascii())
    cut = value.rfind(" ", 0, cut) + 1
    head, value = value[:cut], value[cut:]
    data, words = value.encode("utf-8"), []
    while len(data) > _WORD_BYTES:
        end = _WORD_BYTES
        while data[end] & 0xC0 == 0x80:  # a character's continuation byte: the character goes whole to the next word
            end -= 1
        words.append(data[:end])
        data = data[end:]
    words.append(data)
    encoded = "\r\n ".join(f"=?utf-8?b?{b64encode(w).decode('ascii')}?=" for w in words)
    return f"{head.rstrip()}\r\n {encoded}" if head.strip() else encoded


def _text(text: str, subtype: str) -> str:
    """A text part, as it is where it can be: UTF-8 lines of at most 998
    bytes and no NUL go as ``8bit`` (``7bit`` when
    ASCII), as Django and Thunderbird send them; quoted-printable only
    for what cannot (a long paragraph in the citizen's HTML).  Encoding
    every part had cost as much as building the rest of the mail, and a
    relay without 8BITMIME gets the mail downgraded when it is sent
    (``mail.seven_bit``, RFC 6152)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # a CR alone is a line break no mail may carry bare
    data = text.encode("utf-8")
    if "\0" in text or max(map(len, data.split(b"\n"))) > _MAX_8BIT_LINE:
        encoding, text = "quoted-printable", encodestring(data).decode("ascii")
    else:
        encoding = "7bit" if data.isascii() else "8bit"
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {encoding}\r\n'
            f"\r\n{text.replace(chr(10), chr(13) + chr(10))}")


def _attachment(item: FileToSend) -> str:
    content_type = item.content_type.lower()
    if not _MIME_TYPE.fullmatch(content_type):
        content_type = "application/octet-stream"
    if content_type == "message/rfc822":  # RFC 2046 5.2.1: 7bit or 8bit only, never base64
        if _fits_8bit(item.data):
            return _message_part(item)
        content_type = "application/octet-stream"
    filename = headers.clean(item.filename, limit=200) or "anexo"
    if filename.isascii():
        disposition = f'attachment; filename="{quote(filename)}"'
    else:  # RFC 2231, in continuations: one %-encoded value could pass the 998-character line limit
        disposition = "attachment; " + _continued("filename", filename)
    data = encodebytes(item.data).decode("ascii").replace("\n", "\r\n")
    return (f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n"
            f"{_field('Content-Disposition', disposition)}\r\n{data}")


def _fits_8bit(data: bytes) -> bool:
    """Whether a mail can go inside another as it is: no NUL, lines of at most 998 bytes."""
    return b"\0" not in data and all(len(line) <= 998 for line in re.split(rb"\r\n|\r|\n", data))


def _message_part(item: FileToSend) -> str:
    """A whole mail attached as itself (a forwarded original), CRLF line ends."""
    data = re.sub(rb"\r\n|\r|\n", b"\r\n", item.data).decode("utf-8", "surrogateescape")
    filename = headers.clean(item.filename, limit=200) or "mensagem.eml"
    return (f"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n"
            f"{_field('Content-Disposition', f'attachment; filename={chr(34)}{quote(filename)}{chr(34)}')}\r\n"
            f"{data}")


def _continued(name: str, value: str) -> str:
    """``name*0*=utf-8''...; name*1*=...`` (RFC 2231 section 3 and 4): pieces
    of at most 56 characters, cut between characters, so ``_field`` can
    fold them."""
    pieces, piece = [], ""
    for char in value:
        encoded = quote_url(char, safe="", encoding="utf-8")
        if piece and len(piece) + len(encoded) > 56:
            pieces.append(piece)
            piece = ""
        piece += encoded
    pieces.append(piece)
    pieces[0] = "utf-8''" + pieces[0]
    return "; ".join(f"{name}*{index}*={piece}" for index, piece in enumerate(pieces))
