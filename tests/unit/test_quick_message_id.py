"""The inbox's Message-ID, read from the header block without a parse
(``gateway quarantine list`` and the duplicate check's listing use it)."""

from __future__ import annotations

import pytest

from gateway.delivery import quick_message_id


@pytest.mark.parametrize(("raw", "expected"), [
    (b"Message-ID: <a1@example.org>\r\nSubject: x\r\n\r\nbody", "a1@example.org"),  # the very first header
    (b"Subject: x\r\nmessage-id:<a2@example.org>\r\n\r\nbody", "a2@example.org"),  # any case, no space
    (b"X-Original-Message-ID: <old@example.org>\r\nMessage-Id: <a3@example.org>\r\n\r\n", "a3@example.org"),
    (b"Subject: see Message-ID: <not@example.org>\nMessage-ID:\n <a4@example.org>\n\nbody", "a4@example.org"),
    (b"Subject: x\r\n\r\nMessage-ID: <in-body@example.org>\r\n", None),  # the body is not the header
    (b"Subject: x\r\nX-Message-ID: <x@example.org>\r\n\r\n", None),
    (b"Message-ID:\r\nMessage-ID: <a5@example.org>\r\n\r\n", "a5@example.org"),  # an empty one, then a real one
    (b"Message-ID: <>\nMessage-Id: <a6@example.org>\n\n", "a6@example.org"),
    (b"Subject: x\rMessage-ID: <bare-cr@example.org>\n\n", None),  # a bare CR ends no line here
])
def test_the_header_field_and_only_it_is_read(raw: bytes, expected: str | None) -> None:
    assert quick_message_id(raw) == expected
