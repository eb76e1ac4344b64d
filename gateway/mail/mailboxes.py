"""Read the mailbox of a From header strictly (RFC 5322 3.4).

The From address becomes a ticket's requester, and every answer goes to
it, so a lenient reader is an attack surface: ``email.utils.getaddresses``
on Python 3.11.7 (no ``strict=`` yet) turned
``=?utf-8?Q?Ana=0D=0ABcc:_victim@outside.example?= <x@y>`` into the
requester ``_victim@outside.example?=``.  This reader follows
the grammar instead: the address is the angle-addr when there is one,
else the bare addr-spec; an RFC 2047 encoded word is one word of a display
name and never gives an address a character; and whatever does not fit
is reported as a problem, not guessed at.

It is one regex for the shapes nearly every From has, then a small lexer
and a loop over its tokens, not ``email.headerregistry``: that parser
decodes encoded words before it looks for addresses, which is exactly what
must not happen here, and on a plain From it is many times slower than the
regex, a cost every mail would pay (``bench/results/notes.md``).

Leniency kept where it cannot change the address: an unquoted comma in a
display name (``Silva, Ana <ana@example.org>``, written by some clients)
and a group (``Equipe: ana@example.org;``), whose first mailbox counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from gateway.mail.addresses import DAEMON_LOCAL_PARTS, PLAIN_ADDRESS, addr_spec_problem
from gateway.mail.charsets import decode_header_value

#: A display name of atoms and the spaces between them: it neither starts
#: nor ends with a space, so a From splits one way only into name and
#: spaces, and reading it is linear.  (A lazy ``[atext \t]*?`` followed by
#: ``[ \t]*`` split a long run of spaces every way: seconds for one From.)
_NAME_WORD: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+"
_NAME: Final = rf"{_NAME_WORD}(?:[ \t]+{_NAME_WORD})*"
#: ``Name <plain@address>``, ``"Quoted, Name" <plain@address>`` or a bare
#: plain address: nearly every From.  It takes this one regex; the rest is lexed.
_COMMON: Final = re.compile(rf"""
    [ \t]*+(?:
        (?:(?P<name>{_NAME})?|"(?P<quoted>[^"\\\x00-\x1f\x7f]*)")
        [ \t]*<(?P<angle>{PLAIN_ADDRESS})>
      | (?P<bare>{PLAIN_ADDRESS})
    )[ \t]*
""", re.VERBOSE)
_TOKEN: Final = re.compile(r"""
    (?P<space>[ \t]+)
  | (?P<encoded>=\?[!#$%&'*+\-0-9A-Z^_`a-z{|}~]+\?[BbQq]\?[!->@-~]*\?=)
  | (?P<quoted>"(?:[^"\\]|\\.)*")
  | (?P<literal>\[[^\[\]\\]*\])
  | (?P<special>[<>@,;:.])
  | (?P<comment>\()
  | (?P<atom>[^ \t"(),.:;<>@\[\]\\]+)
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)
_LINE_BREAKS: Final = re.compile(r"\r\n|\r|\n")
_UNESCAPE: Final = re.compile(r"\\(.)", re.DOTALL)
_PHRASE: Final = frozenset({"atom", "quoted", "encoded"})
#: Characters of an unfolded From read at most.  A From names a person or
#: a few (a name and an address are under 400 characters); a longer one is
#: an attack on the parser, refused before any regex reads it.
MAX_FROM_LENGTH: Final = 2_000
_DAEMON_FORMS: Final = DAEMON_LOCAL_PARTS | {""}


@dataclass(frozen=True)
class Mailbox:
    """The first mailbox of a header: decoded display name and lower-case
    addr-spec, or a ``problem`` that says what is wrong and where (then
    ``address`` is empty: a broken header names nobody)."""

    name: str
    address: str
    problem: str = ""


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    start: int


class _Broken(Exception):
    """The header does not follow the grammar; the message says where."""


def first_mailbox(value: str) -> Mailbox:
    """The first mailbox of a From-like header value (unfolded, not decoded).

    An empty value is no mailbox and no problem (the caller falls back to
    the envelope).  Every mailbox of the header is checked: one broken
    address makes the header broken, even when the first one is fine.  A
    value over :data:`MAX_FROM_LENGTH` characters is a problem, unread.

    >>> first_mailbox('"Silva, Ana" <Ana@Example.org>')
    Mailbox(name='Silva, Ana', address='ana@example.org', problem='')
    >>> first_mailbox("=?utf-8?Q?Ana=0D=0ABcc:_victim@outside.example?= <x@y>").problem
    "'x@y': the domain 'y' is not fully qualified (RFC 5321 2.3.5): no relay can route it"

    The display name is decoded but not judged: whatever it holds (a line
    break included) is cleaned by :func:`gateway.mail.headers.clean`
    wherever we write it, and it never gives the address a character.
    """
    value = _LINE_BREAKS.sub("", value)  # unfold (RFC 5322 2.2.3); a break can only be folding here
    if len(value) > MAX_FROM_LENGTH:
        return Mailbox("", "", f"{len(value):,} characters long, more than the {MAX_FROM_LENGTH:,} "
                               f"that name any sender: {_shown(value)}")
    common = _COMMON.fullmatch(value)
    if common:
        address = common.group("angle") or common.group("bare")
        if "=?" not in address and not addr_spec_problem(address):
            return _named(common.group("name") or common.group("quoted") or "", address)
    if not value.strip():
        return Mailbox("", "")
    try:
        tokens, comments = _lex(value)
        found = _mailboxes(tokens, value)
    except _Broken as error:
        return Mailbox("", "", str(error))
    if not found:
        return _bare_word(tokens, value)
    if len(found) == 1 and found[0][1].lower() in _DAEMON_FORMS:
        # "<>", "Mail Delivery System <>" (the null sender) and "Mail
        # Delivery Subsystem <MAILER-DAEMON>": how bounces write From.  Kept
        # as before (no address, or the daemon's name) so the classifier
        # sees a bounce; neither is ever answered or made a requester.
        return _named(found[0][0], found[0][1])
    for phrase, address in found:
        if not address:
            return Mailbox("", "", f"the null address <> is one of several in {_shown(value)}")
        problem = addr_spec_problem(address)
        if problem:
            return Mailbox("", "", f"{address!r}: {problem}")
        if "=?" in address and "?=" in address:
            return Mailbox("", "", f"an RFC 2047 encoded word is inside the address {address!r}")
    phrase, address = found[0]
    return _named(phrase or (comments[0] if comments and len(found) == 1 else ""), address)


def _named(raw_name: str, address: str) -> Mailbox:
    return Mailbox(decode_header_value(raw_name), address.lower())


def _bare_word(tokens: list[_Token], value: str) -> Mailbox:
    """``From: MAILER-DAEMON``: the pre-RFC 822 daemon form bounces still
    use.  It is kept as before (``mailer-daemon``) so the bounce classifier
    sees a daemon (it never answers one and never makes it a requester);
    any other header without an address is broken."""
    if len(tokens) == 1 and tokens[0].kind == "atom" and tokens[0].text.lower() in _DAEMON_FORMS:
        return Mailbox("", tokens[0].text.lower())
    return Mailbox("", "", f"no address in {_shown(value)}")


def _lex(value: str) -> tuple[list[_Token], list[str]]:
    """Tokens without spaces and comments; the comments' texts apart."""
    tokens: list[_Token] = []
    comments: list[str] = []
    position = 0
    while position < len(value):
        match = _TOKEN.match(value, position)
        assert match is not None  # "other" matches any character
        kind = match.lastgroup or "other"
        if kind == "comment":
            end = _comment_end(value, position)
            comments.append(_UNESCAPE.sub(r"\1", value[position + 1:end - 1]).strip())
            position = end
            continue
        if kind == "other":
            raise _Broken(f"{match.group()!r} at character {position + 1} of {_shown(value)} cannot be "
                          "there (unbalanced quote or parenthesis, or a stray backslash)")
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    return tokens, comments


def _comment_end(value: str, start: int) -> int:
    """Index after the ``)`` that closes the comment opened at ``start`` (comments nest)."""
    depth, position = 0, start
    while position < len(value):
        char = value[position]
        if char == "\\":
            position += 2
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        position += 1
        if depth == 0:
            return position
    raise _Broken(f"the comment opened at character {start + 1} of {_shown(value)} is never closed")


def _mailboxes(tokens: list[_Token], value: str) -> list[tuple[str, str]]:
    """(raw display name, addr-spec) of every mailbox, in order."""
    found: list[tuple[str, str]] = []
    orphan_words: list[str] = []  # "Silva," of an unquoted "Silva, Ana <...>"
    in_group = False
    index = 0
    while index < len(tokens):
        start = index
        while index < len(tokens) and (tokens[index].kind in _PHRASE or tokens[index].text in (".", "@")):
            index += 1
        phrase = tokens[start:index]
        following = tokens[index].text if index < len(tokens) else ""
        if following == "<":
            # The angle-addr is the address; before it is only a name, even
            # "ana@example.org <ana@example.org>" as some webmails write it.
            address, index = _angle_addr(tokens, index, value)
            found.append((" ".join([*orphan_words, _phrase_text(phrase)]).strip(), address))
            orphan_words.clear()
        elif any(token.text == "@" for token in phrase):
            address, index = _addr_spec(tokens, start, value)
            found.append(("", address))
        elif following == ":" and not in_group and phrase:
            in_group, index = True, index + 1
            continue
        elif phrase:
            orphan_words.append(_phrase_text(phrase) + ("," if following == "," else ""))
        following = tokens[index].text if index < len(tokens) else ""
        if following == ";" and in_group:
            in_group, index = False, index + 1
            following = tokens[index].text if index < len(tokens) else ""
        if following == ",":
            index += 1
        elif following:
            raise _Broken(f"{following!r} at character {tokens[index].start + 1} of {_shown(value)} cannot "
                          "follow what is before it")
    if in_group:
        raise _Broken(f"the group in {_shown(value)} is not closed with ';'")
    return found


def _angle_addr(tokens: list[_Token], index: int, value: str) -> tuple[str, int]:
    """The addr-spec between ``<`` at ``index`` and its ``>`` (``""`` for
    ``<>``); index after ``>``."""
    if index + 1 < len(tokens) and tokens[index + 1].text == ">":
        return "", index + 2
    address, end = _addr_spec(tokens, index + 1, value)
    if end >= len(tokens) or tokens[end].text != ">":
        raise _Broken(f"the '<' at character {tokens[index].start + 1} of {_shown(value)} is not "
                      "closed by '>' right after one address")
    return address, end + 1


def _addr_spec(tokens: list[_Token], index: int, value: str) -> tuple[str, int]:
    """local-part "@" domain from ``index``, written without spaces or
    comments between its pieces; returns it and the index after it."""
    end = index
    while end < len(tokens) and (tokens[end].kind in ("atom", "quoted", "encoded", "literal")
                                 or tokens[end].text in (".", "@")):
        end += 1
    if end == index:
        raise _Broken(f"an address is missing in {_shown(value)}")
    first, last = tokens[index], tokens[end - 1]
    text = value[first.start:last.start + len(last.text)]
    if text != "".join(token.text for token in tokens[index:end]):
        raise _Broken(f"the address {text!r} has spaces or comments inside")
    if any(token.kind == "encoded" for token in tokens[index:end]):
        raise _Broken(f"an RFC 2047 encoded word is inside the address {text!r}")
    return text, end


def _phrase_text(phrase: list[_Token]) -> str:
    """A display name as getaddresses gave it: quoted strings unquoted, one
    space where the header had spaces or a comment, encoded words left for
    :func:`decode_header_value`."""
    parts: list[str] = []
    end = phrase[0].start if phrase else 0
    for token in phrase:
        if token.start != end:
            parts.append(" ")
        parts.append(_UNESCAPE.sub(r"\1", token.text[1:-1]) if token.kind == "quoted" else token.text)
        end = token.start + len(token.text)
    return "".join(parts)


def _shown(value: str) -> str:
    return repr(value if len(value) <= 120 else value[:117] + "...")
