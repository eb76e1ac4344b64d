"""Signed, expiring, per-ticket, per-action links (track, accept, refuse, survey).

Nobody in PITFALLS item 5 both signs and expires their links; we do both.
A token names one ticket and one action; it is signed with the web secret
and carries its creation time, so ``verify`` can refuse an old one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.url_safe import URLSafeSerializerMixin

from gateway.errors import LinkError

# No "solution" action: a link that decides must only ever have gone to the
# requester, and the tracking page (whose link the team gets too) no longer
# mints one; tokens it minted before are refused by the pages.
ACTIONS: Final = ("track", "accept", "refuse", "survey")
_SALT: Final = "gateway.links.v1"
_PATHS: Final = {"track": "t", "accept": "s", "refuse": "s", "survey": "p"}
_DEFLATE_FROM: Final = 200  # bytes of JSON: shorter payloads are not worth trying to deflate


@dataclass(frozen=True)
class LinkClaim:
    protocol: str
    action: str
    extra: str = ""


def make_token(secret: str, protocol: str, action: str, extra: str = "") -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown link action {action!r}; expected one of {', '.join(ACTIONS)}")
    return _signed(secret, protocol, action, extra, int(time.time()))


@lru_cache(maxsize=256)
def _signed(secret: str, protocol: str, action: str, extra: str, second: int) -> str:
    """The token signed in ``second``: the acknowledgement and the team's
    notice of one mail carry the same tracking link, and itsdangerous
    stamps whole seconds, so the second signature would be the same bytes."""
    return _serializer(secret).dumps([protocol, action, extra])


def make_url(base_url: str, secret: str, protocol: str, action: str, extra: str = "") -> str:
    return f"{base_url.rstrip('/')}/{_PATHS[action]}/{make_token(secret, protocol, action, extra)}"


def verify(secrets: str | tuple[str, ...], token: str, *, action: str, max_age_seconds: int) -> LinkClaim:
    """The claim of a token signed with ``secrets`` (the web secret, or the
    current one and those before it: ``WebConfig.verifying_secrets``)."""
    keys = (secrets,) if isinstance(secrets, str) else secrets
    try:
        protocol, claimed, extra = _verifier(keys).loads(token, max_age=max_age_seconds)
    except SignatureExpired as exc:
        raise LinkError("the link has expired") from exc
    except (BadSignature, ValueError, TypeError) as exc:
        raise LinkError("the link is not valid (altered or incomplete)") from exc
    if claimed != action:
        raise LinkError(f"the link is for {claimed!r}, not {action!r}")
    return LinkClaim(protocol, claimed, extra)


class _Serializer(URLSafeTimedSerializer):
    """itsdangerous's URL-safe timed tokens, without the attempt to deflate a
    short payload: ``["ATD-2026-000001-3", "track", ""]`` never shrinks by
    deflate's framing, and setting up a compressor for each try was most of
    signing a link (36 of 49 us), once for every new ticket.  ``loads``
    reads both forms, so tokens signed before stay valid."""

    def dump_payload(self, obj: object) -> bytes:
        json = super(URLSafeSerializerMixin, self).dump_payload(obj)  # the compact JSON, before the mixin's deflate
        return super().dump_payload(obj) if len(json) > _DEFLATE_FROM else base64_encode(json)


@lru_cache(maxsize=8)
def _serializer(secret: str) -> URLSafeTimedSerializer:
    """One per secret: building it derives keys, and every mail signs a link."""
    return _Serializer(secret, salt=_SALT)


@lru_cache(maxsize=8)
def _verifier(keys: tuple[str, ...]) -> URLSafeTimedSerializer:
    """Reads what any of ``keys`` signed (itsdangerous tries each; it
    takes the newest last)."""
    return _Serializer(list(reversed(keys)), salt=_SALT) if len(keys) > 1 else _serializer(keys[0])
