"""A mail converted for a relay without 8BITMIME (RFC 6152): 7 bits out, every byte the reader sees kept."""

from __future__ import annotations

from email import message_from_bytes, policy

from gateway.mail.seven_bit import to_seven_bit


def _walk(raw: bytes) -> list[tuple[str, bytes | None]]:
    mail = message_from_bytes(raw, policy=policy.compat32)
    return [(part.get_content_type(), None if part.is_multipart() else part.get_payload(decode=True))
            for part in mail.walk()]


def test_an_ascii_mail_is_left_as_it_is():
    raw = b"From: a@example.org\r\nSubject: oi\r\n\r\nCorpo\r\n"
    assert to_seven_bit(raw) is raw


def test_every_eight_bit_part_keeps_its_bytes_whatever_charset_it_names():
    """A part naming no charset (the ``email`` package's own conversion
    raises on it), one in Latin-1 inside a forwarded mail, 8-bit headers
    and preamble: the result is ASCII and each part decodes to the bytes
    it had."""
    inner_body = "Olá, não recebi.".encode("latin-1")  # the CRLF after it is the boundary's
    raw = ("From: Zé <ze@example.org>\r\nSubject: Certidão\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=b\r\n\r\npreâmbulo\r\n"
           "--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\nNão recebi\r\n"
           "--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           "From: x@example.org\r\nSubject: Ção\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + inner_body + b"\r\n--b--\r\n"
    converted = to_seven_bit(raw)
    assert converted.isascii()
    assert _walk(converted) == [("multipart/mixed", None), ("text/plain", "Não recebi".encode()),
                                ("message/rfc822", None), ("text/plain", inner_body)]
    mail = message_from_bytes(converted, policy=policy.default)
    assert mail["From"].addresses[0].addr_spec == "ze@example.org"
    [forwarded] = list(mail.iter_attachments())
    assert forwarded["Content-Transfer-Encoding"] == "7bit", "a mail in a mail is 7 bits now, and says so"


def test_parts_already_in_seven_bits_are_not_touched():
    raw = ("Subject: =?utf-8?q?Certid=C3=A3o?=\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
           "--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
           "N=C3=A3o\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           "<p>Não</p>\r\n--b--\r\n").encode()
    converted = to_seven_bit(raw)
    assert b"Content-Transfer-Encoding: quoted-printable\r\n\r\nN=C3=A3o\r\n" in converted
    assert _walk(converted)[1:] == [("text/plain", "Não".encode()), ("text/html", "<p>Não</p>".encode())]
