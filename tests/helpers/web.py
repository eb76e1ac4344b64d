"""Helpers for the pages' tests: links out of mails, form tokens out of
pages, and tokens that are old or altered."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage
from typing import Any

from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from gateway import links

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def text_of(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def link_in(mail: EmailMessage, letter: str) -> str:
    """The first ``/<letter>/<token>`` link in a mail's text part."""
    found = re.search(rf"(https?://\S+/{letter}/[A-Za-z0-9_.\-]+)", text_of(mail))
    assert found, f"no /{letter}/ link in:\n{text_of(mail)}"
    return found.group(1)


def path_of(url: str) -> str:
    """``/t/<token>`` of ``http://host:port/t/<token>``: a link asked of the server a client is bound to."""
    return "/" + url.split("/", 3)[3]


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def old_token(secret: str, protocol: str, action: str, extra: str = "", *, days: int = 31) -> str:
    """A correctly signed token made ``days`` ago (links.make_token with an older clock)."""
    class _Earlier(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - days * 86400

    return URLSafeTimedSerializer(secret, salt=links._SALT, signer=_Earlier).dumps([protocol, action, extra])


def tampered(token: str) -> str:
    """The same token with one character of the payload changed."""
    index = 3
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1:]


def ticket_events(running: Any, protocol: str) -> list[str]:
    return [e["kind"] for e in running.ticket(protocol)["events"]]
