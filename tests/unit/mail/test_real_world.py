"""Mails other helpdesks read and we misread (issue 16, "Misread today").

Each case is a real mail of the shared corpus, read from there, or a mail
written here that reproduces what the corpus lacks (a preamble line, a
garbage From above the real one, a real TNEF file).
"""

from __future__ import annotations

import base64
import struct
from email.message import EmailMessage
from pathlib import Path

import pytest

from gateway.errors import ParseError
from gateway.mail.charsets import decode_undeclared
from gateway.mail.parsed import parse
from gateway.mail.threadindex import conversation_of
from tests.helpers.corpus import CORPUS

pytestmark = pytest.mark.usefixtures("corpus")


def corpus_mail(path: str) -> bytes:
    return (CORPUS / path).read_bytes()


def mail(head: bytes, body: bytes = b"Bom dia,\n\nsegue o pedido.\n") -> bytes:
    return head + b"\n" + body


# -- an mbox "From " line, a preamble ---------------------------------------


@pytest.mark.parametrize("path, sender, subject", [
    ("sisimai-set-of-emails/maildir/bsd/lhost-exim-07.eml", "mailer-daemon@example.jp",
     "Mail delivery failed: returning message to sender"),
    ("sisimai-set-of-emails/maildir/dos/lhost-ezweb-01.eml", "postmaster@ezweb.ne.jp",
     "Mail System Error - Returned Mail"),
])
def test_an_mbox_from_line_on_top_is_skipped(path: str, sender: str, subject: str) -> None:
    raw = corpus_mail(path)
    assert raw.startswith(b"From ")
    parsed = parse(raw)
    assert (parsed.from_addr, parsed.subject) == (sender, subject)
    assert parsed.to


def test_an_mbox_from_line_as_postfix_pipe_flag_f_writes_it() -> None:
    raw = mail(b"From ana.souza@example.org  Mon Nov 23 12:00:00 2026\nFrom: Ana Souza <ana.souza@example.org>\n"
               b"To: atendimento@example.gov.br\nSubject: Erro no cadastro\n")
    parsed = parse(raw)
    assert (parsed.from_addr, parsed.subject, parsed.to) == (
        "ana.souza@example.org", "Erro no cadastro", ("atendimento@example.gov.br",))


@pytest.mark.parametrize("preamble", [b"---- Original email message ----\n",
                                      b"-------- Mensagem original --------\r\n\r\n"])
def test_a_preamble_line_before_the_headers_is_skipped(preamble: bytes) -> None:
    raw = preamble + mail(b"From: Ana Souza <ana.souza@example.org>\nTo: atendimento@example.gov.br\n"
                          b"Subject: Erro no cadastro\n")
    parsed = parse(raw)
    assert (parsed.from_addr, parsed.subject) == ("ana.souza@example.org", "Erro no cadastro")
    assert any("before the headers was skipped" in d for d in parsed.defects)


@pytest.mark.parametrize("raw", [
    b"Bom dia, segue o pedido.\nObrigada.\n",
    b"---- Original email message ----\nNota sem cabecalho\n\ntexto\n",  # a preamble, then no header
    b"Lista de pedidos\n\tsem cabecalho\nFrom: ana@example.org\n",  # a header only further down
])
def test_text_without_a_header_block_is_still_refused(raw: bytes) -> None:
    with pytest.raises(ParseError, match="does not start with a header line"):
        parse(raw)


# -- From, and when there is none --------------------------------------------


def test_a_garbage_from_above_the_real_one_is_passed_over() -> None:
    parsed = parse(mail(b"From: [??????]\nFrom: Ana Souza <ana.souza@example.org>\nSubject: Pedido\n"))
    assert (parsed.from_addr, parsed.from_name, parsed.from_problem) == ("ana.souza@example.org", "Ana Souza", "")
    assert any(d.startswith("From #2 used") for d in parsed.defects)


def test_the_first_good_from_wins_over_a_later_one() -> None:
    parsed = parse(corpus_mail("mail-mime-parser/emails/m0010.txt"))  # a second From "Should be Ignored"
    assert parsed.from_addr == "doug@example.com"


def test_a_from_that_never_parses_still_names_nobody() -> None:
    parsed = parse(mail(b"From: [??????]\nFrom: [!!!]\nSender: ana.souza@example.org\nSubject: Pedido\n"))
    assert parsed.from_addr == "" and parsed.from_problem.startswith("From: ")
    assert parsed.fallback_author == ""  # a broken From is not a missing one


@pytest.mark.parametrize("head, author, header", [
    (b"Sender: Ana <ana.souza@example.org>\nReply-To: outra@example.org\n", "ana.souza@example.org", "Sender"),
    (b"Sender: [??]\nReply-To: Ana <ana.souza@example.org>\n", "ana.souza@example.org", "Reply-To"),
    (b"X-Mailer: robot\n", "", ""),
])
def test_no_from_falls_back_to_sender_then_reply_to(head: bytes, author: str, header: str) -> None:
    parsed = parse(mail(head + b"Subject: Pedido\n"))
    assert parsed.from_addr == "" and parsed.from_problem == ""
    assert (parsed.fallback_author, parsed.fallback_header) == (author, header)


# -- undeclared 8-bit text ------------------------------------------------------


@pytest.mark.parametrize("text, codec", [
    ("转发：整体方案", "gb2312"),
    ("关于项目进度的报告", "gb18030"),
    ("メールエラー通知", "shift_jis"),
    ("Solicitação de informação", "latin-1"),
    ("Não consigo acessar o “sistema”", "cp1252"),
    ("Отчет о работе", "cp1251"),
])
def test_an_undeclared_8bit_subject_is_read_in_its_charset(text: str, codec: str) -> None:
    parsed = parse(mail(b"From: ana.souza@example.org\nSubject: " + text.encode(codec) + b"\n"))
    assert parsed.subject == text
    assert "\ufffd" not in parsed.subject


def test_the_charset_a_mail_declares_elsewhere_reads_its_undeclared_header() -> None:
    """Two bytes per character of GB2312 are valid Big5 or Korean too; the
    mail's own text/plain says which it is."""
    raw = (b"From: ana@example.org\nSubject: " + "测试".encode("gb2312") +
           b"\nMIME-Version: 1.0\nContent-Type: text/plain; charset=gb2312\n\n" + "你好".encode("gb2312"))
    parsed = parse(raw)
    assert (parsed.subject, parsed.text.strip()) == ("测试", "你好")


def test_an_undeclared_latin1_file_name_is_not_mojibake() -> None:
    message = EmailMessage()
    message["From"], message["Subject"] = "ana@example.org", "Foto"
    message.set_content("segue a foto")
    message.add_attachment(b"\xff\xd8\xff\xe0 jpeg", maintype="image", subtype="jpeg", filename="placeholder.jpg")
    raw = message.as_bytes().replace(b"placeholder.jpg", "Hofjägeralle.jpg".encode("latin-1"))
    [attachment] = parse(raw).attachments
    assert attachment.filename == "Hofjägeralle.jpg"


@pytest.mark.parametrize("path, filename", [
    ("mail-parser/mails/mail_test_1", "ФНС_РФ558.zip"),
    # Yahoo cut a long UTF-8 name inside its last character.
    ("flanker/messages/russian-attachment-yahoo.eml",
     "Картинка с очень, очень длинным предлинным именем преименем таким чт"),
])
def test_raw_utf8_file_names_of_the_corpus(path: str, filename: str) -> None:
    names = [a.filename for a in parse(corpus_mail(path)).attachments]
    assert filename in names, names


def test_an_undeclared_text_part_is_read_by_its_bytes() -> None:
    raw = (b"From: ana@example.org\nSubject: x\nMIME-Version: 1.0\nContent-Type: text/plain\n"
           b"Content-Transfer-Encoding: 8bit\n\n" + "Não consigo emitir a certidão.".encode("cp1252"))
    assert parse(raw).text.strip() == "Não consigo emitir a certidão."


def test_corpus_8bit_headers_come_out_without_replacement_characters(corpus: Path) -> None:
    for path in ("mail-parser/mails/mail_test_12", "request-tracker/emails/new-ticket-from-iso-8859-1",
                 "flanker/messages/from-encoding.eml", "mail-mime-parser/emails/m0023.txt"):
        parsed = parse(corpus_mail(path))
        for name in ("From", "To", "Subject"):
            assert "\ufffd" not in parsed.header(name), (path, name, parsed.header(name))
    assert parse(corpus_mail("request-tracker/emails/new-ticket-from-iso-8859-1")).from_name == "Wilhelmsen Håvard"


def test_decode_undeclared_order() -> None:
    assert decode_undeclared("Olá".encode()) == "Olá"  # UTF-8 first
    assert decode_undeclared(b"\xd4\xc5\xd3\xd4", ["koi8-r"]) == "тест"  # then the mail's own charsets
    assert decode_undeclared(b"Hofj\xe4geralle.jpg") == "Hofjägeralle.jpg"  # Latin words
    assert decode_undeclared("整体".encode("gb18030")) == "整体"  # then the detector


# -- an empty text/plain beside HTML ---------------------------------------------


@pytest.mark.parametrize("plain", ["", "\r\n  \r\n"])
def test_an_empty_plain_alternative_takes_the_text_of_the_html(plain: str) -> None:
    message = EmailMessage()
    message["From"], message["Subject"] = "ana@example.org", "Pedido"
    message.set_content(plain)
    message.add_alternative("<html><body><p>Bom dia,</p><p>n&atilde;o consigo <b>acessar</b>.</p>"
                            "<script>alert(1)</script></body></html>", subtype="html")
    parsed = parse(message.as_bytes())
    assert parsed.text == "Bom dia,\n\nnão consigo acessar."


def test_a_plain_part_with_words_is_kept_beside_html() -> None:
    message = EmailMessage()
    message["From"], message["Subject"] = "ana@example.org", "Pedido"
    message.set_content("Texto simples.")
    message.add_alternative("<p>Texto em HTML.</p>", subtype="html")
    assert parse(message.as_bytes()).text.strip() == "Texto simples."


# -- TNEF (winmail.dat) ----------------------------------------------------------


def _tnef_attribute(level: int, name: int, kind: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", checksum)


def tnef(files: list[tuple[str, bytes]]) -> bytes:
    """A winmail.dat as Outlook writes one ([MS-OXTNEF] 2.1.3): signature,
    key, version, then per file its rendering data, title and data."""
    blob = b"\x78\x9f\x3e\x22" + struct.pack("<H", 0x0102)
    blob += _tnef_attribute(1, 0x9006, 0x0008, struct.pack("<I", 0x10000))  # attTnefVersion
    for name, data in files:
        blob += _tnef_attribute(2, 0x9002, 0x0006, b"\x01\x00" + b"\xff" * 12)  # attAttachRendData
        blob += _tnef_attribute(2, 0x8010, 0x0001, name.encode("ascii") + b"\x00")  # attAttachTitle
        blob += _tnef_attribute(2, 0x800F, 0x0006, data)  # attAttachData
    return blob


PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def outlook_mail(winmail: bytes) -> bytes:
    message = EmailMessage()
    message["From"], message["Subject"] = "Ana Souza <ana.souza@example.org>", "Documentos"
    message.set_content("Segue em anexo.")
    message.add_attachment(winmail, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    return message.as_bytes()


def test_winmail_dat_is_unpacked_and_kept() -> None:
    winmail = tnef([("RG.pdf", PDF), ("nota.txt", b"Nota fiscal 123\n")])
    parsed = parse(outlook_mail(winmail))
    assert [(a.filename, a.sniffed_type) for a in parsed.attachments] == [
        ("winmail.dat", None), ("RG.pdf", "application/pdf"), ("nota.txt", "text/plain")]
    assert parsed.attachments[0].data == winmail and parsed.attachments[1].data == PDF


def test_a_winmail_dat_that_is_no_tnef_is_only_kept() -> None:
    """mail-mime-parser's m4006: ``application/ms-tnef`` named winmail.dat,
    whose bytes are a PNG."""
    parsed = parse(corpus_mail("mail-mime-parser/emails/m4006.txt"))
    assert [(a.filename, a.sniffed_type) for a in parsed.attachments] == [("winmail.dat", "image/png")]


def test_a_broken_winmail_dat_is_kept_with_a_defect() -> None:
    winmail = tnef([("RG.pdf", PDF)])[:-9]  # cut inside the data
    parsed = parse(outlook_mail(winmail))
    assert parsed.attachments[0].filename == "winmail.dat"
    assert len(parsed.attachments) <= 2


def test_sisimai_tnef_parts_without_files_add_nothing() -> None:
    parsed = parse(corpus_mail("sisimai-set-of-emails/maildir/bsd/lhost-amazonworkmail-01.eml"))
    assert [a.filename for a in parsed.attachments].count("winmail.dat") == 1


# -- Thread-Index ----------------------------------------------------------------


def test_thread_index_base_is_shared_by_a_conversation() -> None:
    first = base64.b64encode(bytes(range(1, 23))).decode()
    reply = base64.b64encode(bytes(range(1, 23)) + b"\x00\x01\x02\x03\x04").decode()
    assert conversation_of(first) == conversation_of(reply) == bytes(range(1, 23)).hex()
    corpus_value = "AdC0xOxFwE/tigzGSJa9glHhu/rfhwAAPsBAAAAKniAAALxy8AAFWj6wACl+OlAAAMOMIAAA+uBQAAAPpKA="
    assert parse(corpus_mail("mail-mime-parser/emails/m4006.txt")).thread_index == conversation_of(corpus_value)


@pytest.mark.parametrize("value", ["", "not base64!", base64.b64encode(b"short").decode(),
                                   base64.b64encode(bytes(range(1, 25))).decode(),  # 24 bytes: no 5-byte blocks
                                   base64.b64encode(bytes(22)).decode()])  # all zeros
def test_what_is_no_thread_index(value: str) -> None:
    assert conversation_of(value) is None


#: Mails whose replacement characters come from a charset they declare
#: wrongly (not undeclared bytes): RFC 2231 ``iso-2022-jp`` over a byte it lacks.
DECLARED_WRONG = {"mikel-mail/emails/attachment_emails/attachment_with_encoded_name.eml",
                  "mikel-mail/emails/plain_emails/raw_email8.eml"}


def test_no_corpus_mail_gets_a_replacement_character_it_does_not_carry() -> None:
    """Subject, sender name and file names of every full corpus mail: a
    U+FFFD only where the raw mail holds one already (its UTF-8 bytes)."""
    from tests.helpers.corpus import full_mails

    garbled = []
    for path in full_mails():
        raw, name = path.read_bytes(), path.relative_to(CORPUS).as_posix()
        if name in DECLARED_WRONG or "\ufffd".encode() in raw:
            continue
        try:
            parsed = parse(raw)
        except ParseError:
            continue
        for value in (parsed.subject, parsed.from_name, *(a.filename for a in parsed.attachments)):
            if "\ufffd" in value:
                garbled.append(f"{name}: {value[:60]!r}")
    assert not garbled, "\n".join(garbled)


# -- the parser fed a piece at a time ---------------------------------------


def _tree(message: object) -> list[tuple[object, ...]]:
    import email.message

    assert isinstance(message, email.message.Message)
    return [(part.get_content_type(), tuple(part.raw_items()), part.get_payload() if not part.is_multipart() else None,
             part.preamble, part.epilogue, [type(d).__name__ for d in part.defects]) for part in message.walk()]


def test_the_bounded_parse_builds_what_the_stdlib_builds_for_every_corpus_mail(monkeypatch):
    """Below max_parts, ``bounded.parse`` (the stdlib's FeedParser fed by
    hand, to stop it on a MIME bomb, with runs of base64 lines folded) must
    be the stdlib's own parse, part by part, defects included, for every
    full mail of the corpus; and no folded mail fell back to the plain parse."""
    import email
    import email.policy

    from gateway.mail import bounded
    from tests.helpers.corpus import full_mails

    restored: list[bool] = []
    real = bounded._Folded.restored

    def recording(self: bounded._Folded, message: object) -> bool:
        result = real(self, message)
        if self.runs:  # a mail with runs folded
            restored.append(result)
        return result

    monkeypatch.setattr(bounded._Folded, "restored", recording)
    mails = full_mails()
    assert len(mails) > 1000
    for path in mails:
        data = path.read_bytes()
        defects: list[str] = []
        message, stopped = bounded.parse(data, defects, max_parts=10_000)
        assert stopped is None and defects == [], path
        assert _tree(message) == _tree(email.message_from_bytes(data, policy=email.policy.compat32)), path
    assert len(restored) > 50 and all(restored), "mails with base64 runs, each folded and restored"


def test_plain_address_lists_read_as_getaddresses_reads_them():
    """``_addresses`` reads a list of plain mailboxes by one expression;
    for every To, Cc and Reply-To of the corpus it must give what
    ``getaddresses`` gives (the expression declines anything else)."""
    import email
    import email.policy
    from email.utils import getaddresses

    from gateway.mail.addresses import normalise
    from gateway.mail.parsed import _SIMPLE_LIST, _addresses
    from tests.helpers.corpus import full_mails

    simple = 0
    for path in full_mails():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        headers = tuple((k, str(v)) for k, v in message.raw_items())
        for name in ("to", "cc", "reply-to"):
            values = [" ".join(v.splitlines()) for k, v in headers if k.lower() == name]
            if not values or any("\ufffd" in v or not v.isascii() for v in values):
                continue
            expected = tuple(normalise(a) for _, a in getaddresses(values) if a.strip())
            assert _addresses(headers, name) == expected, (path, values)
            simple += all(_SIMPLE_LIST.fullmatch(v) for v in values)
    assert simple > 500, "the expression reads most real lists"
    odd = ('"Souza, Ana" <ana@example.org>', "ana@example.org (Ana)", "=?utf-8?q?Jo=C3=A3o?= <j@example.org>",
           "equipe: ana@example.org, b@example.org;", "<@relay.example:ana@example.org>", "Ana <ana@example.org")
    for value in odd:
        assert not _SIMPLE_LIST.fullmatch(value), value
        assert _addresses((("To", value),), "to") == tuple(normalise(a) for _, a in getaddresses([value]) if a.strip())


def test_a_part_without_name_parameters_has_no_filename_as_the_stdlib_says():
    """``_filename`` skips the parameter parsing when neither header holds
    "name": for every part of the corpus it must agree with the stdlib."""
    import email
    import email.policy

    from gateway.mail.attachments import _filename
    from gateway.mail.charsets import decode_undeclared
    from tests.helpers.corpus import full_mails

    parts = named = 0
    for path in full_mails():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        for part in message.walk():
            parts += 1
            try:
                expected = part.get_filename()
            except Exception:  # noqa: BLE001 - a part the stdlib cannot read: not this test's question
                continue
            found = _filename(part, decode_undeclared)
            assert bool(found) == bool(expected), (path, part.get_content_type(), expected, found)
            named += bool(found)
    assert parts > 3000 and named > 300
