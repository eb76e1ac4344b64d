"""The standard library's parser, stopped soon after the parts anyone reads.

``gateway.mail.attachments.walk`` reads at most ``max_parts`` MIME parts,
none deeper than ``max_depth``; the stdlib parser builds every part before
anyone walks them: 200,000 one-line parts took 1.8 s and 72 MB, and a
25 MB mail holds millions.  :func:`parse` is ``email.message_from_bytes(data,
policy=compat32)`` fed a piece at a time and closed once it has made more
parts than the walk reads, or ``IN_ALL`` times ``max_parts`` in all.  Every
reader of a whole mail (``parsed``, the delivery-report reader ``dsn``)
parses through it.
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from email.feedparser import FeedParser
from email.message import Message
from typing import Final

#: The parts, and levels of nesting, read per mail unless told otherwise
#: (``[processing] max_parts`` and ``max_depth`` have the same defaults).
MAX_PARTS: Final = 500
MAX_DEPTH: Final = 20
#: Parts deeper than ``max_depth`` are not read, but the parser makes them:
#: this many times ``max_parts`` in all, and it stops too.
IN_ALL: Final = 10
_FEED_CHARS: Final = 8192  # what the stdlib's Parser feeds its FeedParser at a time


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

    parser = FeedParser(_factory=new_part, policy=email.policy.compat32)
    stack = getattr(parser, "_msgstack", None)
    made = in_all = 0  # the parser made one to try the factory
    text = data.decode("ascii", "surrogateescape")  # as BytesParser does
    for start in range(0, len(text), _FEED_CHARS):
        parser.feed(text[start:start + _FEED_CHARS])
        read = start + _FEED_CHARS
        if read < len(text) and (made > max_parts or in_all > IN_ALL * max_parts):
            still_open = frozenset(id(part) for part in stack) if stack is not None else None
            message = parser.close()
            many = (f"more than {max_parts:,} MIME parts (max_parts)" if made > max_parts else
                    f"more than {IN_ALL * max_parts:,} MIME parts in all ({IN_ALL} x max_parts)")
            defects.append(f"{many}: reading stopped at character {read:,} of {len(text):,}; "
                           "the rest is kept in the raw mail only")
            return message, Stopped(still_open if still_open is not None else _path_to(message, last))
    return parser.close(), None


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
