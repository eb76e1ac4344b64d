"""``ParsedMail``: the facts later steps need, read once from the raw bytes.

Why the standard library first and mail-parser second: ``email`` with
``policy.default`` is several times slower than ``compat32``, because its
header registry parses every header it touches, and
``mailparser.parse_from_bytes`` is slower than this whole parse() (the
figures are in ``bench/results/notes.md``).  The ingest benchmark wants
thousands of mails per second, so the primary path is
``compat32`` with our own RFC 2047 decoding and charset table
(:mod:`gateway.mail.charsets`); mail-parser (which wraps the same stdlib
parser with its own tolerant decoding) is the fallback when our walk
raises.  Only when both fail, or the input has no header at all, do we
raise :class:`ParseError`, and the pipeline quarantines the mail.

Headers are kept raw and decoded on demand (``header()``), so the dozens
of ``Received`` lines a mail carries cost nothing unless someone asks.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Callable, Final, Iterable

from gateway.errors import ParseError
from gateway.mail import bounded
from gateway.mail.addresses import normalise
from gateway.mail.attachments import Attachment, Parts, prune, sniff, split_parts, walk
from gateway.mail.bounded import MAX_DEPTH, MAX_PARTS, Stopped
from gateway.mail.charsets import Undeclared, decode, decode_header_value, declared_charsets
from gateway.mail.mailboxes import Mailbox, first_mailbox
from gateway.mail.text import html_to_text
from gateway.mail.threadindex import conversation_of

__all__ = ["Attachment", "ParseError", "ParsedMail", "parse"]

_FIRST_HEADER: Final = re.compile(rb"[!-9;-~]+[ \t]*:")
_HEADER_END: Final = re.compile(rb"\r?\n\r?\n|\r\r")
_LF_HEADER_END: Final = re.compile(rb"\r?\n\r?\n")
_LONE_CR: Final = re.compile(rb"\r(?!\n)")
_MBOX_FROM: Final = re.compile(rb">?From [^\r\n]*(?:\r\n|\r|\n)")
#: One line a client or an export tool writes above the headers
#: (``---- Original email message ----``), and blank lines after it.
_PREAMBLE: Final = re.compile(rb"[^\r\n:]{1,200}(?:\r\n|\r|\n)(?:[ \t]*(?:\r\n|\r|\n))*")
#: Headers that show a block really is a mail's header block, not text that
#: happens to have a colon in its first line.
_TELLING_HEADER: Final = re.compile(rb"(?im)^(?:from|date|received|return-path|message-id|subject)[ \t]*:")
#: Where no From is, who the mail names as its author (RFC 5322 3.6.2), in order.
_FALLBACK_AUTHORS: Final = ("sender", "reply-to")
_ANGLED: Final = re.compile(r"<([^<>]*)>")
_WHITESPACE: Final = re.compile(r"\s+")
#: A list of plain mailboxes (``Ana Souza <ana@example.org>, b@example.org``):
#: read by one expression instead of ``getaddresses``, with the same result
#: (tests/unit/mail/test_real_world.py checks every header of the corpus).
#: Quotes, comments, encoded words, groups and routes go to ``getaddresses``.
#: Every run is possessive and a name starts with no blank, so a run of
#: blanks is read one way only: a To folded to 250 KB of spaces is declined
#: in one pass (with ``[ \t]*`` then ``[... \t]*`` it took minutes).
_SIMPLE_ADDR: Final = r"[A-Za-z0-9!#$%&'*+/=^_`{|}~.-]++@[A-Za-z0-9.-]++"
_SIMPLE_ITEM: Final = re.compile(
    rf"[ \t]*+(?:[A-Za-z0-9'_-][A-Za-z0-9 \t'_-]*+<({_SIMPLE_ADDR})>|({_SIMPLE_ADDR}))[ \t]*+")
_SIMPLE_LIST: Final = re.compile(rf"{_SIMPLE_ITEM.pattern}(?:,{_SIMPLE_ITEM.pattern})*")
_MAX_ID: Final = 900  # characters of a Message-ID kept as it is (columns hold 998)
_MAX_SUBJECT: Final = 16 * 1024  # characters of a Subject read (a ticket keeps 500)


@dataclass(frozen=True)
class ParsedMail:
    """A parsed incoming mail.  Addresses are lower-cased addr-specs; ids
    have no angle brackets; ``text`` is the plain body (or the text of the
    HTML body when there is no plain one).

    ``from_addr`` comes from a strict reading of From
    (:mod:`gateway.mail.mailboxes`): when From is present but broken it is
    empty and ``from_problem`` says what is wrong and where, so a broken
    From never names a requester and is not mistaken for a missing one.
    """

    message_id: str | None
    subject: str
    from_addr: str
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: tuple[str, ...]
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    text: str
    html: str | None
    attachments: tuple[Attachment, ...]
    language_hint: str | None
    defects: tuple[str, ...]
    #: content type of every MIME leaf, in order (e.g. ``message/delivery-status``)
    part_types: tuple[str, ...] = ()
    from_problem: str = ""
    raw_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: With no From at all: the first of Sender, Reply-To that parses, and
    #: which header it came from.  It only says whom to answer: it never
    #: makes the mail the requester's, an analyst's or a participant's
    #: (``gateway.pipeline.act``).
    fallback_author: str = ""
    fallback_header: str = ""
    #: Outlook's conversation: the first 22 bytes of ``Thread-Index``, hex
    #: (:mod:`gateway.mail.threadindex`); None without a valid one.
    thread_index: str | None = None

    @property
    def thread_root(self) -> str | None:
        """The first Message-ID of the mail's thread (RFC 5322 3.6.4:
        References begins with the root; a reply without them names its parent)."""
        ids = self.references or self.in_reply_to
        return ids[0] if ids else None

    def header(self, name: str, default: str = "") -> str:
        """The first ``name`` header, RFC 2047-decoded and unfolded."""
        values = self._by_name.get(name.lower())
        return decode_header_value(values[0]) if values else default

    def headers_all(self, name: str) -> list[str]:
        """Every ``name`` header in order, decoded and unfolded."""
        return [decode_header_value(value) for value in self._by_name.get(name.lower(), ())]

    @cached_property
    def _by_name(self) -> dict[str, list[str]]:
        """The raw values of each header by its lower-cased name, in order:
        the pipeline asks a mail for a dozen headers, and a scan of the
        whole header block for each was a noticeable share of a mail."""
        index: dict[str, list[str]] = {}
        for key, value in self.raw_headers:
            index.setdefault(key.lower(), []).append(value)
        return index


def parse(
    raw: bytes,
    *,
    max_header_bytes: int = 256 * 1024,
    max_part_bytes: int = 32 * 1024 * 1024,
    max_parts: int = MAX_PARTS,
    max_depth: int = MAX_DEPTH,
) -> ParsedMail:
    """Parse raw RFC 5322 bytes.  Never raises on a real mail; raises
    :class:`ParseError` for empty input or bytes without a header block.

    At most ``max_parts`` MIME parts and ``max_depth`` levels of nesting are
    read, by either parser; the rest stays in the raw mail and a defect
    says so (:func:`gateway.mail.attachments.walk`)."""
    defects: list[str] = []
    data = _prepare(raw, max_header_bytes, defects)
    try:
        message, stopped = bounded.parse(data, defects, max_parts=max_parts, max_depth=max_depth)
        return _build(message, defects, max_part_bytes, max_parts=max_parts, max_depth=max_depth, stopped=stopped)
    except RecursionError as error:
        defects.append(f"stdlib walk failed: {type(error).__name__}")
        failure: Exception = error
    except Exception as error:  # noqa: BLE001 - any parser bug must reach the fallback
        defects.append(f"stdlib walk failed: {type(error).__name__}: {error}")
        failure = error
    return _with_mailparser(data, defects, max_part_bytes, failure, max_parts=max_parts, max_depth=max_depth)


def _prepare(raw: bytes, max_header_bytes: int, defects: list[str]) -> bytes:
    """Reject header-less input, drop an mbox ``From `` line, cap the header block."""
    if not raw or not raw.strip():
        raise ParseError("cannot parse mail: the input is empty (0 bytes of headers); "
                         "check that the transport passed the message data")
    data = raw.lstrip(b"\r\n\t ")
    mbox_line = _MBOX_FROM.match(data)
    if mbox_line:
        data = data[mbox_line.end():]
    if not _FIRST_HEADER.match(data):
        data = _without_preamble(data, defects)
    if not _FIRST_HEADER.match(data):
        raise ParseError(f"cannot parse mail: it does not start with a header line "
                         f"(first bytes {data[:40]!r}); is this a body without headers?")
    data = _lone_crs_as_data(data, defects)
    end = _HEADER_END.search(data)
    header_size = end.start() if end else len(data)
    if header_size > max_header_bytes:
        # Parse a bounded header block: a 200 KB header (flanker has one) is
        # an attack or a broken relay, and the policy parser is quadratic-ish on it.
        cut = max(data.rfind(b"\n", 0, max_header_bytes), data.rfind(b"\r", 0, max_header_bytes))
        body = data[end.end():] if end else b""
        defects.append(f"header block of {header_size} bytes is over max_header_bytes="
                       f"{max_header_bytes}; headers after byte {cut + 1} dropped")
        data = data[: cut + 1] + b"\n" + body
    return data


def _without_preamble(data: bytes, defects: list[str]) -> bytes:
    """Drop one line written above the headers (``---- Original email
    message ----``, what some clients and export tools put there) when a
    real header block follows it; anything else is left as it is, and the
    caller refuses a body without headers as before."""
    preamble = _PREAMBLE.match(data)
    if preamble is None:
        return data
    rest = data[preamble.end():]
    end = _HEADER_END.search(rest)
    head = rest[:end.start()] if end else rest
    if not _FIRST_HEADER.match(rest) or not _TELLING_HEADER.search(head):
        return data
    line = data[:preamble.end()].strip().decode("ascii", "replace")
    defects.append(f"a line before the headers was skipped: {line[:80]!r}")
    return rest


def _lone_crs_as_data(data: bytes, defects: list[str]) -> bytes:
    """A CR without its LF inside the header block is data, never a line
    break: ``X-Note: a\\rAuthentication-Results: ...`` is one header, not a
    second one the sender smuggled in (the stdlib parser splits lines at a
    lone CR).  Only mails whose lines end in LF are touched; an old
    Mac-style mail with CR line ends throughout keeps them."""
    end = _LF_HEADER_END.search(data)
    head = data[:end.start()] if end else data
    if b"\n" not in head or not _LONE_CR.search(head):
        return data
    defects.append("bare CR inside the header block read as a space (RFC 5322 2.2: CR and LF only together)")
    return _LONE_CR.sub(b" ", head) + data[len(head):]


def _build(message: Message, defects: list[str], max_part_bytes: int, *, max_parts: int,
           max_depth: int, stopped: Stopped | None = None) -> ParsedMail:
    """Turn a compat32 message into a ParsedMail."""
    undeclared = _undeclared(message, max_parts=max_parts, max_depth=max_depth)
    raw_headers = _readable(message.raw_items(), undeclared)
    body = split_parts(message, max_part_bytes, defects, max_parts=max_parts, max_depth=max_depth,
                       undeclared=undeclared, stopped=stopped)
    return _assemble(raw_headers, body, defects)


def _undeclared(message: Message, *, max_parts: int, max_depth: int) -> Undeclared:
    """The decoder for this mail's undeclared 8-bit bytes; its hints (the
    charsets the mail declares in its parts and encoded words) are read
    only when such bytes turn up."""
    def hints() -> list[str]:
        found = declared_charsets(str(value) for _, value in message.raw_items())
        for part, _ in walk(message, max_parts=max_parts, max_depth=max_depth, defects=[]):
            try:
                charset = part.get_content_charset()
            except Exception:  # noqa: BLE001 - a hint is optional; a broken parameter gives none
                continue
            if charset and charset not in found:
                found.append(charset)
        return found

    return Undeclared(hints)


def _readable(items: Iterable[tuple[str, object]], undeclared: Undeclared) -> tuple[tuple[str, str], ...]:
    """Header values as text: raw 8-bit bytes (kept by compat32 as surrogate
    escapes) are decoded now, with the mail's hints, so every later reader
    (``header()``, the rules, the From reader) sees the same words.  ASCII
    values, nearly all of them, are only checked."""
    return tuple((name, text if (text := str(value)).isascii() else undeclared(text.encode("utf-8", "surrogateescape")))
                 for name, value in items)


def _assemble(
    raw_headers: tuple[tuple[str, str], ...], body: Parts, defects: list[str]
) -> ParsedMail:
    first = _first_raw(raw_headers)
    sender = first_mailbox(_unfold(first("from")))
    if not sender.address:
        sender = _author(raw_headers, defects)  # a later From may parse
    fallback = _fallback_author(raw_headers) if not sender.address and not sender.problem else None
    text = body.text
    if (text is None or not text.strip()) and body.html is not None and body.html.strip():
        # An empty text/plain beside real HTML (some webmails and mobile
        # clients send one): the words are in the HTML.
        text = html_to_text(body.html)
    text = text or ""
    # Line endings are a transport detail (CRLF on the wire, bare CR in old
    # Macs); everything after parsing reads "\n".
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return ParsedMail(
        message_id=_normalise_id(first("message-id")),
        subject=_subject(first("subject"), defects),
        from_addr=sender.address,
        from_name=sender.name,
        to=_addresses(raw_headers, "to"),
        cc=_addresses(raw_headers, "cc"),
        reply_to=_addresses(raw_headers, "reply-to"),
        date=_date(first("date"), defects),
        in_reply_to=_message_ids(first("in-reply-to")),
        references=_message_ids(first("references")),
        text=text,
        html=body.html,
        attachments=tuple(body.attachments),
        language_hint=decode_header_value(first("content-language")) or None,
        defects=tuple(defects),
        part_types=tuple(body.part_types),
        from_problem=f"From: {sender.problem}" if sender.problem else "",
        raw_headers=raw_headers,
        fallback_author=fallback.address if fallback else "",
        fallback_header=fallback.name if fallback else "",
        thread_index=conversation_of(first("thread-index")),
    )


def _subject(raw: str, defects: list[str]) -> str:
    """The Subject, decoded; of an absurd one only its first ``_MAX_SUBJECT``
    characters, cut at a fold, and a defect says so.  Flanker's
    long-header.eml has 209,684 characters in 6,600 encoded words, which
    took 40 ms to decode for a ticket that keeps 500 of them."""
    if len(raw) <= _MAX_SUBJECT:
        return decode_header_value(raw)
    cut = raw.rfind("\n", 0, _MAX_SUBJECT)
    cut = cut if cut > 0 else _MAX_SUBJECT
    defects.append(f"Subject of {len(raw):,} characters: the first {cut:,} read")
    return decode_header_value(raw[:cut])


def _author(raw_headers: tuple[tuple[str, str], ...], defects: list[str]) -> Mailbox:
    """The first From that names a mailbox.  A mail with two (``From:
    [??????]`` above the real one, from broken gateways) is read by the one
    that parses, and a defect says so; when none does, the first one's
    problem stands, and the mail names nobody."""
    values = [_unfold(value) for name, value in raw_headers if name.lower() == "from"]
    readings = [first_mailbox(value) for value in values]
    good = next((index for index, mailbox in enumerate(readings) if mailbox.address), None)
    if good is None:
        return next((mailbox for mailbox in readings if mailbox.problem), readings[0] if readings else Mailbox("", ""))
    if good > 0:
        problems = "; ".join(mailbox.problem or "empty" for mailbox in readings[:good])
        defects.append(f"From #{good + 1} used: the From before it names nobody ({problems})")
    return readings[good]


def _fallback_author(raw_headers: tuple[tuple[str, str], ...]) -> Mailbox | None:
    """With no From at all, the first of Sender, Reply-To that parses, as
    ``Mailbox(header name, address)``; None when neither does."""
    for header in _FALLBACK_AUTHORS:
        for name, value in raw_headers:
            if name.lower() == header:
                found = first_mailbox(_unfold(value))
                if found.address and not found.problem:
                    return Mailbox(name, found.address)
    return None


def _first_raw(raw_headers: tuple[tuple[str, str], ...]) -> Callable[[str], str]:
    index: dict[str, str] = {}
    for name, value in raw_headers:
        index.setdefault(name.lower(), value)
    return lambda name: index.get(name, "")


def _normalise_id(raw: str) -> str | None:
    """``" <abc@host>"`` → ``"abc@host"``; None when empty."""
    found = _ANGLED.search(raw)
    value = _WHITESPACE.sub("", found.group(1) if found else raw)
    return _capped(value) or None


def _capped(message_id: str) -> str:
    """An absurdly long id (seen from broken generators) stored whole would
    not fit its column (998, RFC 5322's line limit) and fail the mail, or a
    whole migration batch on PostgreSQL; cut, with a digest of the whole so
    two long ids stay apart and the same one always maps the same way."""
    if len(message_id) <= _MAX_ID:
        return message_id
    return f"{message_id[:_MAX_ID - 41]}#{hashlib.sha256(message_id.encode('utf-8', 'replace')).hexdigest()[:40]}"


def _message_ids(raw: str) -> tuple[str, ...]:
    """All ids of In-Reply-To/References, normalised, in order, without repeats."""
    tokens = _ANGLED.findall(raw) or [t for t in _WHITESPACE.split(raw) if "@" in t]
    ids = (_capped(_WHITESPACE.sub("", token)) for token in tokens)
    return tuple(dict.fromkeys(i for i in ids if i))


def _addresses(raw_headers: tuple[tuple[str, str], ...], name: str) -> tuple[str, ...]:
    values = [_unfold(v) for k, v in raw_headers if k.lower() == name]
    if not values:
        return ()
    if all(_SIMPLE_LIST.fullmatch(value) for value in values):  # nearly every To and Cc
        return tuple(normalise(a or b) for value in values for a, b in _SIMPLE_ITEM.findall(value))
    return tuple(normalise(addr) for _, addr in getaddresses(values) if addr.strip())


def _date(raw: str, defects: list[str]) -> datetime | None:
    """An aware datetime; a zone-less ``-0000`` date is read as UTC."""
    if not raw.strip():
        return None
    try:
        value = parsedate_to_datetime(_unfold(raw))
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append(f"unreadable Date header: {raw[:60]!r}")
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _unfold(value: str) -> str:
    """One line; raw 8-bit bytes (surrogate escapes from compat32, e.g. RFC
    6532 UTF-8 addresses) become text, so no surrogate reaches the store."""
    value = re.sub(r"\r?\n", "", value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = decode(value.encode("utf-8", "surrogateescape"), None)
    return value


def _with_mailparser(
    data: bytes, defects: list[str], max_part_bytes: int, failure: Exception, *, max_parts: int, max_depth: int
) -> ParsedMail:
    """Second chance when our walk raised: mail-parser's own tolerant walk,
    over the tree cut to the parts our walk reads (mail-parser itself walks
    every part, and does much more per part than we do)."""
    try:
        import mailparser

        pruned: list[str] = []
        message, stopped = bounded.parse(data, pruned, max_parts=max_parts, max_depth=max_depth)  # parse_from_bytes's
        prune(message, max_parts=max_parts, max_depth=max_depth, defects=pruned, stopped=stopped)
        defects = defects + [defect for defect in pruned if defect not in defects]
        fallback = mailparser.MailParser(message)
        raw_headers = _readable(fallback.message.raw_items(),
                                _undeclared(message, max_parts=max_parts, max_depth=max_depth))
        body = Parts(
            text="\n".join(fallback.text_plain) if fallback.text_plain else None,
            html="\n".join(fallback.text_html) if fallback.text_html else None,
            attachments=[_from_mailparser_attachment(item) for item in fallback.attachments],
        )
        return _assemble(raw_headers, body, defects + ["parsed by the mail-parser fallback"])
    except Exception as error:  # noqa: BLE001
        raise ParseError(
            f"cannot parse mail: the stdlib parser failed ({type(failure).__name__}: "
            f"{failure}) and mail-parser failed too ({type(error).__name__}: {error}); "
            "keep the raw bytes and look at the MIME structure by hand"
        ) from error


def _from_mailparser_attachment(item: dict[str, object]) -> Attachment:
    payload = str(item.get("payload") or "")
    data = base64.b64decode(payload) if item.get("binary") else payload.encode("utf-8")
    return Attachment(str(item.get("filename") or ""),
                      str(item.get("mail_content_type") or "application/octet-stream"),
                      data, sniff(data))
