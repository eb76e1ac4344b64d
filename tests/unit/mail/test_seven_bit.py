"""A mail converted for a relay without 8BITMIME (RFC 6152): 7 bits out, every byte the reader sees kept."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from gateway.mail.seven_bit import Unconvertible, to_seven_bit


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


def test_an_address_keeps_its_meaning_and_a_domain_goes_in_idna():
    raw = "From: Zé <ze@cidadã.example>\r\nTo: a@example.org\r\nSubject: Olá\r\n\r\nCorpo é\r\n".encode()
    mail = message_from_bytes(to_seven_bit(raw), policy=policy.default)
    [sender] = mail["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Zé", "ze@xn--cidad-era.example")
    assert mail["Subject"] == "Olá"


@pytest.mark.parametrize("field", [
    'Content-Type: application/pdf; name="relatório.pdf"',  # no encoded word inside a parameter (RFC 2047 5)
    "Message-ID: <ação@example.org>",
    "From: Zé <josé@example.org>",  # a local part IDNA cannot write
])
def test_what_seven_bits_cannot_say_the_same_is_refused_not_mangled(field):
    """An encoded word there would change the field's meaning (a type the
    reader no longer knows, an id or an address no one has): the caller
    sends the mail as it came instead (``outbound.delivery``)."""
    raw = f"{field}\r\nSubject: x\r\n\r\nCorpo é\r\n".encode()
    with pytest.raises(Unconvertible):
        to_seven_bit(raw)


def test_a_text_goes_in_quoted_printable_and_anything_else_in_base64():
    """A text stays readable and grows by 10-20% (base64: a third),
    so a mail near the relay's size limit stays under it; a lone CR or LF,
    a NUL, a space at a line's end and a long line are encoded, and every
    byte comes back.  Other 8-bit parts go in base64."""
    text = ("Prezados, não recebi a certidão pedida em março.\r\nObrigada pela atenção.  \r\n"
            "linha com CR\rsozinho e LF\nsozinho e NUL \0 e tab\t\r\n" + "ç" * 60 + "\r\n").encode()
    binary = bytes(range(256))
    raw = (b"From: ana@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + text +
           b"\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" + binary +
           b"\r\n--b--\r\n")
    converted = to_seven_bit(raw)
    assert converted.isascii()
    assert _walk(converted)[1:] == [("text/plain", text), ("application/octet-stream", binary)]
    mail = message_from_bytes(converted, policy=policy.compat32)
    plain, other = mail.get_payload()
    assert plain["Content-Transfer-Encoding"] == "quoted-printable" and other["Content-Transfer-Encoding"] == "base64"
    assert "Prezados, n=C3=A3o recebi a certid=C3=A3o pedida em mar=C3=A7o." in plain.get_payload()
    letter = ("Prezados, bom dia. Não consegui concluir o cadastro do estabelecimento no sistema: ao salvar "
              "aparece a mensagem de erro e nada é gravado. Já tentei em outro navegador e o problema "
              "continua. Agradeço a atenção.\r\n").encode() * 3
    head = b"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    written = message_from_bytes(to_seven_bit(head + letter), policy=policy.compat32).get_payload()
    assert len(written) < len(letter) * 1.2 < len(letter) * 4 / 3, "a letter grows by 10-20%, not a third"
    assert all(len(line) <= 998 for line in converted.split(b"\r\n"))
