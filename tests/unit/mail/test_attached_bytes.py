"""An attached mail is written back by a short path of our own
(``attachments._attached_bytes``); it must give, byte for byte, what the
standard library's ``BytesGenerator`` gives with the same policy, or raise
what it raises.  Compared on every full mail of the corpus: each mail
itself, and each ``message/*`` part inside it (forwarded mails, bounces'
returned messages, delivery-status blocks), and on shapes the corpus lacks."""

from __future__ import annotations

import email
import email.policy
from email.generator import BytesGenerator
from email.message import Message
from io import BytesIO

import pytest

from gateway.mail import attachments
from tests.helpers.corpus import full_mails, require_corpus


def _generator(message: Message) -> bytes | str:
    buffer = BytesIO()
    try:
        BytesGenerator(buffer, mangle_from_=False, policy=attachments._AS_RECEIVED).flatten(message)
    except Exception as error:  # noqa: BLE001 - what it raises is part of what is compared
        return f"raises {type(error).__name__}"
    return buffer.getvalue()


def _ours(message: Message) -> bytes | str:
    try:
        return attachments._attached_bytes(message)
    except Exception as error:  # noqa: BLE001
        return f"raises {type(error).__name__}"


def _messages(message: Message) -> list[Message]:
    """The message and every message/* part and attached message in it."""
    found, stack = [message], [message]
    while stack and len(found) < 2000:  # bounded: a MIME bomb has thousands
        part = stack.pop()
        if isinstance(part._payload, list):
            for child in part._payload:
                if isinstance(child, Message):
                    stack.append(child)
                    if part.get_content_maintype() == "message" or child.get_content_maintype() == "message":
                        found.append(child)
    return found


def test_every_corpus_mail_and_attached_mail_is_written_as_the_generator_writes_it():
    require_corpus("mail-parser/mails")
    compared = attached = 0
    for path in full_mails():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        for index, one in enumerate(_messages(message)):
            assert _ours(one) == _generator(one), f"{path} (message {index})"
            compared += 1
            attached += index > 0
    assert compared > 1000 and attached > 300, (compared, attached)


@pytest.mark.parametrize("raw", [
    b"Content-Type: multipart/mixed\r\n\r\npreamble\r\n",  # a multipart with no boundary
    b'Content-Type: multipart/signed; boundary="s"; protocol="x"\r\n\r\n--s\r\nA: b\r\n\r\nc\r\n--s--\r\n',
    b'Content-Type: multipart/mixed; boundary="m"\r\n\r\npre\rline\r\n--m\r\n\r\nx\r\n--m--\r\nepi\nlogue',
    b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m--\r\n',  # no part at all
    b"Content-Type: message/rfc822\r\n\r\n",  # an empty attached mail
    b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nRnJvbTogYUBi\r\n",
    b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\nFinal-Recipient: a\r\n",
    b"Content-Type: text/plain\r\n\r\n8-bit \xe9 and\rold\rmac\r\nlines",
    b"Subject: no body",
])
def test_shapes_the_corpus_may_lack_are_written_as_the_generator_writes_them(raw: bytes):
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert _ours(message) == _generator(message)


def test_a_payload_set_by_code_goes_through_the_generator():
    message = Message()
    message["Content-Type"] = "message/rfc822"
    message.set_payload("From: á@b\n\nx")  # a string, not a parsed mail: the generator's strict ASCII
    assert _ours(message) == _generator(message) == "raises UnicodeEncodeError"
