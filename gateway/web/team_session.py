"""The team page's session cookie: a random token, signed, backed by a row.

Why a server-side row and not a self-contained signed cookie: logout must
end the session for good.  A signed cookie that carries the login stays
valid until it expires, whoever replays it; a list of revoked cookies in
memory would be forgotten at a restart and not shared between nodes.  So
the cookie carries only ``<token>.<mac>``:

- ``token``: 32 random bytes (URL-safe base64), the session's name;
- ``mac``: HMAC-SHA256 of the token under ``[web] secret`` (the secret that
  signs the links in mails), so an altered or invented cookie is refused
  without touching the database.

The ``team_session`` row (``gateway.store.team``) is keyed by the token's
SHA-256, never the token, so a copy of the database opens no session; it
holds the login and the expiry.  Logout deletes the row: the old cookie,
replayed, finds nothing.  The cookie is HttpOnly, SameSite=Strict, Secure
when ``[web] base_url`` is https, and lives no longer than the row.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

COOKIE: Final = "gateway_team"
#: Only the team page's paths get the cookie.
PATH: Final = "/equipe"
_PURPOSE: Final = b"gateway.team-session.v1|"


def new_cookie(secret: str) -> str:
    """A new session's cookie value: ``<token>.<mac>``."""
    token = secrets.token_urlsafe(32)
    return f"{token}.{_mac(secret, token)}"


def token_of(secret: str, cookie: str | None) -> str | None:
    """The token of a cookie this secret signed, else None (missing, altered, invented)."""
    if not cookie or cookie.count(".") != 1 or len(cookie) > 200:
        return None
    token, mac = cookie.split(".")
    if not token or not hmac.compare_digest(_mac(secret, token), mac):
        return None
    return token


def token_hash(token: str) -> str:
    """What the database keeps of a token (hex SHA-256)."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _mac(secret: str, token: str) -> str:
    return hmac.new(secret.encode(), _PURPOSE + token.encode("ascii", "replace"), hashlib.sha256).hexdigest()
