"""Group a legacy mailbox's mails into conversations, from headers alone.

First JWZ threading (https://www.jwz.org/doc/threading.html): every
Message-ID, seen or only referenced, is a container; ``References`` and
``In-Reply-To`` link them into trees without ever making a loop; each tree
is a conversation, even when its root is a mail we never saw.

Then a fallback for the mails whose headers were lost (Outlook and
webmails often drop ``In-Reply-To``; forwards start fresh chains): two
conversations join when their subjects are the same once normalised
(``RES: [Ext] Erro`` and ``erro``) **and** they share an outside
participant **and** the later one starts within ``window`` of the
earlier one's last mail.  Subject alone would merge every "Dúvida".

The index holds a few header fields per mail (no bodies, no header
lists), so a 100,000-mail mailbox threads in a few tens of megabytes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Final

from gateway.errors import ParseError
from gateway.mail.automatic import classify
from gateway.mail.parsed import parse
from gateway.migrate.roles import Team
from gateway.migrate.sources import SourceMail

_PREFIX: Final = re.compile(
    r"^\s*(?:(?:re|res|enc|fw|fwd|tr|aw|wg|sv|vs|antw|odp|rif|r)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]"
    r"|回复[:：]|答复[:：]|转发[:：]|\[[^\]]*\]|\([^)]*\bfwd?\b[^)]*\))\s*", re.IGNORECASE)
_SPACES: Final = re.compile(r"\s+")
_NEVER: Final = datetime.max.replace(tzinfo=timezone.utc)


def normalise_subject(subject: str) -> str:
    """``"RES: ENC: [Externo] Érro  no Cadastro"`` → ``"erro no cadastro"``:
    reply/forward prefixes of many languages and bracketed tags stripped
    (repeatedly), accents and case folded, spaces collapsed."""
    text = subject
    while True:
        stripped = _PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return _SPACES.sub(" ", text).strip()


@dataclass(slots=True)
class MailHeaders:
    """What threading, roles and states need to know of one mail."""

    key: str
    folder: str
    message_id: str | None
    parents: tuple[str, ...]  # References, then In-Reply-To, oldest first
    subject: str
    sender: str
    sender_name: str
    recipients: tuple[str, ...]
    date: datetime | None
    automatic: bool
    problem: str | None = None  # unreadable: quarantined, not threaded

    @classmethod
    def read(cls, mail: SourceMail) -> MailHeaders:
        """From the header block of a mail; never raises."""
        try:
            parsed = parse(mail.raw + b"\n\n")
        except ParseError as error:
            return cls(mail.key, mail.folder, None, (), "", "", "", (), None, False, problem=str(error))
        parents = tuple(dict.fromkeys((*parsed.references, *parsed.in_reply_to)))
        automatic = classify(parsed, envelope_sender=None).automatic
        return cls(mail.key, mail.folder, parsed.message_id, parents, parsed.subject, parsed.from_addr,
                   parsed.from_name, tuple(dict.fromkeys((*parsed.to, *parsed.cc))), parsed.date, automatic)


@dataclass
class Conversation:
    """Mails (indexes into the index) that become one ticket, oldest first."""

    mails: list[int]
    orphan: bool = False  # its first mail replies to mail we never saw, and no fallback joined it
    first: datetime | None = None
    last: datetime | None = None
    outside: set[str] = field(default_factory=set)


@dataclass
class Threads:
    conversations: list[Conversation]
    duplicates: dict[int, int]  # mail index -> index of the first mail with its Message-ID
    broken: list[int]  # unreadable headers


class _Container:
    __slots__ = ("mail", "parent", "children")

    def __init__(self) -> None:
        self.mail: int | None = None
        self.parent: _Container | None = None
        self.children: list[_Container] = []

    def reaches(self, other: _Container) -> bool:
        """Whether ``other`` is this container or one of its ancestors (a link would loop)."""
        node: _Container | None = self
        for _ in range(100_000):  # bounded: a chain is never longer than the mailbox
            if node is None:
                return False
            if node is other:
                return True
            node = node.parent
        return True

    def link(self, parent: _Container) -> None:
        if self.parent is parent or parent.reaches(self):
            return
        if self.parent is not None:
            self.parent.children.remove(self)
        self.parent = parent
        parent.children.append(self)


def thread(index: list[MailHeaders], team: Team, window: timedelta) -> Threads:
    """The conversations of ``index`` (JWZ, then the subject fallback)."""
    containers: dict[str, _Container] = {}
    duplicates: dict[int, int] = {}
    broken: list[int] = []

    def container(message_id: str) -> _Container:
        found = containers.get(message_id)
        if found is None:
            found = containers[message_id] = _Container()
        return found

    for number, mail in enumerate(index):
        if mail.problem is not None:
            broken.append(number)
            continue
        own = container(mail.message_id or f"\0{mail.key}")
        if own.mail is not None:
            duplicates[number] = own.mail
            continue
        own.mail = number
        chain = [container(ref) for ref in mail.parents if ref != mail.message_id]
        for parent, child in zip(chain, chain[1:]):
            if child.parent is None:
                child.link(parent)
        if chain:
            own.link(chain[-1])
    roots = (c for c in containers.values() if c.parent is None)
    conversations = [_conversation(root, index, team) for root in roots]
    merged = _join_by_subject([c for c in conversations if c.mails], index, window)
    return Threads(merged, duplicates, broken)


def _conversation(root: _Container, index: list[MailHeaders], team: Team) -> Conversation:
    found: list[int] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.mail is not None:
            found.append(node.mail)
        stack.extend(node.children)
    found.sort(key=lambda n: (_when(index[n]), n))
    conversation = Conversation(found)
    if found:
        first = index[found[0]]
        conversation.orphan = bool(first.parents)  # it answers a mail this mailbox does not hold
        _span(conversation, index, team, found)
    return conversation


def _span(conversation: Conversation, index: list[MailHeaders], team: Team, mails: Iterable[int]) -> None:
    for number in mails:
        mail = index[number]
        if mail.date is not None:
            conversation.first = min(conversation.first or mail.date, mail.date)
            conversation.last = max(conversation.last or mail.date, mail.date)
        conversation.outside.update(team.outside((mail.sender, *mail.recipients)))


def _join_by_subject(conversations: list[Conversation], index: list[MailHeaders],
                     window: timedelta) -> list[Conversation]:
    """Join conversations with the same normalised subject and an outside
    participant in common, when the later one starts within ``window``."""
    conversations.sort(key=lambda c: (_when(index[c.mails[0]]), c.mails[0]))
    latest: dict[tuple[str, str], Conversation] = {}
    kept: list[Conversation] = []
    for conversation in conversations:
        subject = normalise_subject(index[conversation.mails[0]].subject)
        target = _earlier(conversation, subject, latest, window) if subject else None
        if target is None:
            kept.append(conversation)
            target = conversation
        else:
            target.mails = sorted([*target.mails, *conversation.mails], key=lambda n: (_when(index[n]), n))
            target.first = min(_known(target.first, conversation.first), default=None)
            target.last = max(_known(target.last, conversation.last), default=None)
            target.outside |= conversation.outside
        if subject:
            for address in conversation.outside:
                latest[(subject, address)] = target
    return kept


def _earlier(conversation: Conversation, subject: str, latest: dict[tuple[str, str], Conversation],
             window: timedelta) -> Conversation | None:
    for address in sorted(conversation.outside):
        candidate = latest.get((subject, address))
        if candidate is None or candidate is conversation:
            continue
        if conversation.first is None or candidate.last is None or conversation.first - candidate.last <= window:
            return candidate
    return None


def _when(mail: MailHeaders) -> datetime:
    """Undated mails sort last (their place in the source breaks ties)."""
    return mail.date or _NEVER


def _known(*dates: datetime | None) -> list[datetime]:
    return [d for d in dates if d is not None]


def iter_index(mails: Iterable[SourceMail]) -> Iterator[MailHeaders]:
    for mail in mails:
        yield MailHeaders.read(mail)
