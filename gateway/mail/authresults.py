"""Read ``Authentication-Results`` (RFC 8601) added by an MTA we trust.

Anyone can write such a header, so only those whose authserv-id is in
``[auth] trusted_authserv_ids`` count; the MTA in front is expected to
strip copies that arrive from outside.  A pass counts only when it is
aligned with the From domain, so a spammer's own DKIM signature proves
nothing about an analyst's address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_RESULT = re.compile(r"\b(dkim|spf|dmarc)\s*=\s*(\w+)([^;]*)", re.IGNORECASE)
_PROPERTY = re.compile(r"\b(header\.d|header\.i|header\.from|smtp\.mailfrom|smtp\.from)\s*=\s*([^\s;]+)",
                       re.IGNORECASE)


def aligned_pass(headers: Iterable[str], *, from_domain: str, trusted: Iterable[str]) -> str | None:
    """The method that proves ``from_domain`` (e.g. ``"dkim"``), or None."""
    trusted_ids = {t.lower() for t in trusted}
    domain = from_domain.lower()
    for header in headers:
        authserv_id = header.split(";", 1)[0].strip().split()[0].lower() if header.strip() else ""
        if authserv_id not in trusted_ids:
            continue
        for method, result, properties in _RESULT.findall(header):
            if result.lower() != "pass":
                continue
            for _name, value in _PROPERTY.findall(properties):
                value_domain = value.rsplit("@", 1)[-1].strip("<>").lower()
                if value_domain == domain:
                    return method.lower()
    return None
