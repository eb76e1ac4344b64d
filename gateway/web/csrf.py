"""CSRF protection without a library: a signed double submit.

A random value goes in a cookie (HttpOnly, SameSite=Lax); each form
carries ``HMAC(secret, value | path)``.  Another site can make a browser
send the cookie, but it cannot read it, so it cannot compute the field;
binding the path means a token from one form is no good on another.
A POST without the cookie, without the field, or with a wrong field is
refused before anything is read from the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

COOKIE: Final = "gateway_csrf"
FIELD: Final = "csrf_token"


def new_value() -> str:
    return secrets.token_urlsafe(32)


def form_token(secret: str, value: str, path: str) -> str:
    message = f"csrf|{value}|{path}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def valid(secret: str, value: str | None, path: str, submitted: str | None) -> bool:
    if not value or not submitted:
        return False
    return hmac.compare_digest(form_token(secret, value, path), submitted)
