"""Normalise and compare e-mail addresses, and read the ``+token`` part.

Routing and sender checks compare addr-specs many times per mail; doing
the normalisation in one place keeps "Ana <ANA@Example.org>" and
"ana@example.org" the same person everywhere.  Local parts are compared
case-insensitively on purpose: RFC 5321 allows case-sensitive mailboxes,
but no provider our citizens use has them, and treating them as distinct
would split one citizen into two requesters.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

#: Local parts that send bounces and other machine mail (RFC 5321 4.5.1, RFC 2142).
DAEMON_LOCAL_PARTS: Final = frozenset(
    {"mailer-daemon", "mailer_daemon", "mailerdaemon", "mail-daemon", "postmaster",
     "mail.daemon", "mdaemon", "mailerdaemon-noreply", "post_master"}
)

_ATEXT: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: The ASCII dot-atom@hostname shape nearly every real address has; anything
#: else takes the slower path of :func:`addr_spec_problem`, which names the fault.
PLAIN_ADDRESS: Final = rf"{_ATEXT}+(?:\.{_ATEXT}+)*@{_LABEL}(?:\.{_LABEL})+"
_PLAIN_ADDRESS: Final = re.compile(PLAIN_ADDRESS)
_ASCII_ATEXT: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-")
_ASCII_LABEL: Final = re.compile(_LABEL)
_MAX_ADDRESS: Final = 254  # RFC 5321 4.5.3.1.3: a path is 256 octets with its angle brackets
_MAX_LOCAL: Final = 64  # RFC 5321 4.5.3.1.1
_MAX_DOMAIN: Final = 255  # RFC 5321 4.5.3.1.2


def normalise(address: str) -> str:
    """Lower-cased bare addr-spec; ``"Ana <Ana@Example.org> "`` → ``"ana@example.org"``."""
    text = address.strip()
    if "<" in text and text.rstrip().endswith(">"):
        text = text[text.rfind("<") + 1 : -1]
    return text.strip().strip("<>").strip().lower()


def split_token(address: str) -> tuple[str, str | None]:
    """Split a sub-address: ``cnes+ATD-2026-000001-7@example.gov.br`` →
    ``("cnes@example.gov.br", "ATD-2026-000001-7")``.

    The mailbox part is normalised; the token keeps its case because
    protocols are written in upper case.  No ``+`` (or an empty token)
    gives ``(address, None)``.
    """
    text = address.strip()
    if "<" in text and text.endswith(">"):
        text = text[text.rfind("<") + 1 : -1]
    local, at, domain = text.strip().rpartition("@")
    if not at:
        return normalise(text), None
    base, plus, token = local.partition("+")
    if not plus:
        return normalise(text), None
    return normalise(f"{base}@{domain}"), token or None


def domain_of(address: str) -> str:
    """The domain of an address, lower-cased; ``""`` when there is none."""
    return normalise(address).rpartition("@")[2] if "@" in address else ""


def is_null_or_daemon(address: str | None) -> bool:
    """True for the null sender (``""``/``<>``) and mailer-daemon/postmaster.

    These are the senders of bounces: never answer them (RFC 3834 section 2).
    """
    if address is None:
        return True
    normal = normalise(address)
    if not normal:
        return True
    local = normal.rpartition("@")[0] if "@" in normal else normal
    return local in DAEMON_LOCAL_PARTS


def addr_spec_problem(address: str) -> str:
    """What makes ``address`` an addr-spec no relay would take, or ``""``.

    Strict on purpose: this decides whether a mail's sender may
    become a requester, and everything we later send goes to that address
    on an SMTP command line.  Accepted: a dot-atom or quoted local part
    (RFC 5321 4.1.2, RFC 5322 3.4.1; UTF-8 allowed, RFC 6532) at a domain
    of LDH labels, IDN labels that IDNA can encode, or an address literal.
    Refused, naming the part: control characters (NUL, CR/LF, ...), any
    whitespace (a quoted local part with a space is legal, but no citizen's
    provider issues one, and relays and our own logs split on it), empty
    labels and dots where they cannot be, a domain that is not fully
    qualified (``x@y``, ``root@localhost``: RFC 5321 2.3.5, no relay
    routes it), and parts longer than RFC 5321 allows.

    >>> addr_spec_problem("ana.souza@cidadã.example")
    ''
    >>> addr_spec_problem("poison\\x00@cidada.example")
    'the local part has a NUL character'
    """
    if _PLAIN_ADDRESS.fullmatch(address) and len(address) <= _MAX_ADDRESS and address.find("@") <= _MAX_LOCAL:
        return ""
    if not address:
        return "the address is empty"
    if address.startswith('"'):
        local, domain, problem = _split_quoted(address)
    else:
        local, at, domain = address.partition("@")
        problem = "" if at else "there is no '@'"
        problem = problem or ("there is more than one '@' outside quotes" if "@" in domain else "")
        problem = problem or _dot_atom_problem(local)
    if not problem and len(address.encode("utf-8", "surrogatepass")) > _MAX_ADDRESS:
        problem = f"the address is longer than {_MAX_ADDRESS} octets (RFC 5321 4.5.3.1)"
    if not problem and len(local.encode("utf-8", "surrogatepass")) > _MAX_LOCAL:
        problem = f"the local part is longer than {_MAX_LOCAL} octets (RFC 5321 4.5.3.1.1)"
    return problem or _domain_problem(domain)


def ascii_domain(address: str) -> str:
    """``address`` with a non-ASCII domain written in IDNA (punycode):
    ``joana@cidadã.example`` → ``joana@xn--cidad-era.example``, so a relay
    without SMTPUTF8 can take it.  Unchanged when the domain is ASCII or
    cannot be encoded (the relay will then say so)."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return address


def _split_quoted(address: str) -> tuple[str, str, str]:
    """(local part, domain, problem) of an address whose local part is quoted."""
    index, escaped = 1, False
    while index < len(address):
        char = address[index]
        problem = _character_problem(char, "the quoted local part")
        if problem:
            return "", "", problem
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            break
        index += 1
    else:
        return "", "", "the quoted local part has no closing '\"'"
    local, rest = address[: index + 1], address[index + 1:]
    if not rest.startswith("@"):
        return local, "", "the quoted local part is not followed by '@'"
    if local == '""':
        return local, "", "the local part is empty"
    return local, rest[1:], ""


def _dot_atom_problem(local: str) -> str:
    if not local:
        return "the local part is empty"
    for char in local:
        problem = _character_problem(char, "the local part")
        if problem:
            return problem
        if char.isascii() and char != "." and char not in _ASCII_ATEXT:
            return f"the local part has {char!r}, which is only allowed inside quotes"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "the local part has a dot at its start or end, or two in a row"
    return ""


def _character_problem(char: str, where: str) -> str:
    """Name a character no SMTP command line can carry, or ``""``."""
    if char == "\x00":
        return f"{where} has a NUL character"
    if char in "\r\n":
        return f"{where} has a line break (CR/LF)"
    if char.isspace():
        return f"{where} has a space ({char!r})"
    if not char.isprintable():
        return f"{where} has the control character U+{ord(char):04X}"
    return ""


def _domain_problem(domain: str) -> str:
    if not domain:
        return "the domain is empty"
    if domain.startswith("["):
        return _literal_problem(domain)
    if domain.endswith("."):
        return f"the domain {domain!r} ends with a dot"
    for label in domain.split("."):
        if not label:
            return f"the domain {domain!r} has an empty label (two dots in a row, or a leading dot)"
        problem = next(filter(None, (_character_problem(char, "the domain") for char in label)), "")
        if problem:
            return problem
        if label.isascii():
            if not _ASCII_LABEL.fullmatch(label):
                return (f"the domain label {label!r} is not letters, digits and inner hyphens "
                        "(at most 63)")
            continue
        try:
            encoded = label.encode("idna")
        except UnicodeError as error:
            return f"the domain label {label!r} cannot be written in IDNA: {error}"
        if not _ASCII_LABEL.fullmatch(encoded.decode("ascii")):
            return f"the domain label {label!r} is not a valid internationalised label"
    if len(ascii_domain(f"@{domain}")) - 1 > _MAX_DOMAIN:
        return f"the domain is longer than {_MAX_DOMAIN} octets"
    if "." not in domain:
        return f"the domain {domain!r} is not fully qualified (RFC 5321 2.3.5): no relay can route it"
    return ""


def _literal_problem(domain: str) -> str:
    """``[192.0.2.1]`` or ``[IPv6:2001:db8::1]`` (RFC 5321 4.1.3), nothing else."""
    if not domain.endswith("]"):
        return f"the address literal {domain!r} has no closing ']'"
    inner = domain[1:-1]
    try:
        if inner[:5].lower() == "ipv6:":
            ipaddress.IPv6Address(inner[5:])
        else:
            ipaddress.IPv4Address(inner)
    except ValueError:
        return f"the address literal {domain!r} is neither [IPv4 address] nor [IPv6:IPv6 address]"
    return ""
