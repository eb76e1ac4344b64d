"""Message-IDs we create, in our own domain, so replies find their ticket."""

from __future__ import annotations

import re

from gateway.mail import randomness

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def new_message_id(kind: str, domain: str) -> str:
    """``ack.3f9c0d1e2b4a5968@example.gov.br``, without angle brackets."""
    return f"{_SAFE.sub('', kind)}.{randomness.token_hex(8)}@{domain}"


def bracket(message_id: str) -> str:
    return f"<{message_id}>"
