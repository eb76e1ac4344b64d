"""The standard library's parser, stopped soon after the parts anyone reads.

``gateway.mail.attachments.walk`` reads at most ``max_parts`` MIME parts,
none deeper than ``max_depth``; the stdlib parser builds every part before
anyone walks them: 200,000 one-line parts took 1.8 s and 72 MB, and a
25 MB mail holds millions.  :func:`parse` is ``email.message_from_bytes(data,
policy=compat32)`` fed a piece at a time and closed once it has made more
parts than the walk reads, or ``IN_ALL`` times ``max_parts`` in all.  Every
reader of a whole mail (``parsed``, the delivery-report reader ``dsn``)
parses through it.

The parser also reads line by line, about a microsecond a line, and most
of a big mail is the lines of its base64 files.  Such a line is only ever
a line of whatever holds it (no header, boundary or blank line), so each
run of 16 or more is fed as one line, a token unique in the mail, and put
back where the token landed (:class:`_Folded`): the tree is the stdlib's,
part by part (a test holds it to that on every corpus mail), and a token
found anywhere else sends the mail through the plain parse.
"""

from __future__ import annotations

import email.policy
import re
import secrets
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Final

from gateway.mail.boundaries import FeedParser

#: The parts, and levels of nesting, read per mail unless told otherwise
#: (``[processing] max_parts`` and ``max_depth`` have the same defaults).
MAX_PARTS: Final = 500
MAX_DEPTH: Final = 20
#: Parts deeper than ``max_depth`` are not read, but the parser makes them:
#: this many times ``max_parts`` in all, and it stops too.
IN_ALL: Final = 10
_FEED_CHARS: Final = 8192  # what the stdlib's Parser feeds its FeedParser at a time
#: Runs of base64 lines are looked for this much of the mail ahead of the
#: parser at a time, so a parse stopped early has not scanned the rest.
_SCAN_CHARS: Final = 256 * 1024
_RUN_LINES: Final = 16  # fewer lines than this are fed as they are
_LONGEST: Final = 200  # longer lines are fed as they are (base64 writes 76)
#: Each byte of a line as one of four: a base64 character, CR, LF, other.
_KINDS: Final = bytes(ord("a") if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "+/=")
                      else ord("r") if b == 0x0D else 0x0A if b == 0x0A else ord("x") for b in range(256))
_BASE64_LINE: Final = frozenset(b"a" * n + end for n in range(1, _LONGEST + 1) for end in (b"", b"r"))
_RUN: Final = re.compile(b"\x01{%d,}" % _RUN_LINES)
#: A run's token: the prefix drawn for the mail (``_Folded``) and the run's number.  One
#: pattern for every prefix: a pattern compiled per mail cost ~70 us, never cached.
_TOKEN_HEAD: Final = "GWRUN"
_TOKEN: Final = re.compile(_TOKEN_HEAD + r"([0-9a-f]{16})(\d+)E")
#: The lines of a header block as the stdlib's parser takes them (its ``headerRE``: a field,
#: a continuation, an mbox "From "), each with its line end (CRLF, CR or LF, as it splits).
_HEADER_LINES: Final = re.compile(r"(?:(?:From |[\x21-\x39\x3b-\x7e]*:|[\t ])[^\r\n]*(?:\r\n|\r|\n))*")
#: A Content-Type that nests parts, seen in a header block at a glance (folded or not).
_NESTS: Final = re.compile(r"(?im)^content-type[ \t]*:[ \t\r\n]*(?:multipart|message)\b")


@dataclass(frozen=True)
class Stopped:
    """Where :func:`parse` stopped reading: the parts still open there
    (``id()`` of each, from the mail itself down).  An attached mail, a
    file or a text among them holds only what was read of it."""

    open_parts: frozenset[int]


def parse(data: bytes, defects: list[str], *, max_parts: int = MAX_PARTS,
          max_depth: int = MAX_DEPTH) -> tuple[Message, Stopped | None]:
    """The mail's tree, and where reading stopped (None: read whole); a
    stop is named in ``defects``.

    A part's depth, and which parts are still open where reading stops,
    are read from the parser's stack of open parts (``_msgstack``, there
    since Python 2.4); without it every part counts, and the open ones are
    the path to the last part made."""
    made = in_all = 0
    last: Message | None = None
    stack: list[Message] | None = None

    def new_part(policy: email.policy.Compat32 = email.policy.compat32) -> Message:
        nonlocal made, in_all, last
        in_all += 1
        if stack is None or len(stack) <= max_depth:  # its ancestors are open: their number is its depth
            made += 1
        last = Message(policy)
        return last

    text = data.decode("ascii", "surrogateescape")  # as BytesParser does
    whole = _one_part(text, new_part)
    if whole is not None:
        return whole, None
    folded = _Folded(data, text) if len(text) > _FEED_CHARS else None
    for pieces in (folded.pieces(), _pieces(text)) if folded is not None else (_pieces(text),):
        parser = FeedParser(_factory=new_part, policy=email.policy.compat32)
        stack = getattr(parser, "_msgstack", None)
        made = in_all = 0  # the parser made one to try the factory
        stopped: Stopped | None = None
        for piece, read in pieces:
            parser.feed(piece)
            if read < len(text) and (made > max_parts or in_all > IN_ALL * max_parts):
                still_open = frozenset(id(part) for part in stack) if stack is not None else None
                message = parser.close()
                stopped = Stopped(still_open if still_open is not None else _path_to(message, last))
                break
        else:
            message = parser.close()
        if folded is not None and not folded.restored(message):
            folded = None
            continue  # a token where no line of its run could be: the plain parse decides
        if stopped is not None:
            many = (f"more than {max_parts:,} MIME parts (max_parts)" if made > max_parts else
                    f"more than {IN_ALL * max_parts:,} MIME parts in all ({IN_ALL} x max_parts)")
            defects.append(f"{many}: reading stopped at character {read:,} of {len(text):,}; "
                           "the rest is kept in the raw mail only")
        return message, stopped
    raise AssertionError("unreachable: the plain parse is the last attempt")


def _one_part(text: str, factory: Callable[..., Message]) -> Message | None:
    """A mail of one part, its body not read line by line; None for any other.

    For a part that is neither ``multipart/*`` nor ``message/*``, the parser
    reads every line after the header block and joins them: the body is the
    rest of the text, as it is.  Reading it line by line cost about a
    microsecond a line: 6.7 ms of a 1.3 MB HTML mail (0.1 ms this way), a
    few of a ~3 KB one.  The header block is found as the parser finds it
    (lines its ``headerRE`` takes, then an empty line) and parsed by it;
    anything else (no empty line after the headers, a header block the
    text ends in, a multipart or an attached mail) is the whole parse's."""
    end = _HEADER_LINES.match(text).end()
    blank = 2 if text.startswith("\r\n", end) else 1 if text[end:end + 1] in ("\r", "\n") else 0
    if not blank or _NESTS.search(text, 0, end):
        return None
    parser = FeedParser(_factory=factory, policy=email.policy.compat32)
    parser.feed(text[:end + blank])
    message = parser.close()
    if message.is_multipart() or message.get_content_maintype() in ("multipart", "message"):
        return None  # a Content-Type the quick look did not read as one: the whole parse decides
    if message.get_payload():
        return None  # the parser gave a header line back to the body (a "From " line last): the whole parse
    message.set_payload(text[end + blank:])
    return message


def _pieces(text: str) -> Iterator[tuple[str, int]]:
    """The text a piece at a time, each with where in the text it ends."""
    for start in range(0, len(text), _FEED_CHARS):
        yield text[start:start + _FEED_CHARS], min(start + _FEED_CHARS, len(text))


class _Folded:
    """A mail's text with each run of base64 lines fed as one token line.

    A run starts at a line's start and keeps its last line end as the
    token's: the parser may take that one off a part's text (the line end
    before a boundary), and the run goes back without it."""

    def __init__(self, data: bytes, text: str) -> None:
        self.data, self.text = data, text
        self.prefix = _TOKEN_HEAD + secrets.token_hex(8)
        while self.prefix in text:
            self.prefix = _TOKEN_HEAD + secrets.token_hex(8)
        self.runs: list[str] = []
        self.fed = 0  # runs whose token has been fed whole

    def pieces(self) -> Iterator[tuple[str, int]]:
        """The folded text, a piece at a time, each with where in the mail's
        own text it ends; the mail is scanned ``_SCAN_CHARS`` ahead."""
        start = 0
        while start < len(self.text):
            end = self.data.find(b"\n", start + _SCAN_CHARS) + 1 or len(self.data)
            folded, starts, ends, shifts = self._fold(start, end)
            first = len(self.runs) - len(ends)
            at = 0
            while at < len(folded):
                upto = min(at + _FEED_CHARS, len(folded))
                whole = bisect_right(ends, upto)  # tokens of this stretch fed whole
                if whole < len(starts) and starts[whole] < upto:  # never half a token: a stop would keep half
                    upto = ends[whole]
                    whole += 1
                self.fed = first + whole
                yield folded[at:upto], start + upto + (shifts[whole - 1] if whole else 0)
                at = upto
            start = end

    def _fold(self, start: int, end: int) -> tuple[str, list[int], list[int], list[int]]:
        """The stretch ``start:end`` folded; where each token's line starts
        and ends in it, and how many characters the stretch has lost up to
        each end."""
        lines = self.data[start:end].translate(_KINDS).split(b"\n")
        flags = bytes(map(_BASE64_LINE.__contains__, lines))
        if lines and flags[-1:] == b"\x01":  # the mail's last line, with no line end: not a run's
            flags = flags[:-1] + b"\x00"
        out: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        shifts: list[int] = []
        done = line = length = removed = 0
        at = start  # where line ``line`` starts in the text
        for match in _RUN.finditer(flags):
            first, after = match.span()
            at += sum(map(len, lines[line:first])) + first - line
            run_end = at + sum(map(len, lines[first:after])) + after - first
            eol = "\r\n" if lines[after - 1].endswith(b"r") else "\n"
            token = f"{self.prefix}{len(self.runs)}E{eol}"
            self.runs.append(self.text[at:run_end - len(eol)])
            out += (self.text[start + done:at], token)
            length += at - start - done
            starts.append(length)
            length += len(token)
            removed += run_end - at - len(token)
            ends.append(length)
            shifts.append(removed)
            done, line, at = run_end - start, after, run_end
        out.append(self.text[start + done:end])
        return "".join(out), starts, ends, shifts

    def restored(self, message: Message) -> bool:
        """Put each run back in the part (or preamble, epilogue) its token
        landed in; False if a token was found twice, or in a header (no
        line of a run can be one).  A token not found at all is a line the
        parser dropped, as it drops it unfolded (after a closing boundary
        with no opening one, say)."""
        pattern, ours = _TOKEN, self.prefix[len(_TOKEN_HEAD):]
        found: list[int] = []

        def run(match: re.Match[str]) -> str:
            if match.group(1) != ours:  # text of the mail that looks like a token: ours is drawn unique in it
                return match.group()
            found.append(int(match.group(2)))
            return self.runs[found[-1]]

        parts: list[Message] = [message]
        while parts:
            part = parts.pop()
            payload = part._payload  # type: ignore[attr-defined]  # get_payload() re-decodes text with surrogates
            if isinstance(payload, list):
                parts.extend(child for child in payload if isinstance(child, Message))
            elif isinstance(payload, str) and self.prefix in payload:
                part.set_payload(pattern.sub(run, payload))
            for name in ("preamble", "epilogue"):
                value = getattr(part, name)
                if value and self.prefix in value:
                    setattr(part, name, pattern.sub(run, value))
            if any(self.prefix in str(field) for header in part.raw_items() for field in header):
                return False
        return len(set(found)) == len(found) and all(index < self.fed for index in found)


def _path_to(root: Message, target: Message | None) -> frozenset[int]:
    """The ``id()`` of ``target`` and of each part that holds it, up to ``root``."""
    stack: list[tuple[Message, tuple[int, ...]]] = [(root, (id(root),))]
    while stack:
        part, path = stack.pop()
        if part is target:
            return frozenset(path)
        if part.is_multipart():
            stack.extend((child, (*path, id(child))) for child in part.get_payload() if isinstance(child, Message))
    return frozenset()
