"""Normalise and compare e-mail addresses, and read the ``+token`` part.

Routing and sender checks compare addr-specs many times per mail; doing
the normalisation in one place keeps "Ana <ANA@Example.org>" and
"ana@example.org" the same person everywhere.  Local parts are compared
case-insensitively on purpose: RFC 5321 allows case-sensitive mailboxes,
but no provider our citizens use has them, and treating them as distinct
would split one citizen into two requesters.
"""

from __future__ import annotations

from typing import Final

#: Local parts that send bounces and other machine mail (RFC 5321 4.5.1, RFC 2142).
DAEMON_LOCAL_PARTS: Final = frozenset(
    {"mailer-daemon", "mailer_daemon", "mailerdaemon", "mail-daemon", "postmaster",
     "mail.daemon", "mdaemon", "mailerdaemon-noreply", "post_master"}
)


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
