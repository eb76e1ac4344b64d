"""Attachments: what they really are, and how a message splits into body and files.

The declared Content-Type and the file name are the sender's claim; a
``.png`` that is really a PDF (or an executable) is common enough that
policy decisions must use the sniffed type.  ``filetype`` knows the magic
numbers of binary formats; plain text has none, so text-like bytes are
reported as ``text/plain`` and anything else as unknown (None).

``split_parts`` is the one MIME walk of the gateway: it decides which
parts are the body and which are files, and keeps oversized parts out
(PITFALLS I: one huge attachment must not exhaust memory or block intake).
Its walk, :func:`walk`, reads at most ``max_parts`` parts and
``max_depth`` levels of nesting: a mail of 10,000 tiny parts once took
seconds to process and drew a 1.5 MB answer; now the parts beyond the caps
stay in the raw mail only, and a defect says how many there were.  The
parser itself stops soon after (:mod:`gateway.mail.bounded`), so the
tree it builds is bounded too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.message import Message
from email.policy import Compat32
from io import BytesIO
from typing import Final

import filetype

from gateway.mail import tnef
from gateway.mail.bounded import Stopped
from gateway.mail.charsets import codec_for, decode, decode_header_value, decode_undeclared

#: Reads bytes that declare no charset (``gateway.mail.charsets.Undeclared``).
UndeclaredReader = Callable[[bytes], str]

_SNIFF_BYTES: Final = 8192
_TEXT_CONTROLS: Final = frozenset(b"\t\n\r\f\b\x1b")
# A control character no text holds (not one of _TEXT_CONTROLS), or DEL: searched in C, not byte by byte.
_NOT_TEXT: Final = re.compile(b"[" + b"".join(re.escape(bytes([c])) for c in range(0x20) if c not in _TEXT_CONTROLS)
                              + b"\x7f]")
_BODY_TYPES: Final = frozenset({"text/plain", "text/html"})


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
    if _NOT_TEXT.search(head):
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


def split_parts(message: Message, max_part_bytes: int, defects: list[str], *,
                max_parts: int = 500, max_depth: int = 20,
                undeclared: UndeclaredReader = decode_undeclared, stopped: Stopped | None = None) -> Parts:
    """Walk the MIME tree once (:func:`walk`): inline text/plain and
    text/html parts form the body (several, as Apple Mail splits text around
    inline images, are joined); named or non-text leaves are attachments;
    a ``message/*`` part is one leaf, whose own parts are not ours (a
    forwarded mail's body is not our body), and unnamed text/message leaves
    such as a DSN's ``message/delivery-status`` are only listed in
    ``part_types``.  A part over ``max_part_bytes`` is left out and named
    in ``defects`` instead of being decoded.

    Text without a declared charset, and 8-bit file names, are read by
    ``undeclared`` (UTF-8, the mail's other charsets, then detection); an
    Outlook ``winmail.dat`` is kept and the files inside it are added
    after it (:mod:`gateway.mail.tnef`).

    A part the parser ``stopped`` inside (a file, an attached mail, a
    text) is left out: half of it would be offered as the whole.
    """
    parts = Parts()
    for part, attached in walk(message, max_parts=max_parts, max_depth=max_depth, defects=defects,
                               stopped=stopped):
        if attached or _is_multipart(part):
            continue
        if stopped is not None and id(part) in stopped.open_parts:
            defects.append(f"{part.get_content_type()} part left out: reading stopped inside it "
                           "(a part limit); it is kept in the raw mail only")
            continue
        try:
            _add_leaf(part, parts, max_part_bytes, defects, undeclared)
        except Exception as error:  # noqa: BLE001 - one broken part must not lose the mail
            defects.append(f"unreadable {part.get_content_type()} part: "
                           f"{type(error).__name__}: {error}")
    return parts


def walk(message: Message, *, max_parts: int, max_depth: int, defects: list[str],
         stopped: Stopped | None = None) -> Iterator[tuple[Message, bool]]:
    """Yield the parts of ``message`` in document order, the message itself
    first, each with whether it lies inside an attached ``message/*`` part;
    at most ``max_parts`` of them, and none nested deeper than ``max_depth``
    multipart or attached-message levels.

    What is left unread stays in the raw mail; ``defects`` says so, e.g.
    ``"read 500 of 10,002 MIME parts (max_parts); the rest is kept in the
    raw mail only"``.  Counting the unread ones only follows the tree the
    parser already built: nothing is decoded.  Where the parser
    ``stopped``, the count is of the parts it built: "at least".
    """
    stack: list[tuple[Message, int, bool]] = [(message, 0, False)]
    read = too_deep = 0
    while stack:
        if read >= max_parts:
            total = read + _count([part for part, _, _ in stack]) + too_deep
            of = f"at least {total:,}" if stopped is not None else f"{total:,}"
            defects.append(f"read {read:,} of {of} MIME parts (max_parts); the rest is kept in the raw mail only")
            return
        part, depth, attached = stack.pop()
        read += 1
        yield part, attached
        children = _children(part)
        if not children:
            continue
        if depth >= max_depth:
            too_deep += _count(children)
            continue
        inside = attached or part.get_content_maintype() == "message"
        stack.extend((child, depth + 1, inside) for child in reversed(children))
    if too_deep:
        some = f"at least {too_deep:,}" if stopped is not None else f"{too_deep:,}"
        defects.append(f"MIME nesting deeper than {max_depth} levels (max_depth): {some} parts inside "
                       "are kept in the raw mail only")


def prune(message: Message, *, max_parts: int, max_depth: int, defects: list[str],
          stopped: Stopped | None = None) -> None:
    """Cut ``message``'s tree, in place, down to the parts :func:`walk`
    reads: another parser's walk over it (mail-parser, the fallback) is then
    bounded the same way."""
    kept = [part for part, _ in walk(message, max_parts=max_parts, max_depth=max_depth, defects=defects,
                                     stopped=stopped)]
    if stopped is not None:  # what split_parts leaves out, another parser does not offer either
        kept = [part for part in kept if _is_multipart(part) or id(part) not in stopped.open_parts]
    ids = {id(part) for part in kept}
    for part in kept:
        if part.is_multipart():
            part.set_payload([child for child in part.get_payload() if id(child) in ids])


def _is_multipart(part: Message) -> bool:
    return part.get_content_maintype() == "multipart" and part.is_multipart()


def _children(part: Message) -> list[Message]:
    """The sub-parts the parser found: a multipart's parts, an attached message.

    ``is_multipart`` first: ``get_payload()`` of a leaf with 8-bit bytes
    decodes the whole text just to be looked at (``_payload_bytes``
    decodes it once, when it is needed)."""
    if not part.is_multipart():
        return []
    return [child for child in part.get_payload() if isinstance(child, Message)]


def _count(parts: list[Message]) -> int:
    """How many parts ``parts`` hold, themselves included (iteratively: a deep tree is no recursion)."""
    count, stack = 0, list(parts)
    while stack:
        count += 1
        stack.extend(_children(stack.pop()))
    return count


def _add_leaf(part: Message, parts: Parts, max_part_bytes: int, defects: list[str],
              undeclared: UndeclaredReader) -> None:
    content_type = part.get_content_type()
    parts.part_types.append(content_type)
    filename = _filename(part, undeclared)
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
    if len(data) > max_part_bytes:  # an attached mail: no size until its bytes are written back
        defects.append(f"{content_type} part {filename!r} of {len(data)} bytes is over "
                       f"max_part_bytes={max_part_bytes}; left out")
        return
    if is_body:
        text = _text(data, part.get_content_charset(), undeclared)
        key = "text" if content_type == "text/plain" else "html"
        previous = getattr(parts, key)
        setattr(parts, key, text if previous is None else previous + "\n" + text)
        return
    parts.attachments.append(Attachment(filename, content_type, data, sniff(data)))
    if tnef.is_tnef(content_type, filename, data):
        for item in tnef.unpack(data, defects):
            parts.attachments.append(Attachment(item.filename, "application/octet-stream", item.data, sniff(item.data)))


def _text(data: bytes, charset: str | None, undeclared: UndeclaredReader) -> str:
    """A body part's text: by its charset; 8-bit bytes under no charset (or
    under ``us-ascii``, which 8-bit bytes contradict) by ``undeclared``."""
    if data.isascii() or codec_for(charset) not in (None, "ascii"):
        return decode(data, charset)
    return undeclared(data)


def _filename(part: Message, undeclared: UndeclaredReader) -> str:
    """The part's file name, decoded.  compat32 hands 8-bit bytes in a
    parameter back as U+FFFD (``Hofj\ufffd\ufffdgeralle.jpg``); then the
    raw header is decoded first and the name read from that."""
    if not any("name" in str(part.get(header, "")).lower() for header in ("content-disposition", "content-type")):
        return ""  # no filename or name parameter: spares parsing the parameters of every text part
    name = part.get_filename() or ""
    if "\ufffd" in name:
        readable = Message()
        for key, value in part.raw_items():
            if key.lower() in ("content-disposition", "content-type"):
                text = str(value)
                readable[key] = text if text.isascii() else undeclared(text.encode("utf-8", "surrogateescape"))
        name = readable.get_filename() or name
    return decode_header_value(name)


def _estimated_size(part: Message) -> int:
    # The payload as the parser kept it (8-bit bytes as surrogates, one
    # character each): get_payload() would decode a raw UTF-8 text whole.
    payload = part._payload  # noqa: SLF001 - compat32's stored payload; no public accessor leaves it undecoded
    if not isinstance(payload, str):
        return 0
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    return len(payload) * 3 // 4 if encoding == "base64" else len(payload)


class _AsReceived(Compat32):
    """Header fields written back as they came (their folds, their 8-bit
    bytes), not folded again.  An attached mail is kept as a file; folding
    each of its headers anew (``Message.as_bytes``) was 60% of parsing a
    forwarded mail of 3,000 parts (flanker's ``enclosed-endless.eml``) and
    made the copy less like the original, not more."""

    def fold_binary(self, name: str, value: object) -> bytes:
        if not isinstance(value, str):  # a Header object: set by code, not parsed
            return super().fold_binary(name, value)  # type: ignore[arg-type]
        if "\r" in value:  # an old Mac mail's lone CRs: one kind of line end in the copy
            value = _LINE_END.sub(self.linesep, value)
        try:
            return f"{name}: {value}{self.linesep}".encode("ascii", "surrogateescape")
        except UnicodeEncodeError:  # text, not received bytes (set by code): compat32 encodes it
            return super().fold_binary(name, value)


_AS_RECEIVED: Final = _AsReceived(linesep="\n")
_LINE_END: Final = re.compile(r"\r\n?|\n")


def _attached_bytes(message: Message) -> bytes:
    """An attached mail written back as received: what the standard
    library's ``BytesGenerator`` writes with ``_AS_RECEIVED``, byte for byte
    (tests/unit/mail/test_attached_bytes.py compares the two on every mail
    of the corpus), without its machinery for each part (a policy cloned,
    a generator and a buffer made, the content type read again and again):
    a third of the time on a forwarded mail of 3,000 parts.  A shape the
    short path does not take (no boundary to write, a signed multipart, a
    payload of the wrong kind) goes through the generator itself, which
    writes it, or raises, as it always did."""
    out: list[bytes] = []
    try:
        _write_received(message, out)
    except _Unusual:
        buffer = BytesIO()
        BytesGenerator(buffer, mangle_from_=False, policy=_AS_RECEIVED).flatten(message)
        return buffer.getvalue()
    return b"".join(out)


class _Unusual(Exception):
    """A part the short path of ``_attached_bytes`` leaves to the generator."""


def _write_received(message: Message, out: list[bytes]) -> None:
    """Headers as received, a blank line, the body (``Generator._write``)."""
    body: list[bytes] = []
    _write_body(message, body)
    fold = _AS_RECEIVED.fold_binary
    out.extend(fold(name, value) for name, value in message.raw_items())
    out.append(b"\n")
    out.extend(body)


def _write_body(message: Message, out: list[bytes]) -> None:
    """``Generator._dispatch`` for the handlers ``BytesGenerator`` has."""
    content_type = message.get_content_type()
    main = content_type.partition("/")[0]
    if main == "multipart":
        if content_type == "multipart/signed":  # its parts are written with another policy
            raise _Unusual
        _write_multipart(message, out)
    elif content_type == "message/delivery-status":
        _write_delivery_status(message, out)
    elif main == "message":
        payload = message._payload  # noqa: SLF001 - as the generator reads it
        if not isinstance(payload, list) or not payload:
            raise _Unusual  # a string the generator encodes as strict ASCII, or nothing
        _write_received(payload[0], out)
    else:
        _write_lines(message._payload, out)  # noqa: SLF001


def _write_multipart(message: Message, out: list[bytes]) -> None:
    parts = message._payload  # noqa: SLF001
    if isinstance(parts, str):  # a multipart whose parts were never found: written as it is
        out.append(parts.encode("ascii", "surrogateescape"))
        return
    boundary = message.get_boundary()
    if not isinstance(parts, list) or not boundary:  # the generator would make a boundary and set it
        raise _Unusual
    written = []
    for part in parts:
        one: list[bytes] = []
        _write_received(part, one)
        written.append(b"".join(one))
    if message.preamble is not None:
        _write_lines(message.preamble, out)
        out.append(b"\n")
    mark = f"--{boundary}".encode("ascii", "surrogateescape")
    out.append(mark + b"\n")
    out.append((b"\n" + mark + b"\n").join(written))
    out.append(b"\n" + mark + b"--\n")
    if message.epilogue is not None:
        _write_lines(message.epilogue, out)


def _write_delivery_status(message: Message, out: list[bytes]) -> None:
    blocks = message._payload  # noqa: SLF001
    if not isinstance(blocks, list):
        raise _Unusual
    written = []
    for block in blocks:
        one: list[bytes] = []
        _write_received(block, one)
        text = b"".join(one)
        written.append(text[:-1] if text.endswith(b"\n") else text)
    out.append(b"\n".join(written))


def _write_lines(text: object, out: list[bytes]) -> None:
    """A text payload with its line ends made ``\n`` (``Generator._write_lines``)."""
    if text is None:
        return
    if not isinstance(text, str):
        raise _Unusual
    out.append(_LINE_END.sub("\n", text).encode("ascii", "surrogateescape"))


def _payload_bytes(part: Message) -> bytes:
    """Decoded payload; for ``message/*`` parts, the embedded message's bytes."""
    if part.is_multipart():
        return b"\n".join(_attached_bytes(sub) for sub in part.get_payload() if isinstance(sub, Message))
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""
