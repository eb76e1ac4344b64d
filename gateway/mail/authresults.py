"""What the MTA in front of us says about a mail's sender (RFC 8601).

Anyone can write an ``Authentication-Results`` header, so this module
believes only the ones the border MTA added, and only when the mail
really came through that MTA:

- **the path**: the caller says whether the mail arrived through a border
  we trust (LMTP or pipe delivery, an IMAP account, or SMTP from
  ``[smtp] trusted_networks``).  On the public listener the gateway *is*
  the border and verifies nothing itself, so every header claiming a
  trusted authserv-id there is a forgery: all are ignored, and said so.
- **the place** (RFC 8601 section 5): an MTA prepends its headers, so its
  own are the topmost.  The trusted block is the first run of consecutive
  headers with a trusted authserv-id, found by skipping only the trace
  headers MTAs prepend (``Received``, ``Return-Path``, ``Delivered-To``,
  ``ARC-*``...).  The first header a sender's client writes (``From``,
  ``Subject``, ``X-Anything``) ends the search: whatever is below it came
  from outside.
- **the words**: parsed by RFC 8601's grammar (comments, nested or not,
  and quoted strings read as such), so a ``dkim=pass`` inside a comment is
  a comment; a header that does not fit the grammar counts for nothing.  A
  method that both passes and fails in the block does not pass, and a
  DMARC verdict other than pass for the From domain outweighs any pass: a
  forged pass written just below our MTA's failing header (the MTA forgot
  to strip it) counts for nothing.

The parser is ours, a lexer and a dozen lines of grammar: ``authres``
(the reference implementation, kept as the tests' oracle on every such
header of the mail corpus) cost a large share of processing a mail
(``bench/results/notes.md``), and every mail from the MTA in front
carries one.

Even so, the MTA must remove incoming headers that carry its own
authserv-id (RFC 8601 section 5, e.g. OpenDKIM's ``RemoveARAll``): a
forged header placed exactly where a second milter of ours would write is
indistinguishable from it.  The README's Security model says so.

A pass counts only when it is *aligned* with the From domain: a DKIM
signature with ``header.d`` equal to it, an SPF pass whose
``smtp.mailfrom`` is in it, or a DMARC pass with ``header.from`` equal to
it; a spammer's own valid DKIM signature proves nothing about an
analyst's address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

#: Headers an MTA (or its filters) prepends above the message it received.
_TRACE: Final = frozenset({
    "received", "return-path", "delivered-to", "x-original-to", "received-spf", "arc-seal",
    "arc-message-signature", "arc-authentication-results", "x-envelope-from", "x-envelope-to", "x-greylist",
    "dkim-filter", "x-virus-scanned", "x-virus-status", "x-amavis-alert", "x-quarantine-id",
})
_TRACE_PREFIXES: Final = ("x-spam-", "x-virus-", "x-amavis-")
#: The property that names the domain each method speaks for.
_DOMAIN_OF: Final = {"dkim": ("header", "d"), "spf": ("smtp", "mailfrom"), "dmarc": ("header", "from")}
_METHODS: Final = ("dmarc", "dkim", "spf")


class MethodResult(NamedTuple):
    """One ``method=result`` of a trusted header, with the domain it speaks for."""

    method: str  # dkim, spf, dmarc
    result: str  # pass, fail, none, softfail, neutral, temperror, permerror, policy
    domain: str  # header.d, the smtp.mailfrom domain, header.from; "" when the header gave none
    authserv_id: str


@dataclass(frozen=True)
class Evidence:
    """What trusted headers say about one mail; ``notes`` say what was ignored and why."""

    results: tuple[MethodResult, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def present(self) -> bool:
        """Whether a trusted MTA said anything about SPF, DKIM or DMARC."""
        return bool(self.results)

    def aligned_pass(self, from_domain: str) -> str | None:
        """The method that proves ``from_domain`` (``"dmarc"``, ``"dkim"``,
        ``"spf"``), or None.  A method the block also reports as anything but
        a pass for that domain (or for no domain) proves nothing."""
        domain = from_domain.lower().rstrip(".")
        if not domain:
            return None
        if any(r.method == "dmarc" and r.domain == domain and r.result != "pass" for r in self.results):
            return None  # DMARC judged the From domain, and not well: no other method overrules it
        for method in _METHODS:
            mine = [r for r in self.results if r.method == method and (r.domain in (domain, "") or
                                                                        _within(domain, r.domain, method))]
            passes = [r for r in mine if r.result == "pass" and _aligned(domain, r.domain, method)]
            if passes and all(r.result == "pass" for r in mine):
                return method
        return None

    def failed(self, from_domain: str) -> bool:
        """The trusted MTA judged this mail and the From domain did not
        come out proven: a DMARC fail, or neither SPF nor DKIM aligned."""
        return self.present and self.aligned_pass(from_domain) is None

    def summary(self, from_domain: str) -> str:
        """One line for the timeline and ``explain``: what proved the sender, or why nothing did."""
        if not self.present:
            return "no trusted Authentication-Results"
        method = self.aligned_pass(from_domain)
        said = ", ".join(f"{r.method}={r.result}" + (f" ({r.domain})" if r.domain else "") for r in self.results)
        verdict = f"{method} pass aligned with {from_domain}" if method else f"nothing aligned with {from_domain}"
        return f"{verdict}: {said} from {self.results[0].authserv_id}"


NO_EVIDENCE: Final = Evidence()


def trusted_evidence(headers: Sequence[tuple[str, str]], trusted_ids: Iterable[str], *,
                     trusted_path: bool) -> Evidence:
    """Read the trusted block of ``headers`` (raw name/value pairs, top first).

    ``trusted_path`` is whether the mail came through the MTA we trust;
    without it every header claiming a trusted id is ignored, with a note.
    """
    trusted = frozenset(t.strip().lower() for t in trusted_ids if t.strip())
    if not trusted:
        return NO_EVIDENCE
    if not trusted_path:
        claimed = sum(1 for name, value in headers
                      if name.lower() == "authentication-results" and _claimed_id(value) in trusted)
        if not claimed:
            return NO_EVIDENCE
        return Evidence(notes=(f"ignored {claimed} Authentication-Results header(s) claiming a trusted "
                               "authserv-id: the mail did not come through the trusted MTA",))
    results: list[MethodResult] = []
    notes: list[str] = []
    used = 0  # trusted-id headers read in the block
    for name, value in headers:
        lower = name.lower()
        if lower == "authentication-results":
            claimed = _claimed_id(value)
            if claimed in trusted:
                parsed = _parse(value)
                if parsed is None:
                    notes.append(f"ignored an unreadable Authentication-Results from {claimed}")
                else:
                    results.extend(parsed)
                used += 1
                continue
            if used:
                break
            continue  # another host's header above ours: an MTA further in, or an untrusted filter
        if used or not (lower in _TRACE or lower.startswith(_TRACE_PREFIXES)):
            break
    below = sum(1 for name, value in headers
                if name.lower() == "authentication-results" and _claimed_id(value) in trusted) - used
    if below:
        notes.append(f"ignored {below} Authentication-Results header(s) with a trusted authserv-id below "
                     "the trusted block: written by the sender, not by our MTA")
    return Evidence(tuple(results), tuple(notes))


def _claimed_id(value: str) -> str:
    """The authserv-id a header claims, read without the full parser (cheap)."""
    text = " ".join(value.split())
    head = text.split(";", 1)[0].strip()
    while head.startswith("("):  # a leading comment
        head = head.partition(")")[2].strip()
    return head.split(" ", 1)[0].lower() if head else ""


def _parse(value: str) -> list[MethodResult] | None:
    """The header's results for the methods we read, or None when it does
    not fit RFC 8601's grammar."""
    parsed = parse_header(value)
    if parsed is None:
        return None
    authserv_id, results = parsed
    found = []
    for method, result, properties in results:
        if method not in _DOMAIN_OF:
            continue
        ptype, pname = _DOMAIN_OF[method]
        domain = properties.get(f"{ptype}.{pname}", "").rsplit("@", 1)[-1].strip("<>").lower().rstrip(".")
        found.append(MethodResult(method, result, domain, authserv_id))
    return found


#: One token: a quoted string, a comment's start, a special, or a run of anything else.
_TOKEN: Final = re.compile(r'(\s*)("(?:[^"\\]|\\.)*"?|[;=/]|[^\s";=/]+)', re.S)

Result = tuple[str, str, dict[str, str]]  # (method, result, {"ptype.property": value})


def parse_header(value: str) -> tuple[str, list[Result]] | None:
    """``Authentication-Results`` (RFC 8601 section 2.2) as (authserv-id,
    [(method, result, properties)]), names lower-cased; None when it does
    not fit.  Comments, nested or not, are dropped; quoted strings are values."""
    lexed = _tokens(value)
    if not lexed or lexed[0][0] in _SPECIALS:
        return None
    authserv_id, rest = _unquoted(lexed[0][0]).lower(), lexed[1:]
    if rest and rest[0][0].isdigit():  # authres-version
        rest = rest[1:]
    if not rest:
        return None
    if [token.lower() for token, _ in rest] == [";", "none"]:
        return authserv_id, []
    results: list[Result] = []
    while rest:
        if rest[0][0] != ";":
            return None
        rest = rest[1:]
        if not rest:  # a trailing ";" (seen from real MTAs): nothing more
            break
        parsed = _resinfo(rest)
        if parsed is None:
            return None
        result, rest = parsed
        results.append(result)
    return authserv_id, results


_SPECIALS: Final = frozenset({";", "=", "/"})
Lexed = list[tuple[str, bool]]  # (token, whether it follows the one before without a space or comment)


def _resinfo(lexed: Lexed) -> tuple[Result, Lexed] | None:
    """``method[/version]=result [reason=value] *(ptype.property=value)``, up to the next ";"."""
    end = next((index for index, (token, _) in enumerate(lexed) if token == ";"), len(lexed))
    part, rest = [token for token, _ in lexed[:end]], lexed[end:]
    if len(part) >= 5 and part[1] == "/" and part[3] == "=":  # method/version = result
        method, result, tail = part[0], part[4], lexed[5:end]
    elif len(part) >= 3 and part[1] == "=":
        method, result, tail = part[0], part[2], lexed[3:end]
    else:
        return None
    if method in _SPECIALS or result in _SPECIALS:
        return None
    properties: dict[str, str] = {}
    while tail:
        if len(tail) < 2 or tail[1][0] != "=" or tail[0][0] in _SPECIALS:
            return None
        key, tail = tail[0][0].lower(), tail[2:]
        if key != "reason" and ("." not in key or key.startswith(".") or key.endswith(".")):
            return None
        pieces: list[str] = []  # a value may hold "=" and "/" (a local part such as a+b=c@x): glued tokens
        while tail and (not pieces or tail[0][1]):
            pieces.append(_unquoted(tail[0][0]))
            tail = tail[1:]
        if pieces and pieces[0] in _SPECIALS:
            return None
        properties.setdefault(key, "".join(pieces))  # "smtp.mailfrom=" and nothing: an empty value
    return (method.lower(), result.lower(), properties), rest


def _tokens(value: str) -> Lexed | None:
    """The header's tokens without white space and comments, each with
    whether it is glued to the one before; None on an unbalanced comment or
    quote."""
    text = " ".join(value.split())
    if "(" in text or ")" in text:
        text = _without_comments(text)
        if text is None:
            return None
    pairs = _TOKEN.findall(text)
    if sum(len(space) + len(token) for space, token in pairs) != len(text.rstrip()):
        return None  # something no token matches
    lexed: Lexed = [(token, not space and index > 0) for index, (space, token) in enumerate(pairs)]
    if any(token.startswith('"') and (len(token) < 2 or not token.endswith('"')) for token, _ in lexed):
        return None
    return _joined_dots(lexed) if "." in text and any(t[0] == "." or t[-1] == "." for t, _ in lexed) else lexed


def _without_comments(text: str) -> str | None:
    """``text`` with its comments (nested, with escapes) as single spaces,
    quoted strings untouched; None when a comment or quote is left open."""
    out: list[str] = []
    depth, quoted, position = 0, False, 0
    while position < len(text):
        char = text[position]
        if char == "\\" and (depth or quoted):
            if not depth:
                out.append(text[position:position + 2])
            position += 2
            continue
        if quoted:
            quoted = char != '"'
            out.append(char)
        elif char == "(":
            depth += 1
            if depth == 1:
                out.append(" ")
        elif char == ")":
            if not depth:
                return None
            depth -= 1
        elif depth:
            pass
        else:
            quoted = char == '"'
            out.append(char)
        position += 1
    return None if depth or quoted else "".join(out)


def _joined_dots(lexed: Lexed) -> Lexed:
    """``header . d`` (white space is allowed around the dot) as ``header.d``."""
    joined: Lexed = []
    for token, glued in lexed:
        if joined and (token.startswith(".") or joined[-1][0].endswith(".")) \
                and joined[-1][0] not in _SPECIALS and token not in _SPECIALS:
            joined[-1] = (joined[-1][0] + token, joined[-1][1])
        else:
            joined.append((token, glued))
    return joined


def _unquoted(token: str) -> str:
    if len(token) >= 2 and token.startswith('"') and token.endswith('"'):
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def _aligned(from_domain: str, domain: str, method: str) -> bool:
    """DMARC already checked alignment; DKIM's d= must be the From domain;
    SPF's mail-from domain the From domain or a subdomain of it."""
    if not domain:
        return False
    if method == "spf":
        return domain == from_domain or domain.endswith("." + from_domain)
    return domain == from_domain


def _within(from_domain: str, domain: str, method: str) -> bool:
    return method == "spf" and bool(domain) and domain.endswith("." + from_domain)
