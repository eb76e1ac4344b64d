"""parse() on every full mail of the corpus, and the ptbr ground truth."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.corpus import CORPUS, collapse, full_mails, mbox_files, ptbr_cases
from gateway.mail.parsed import ParseError, ParsedMail, parse

#: Files of the full-mail folders that really have no header block.  parse()
#: must refuse them with ParseError rather than invent a mail.
EXPECTED_PARSE_ERRORS = {
    "cpython-test_email/data/msg_19.txt": "a mailing-list digest body without any header",
    "request-tracker/emails/lorem-ipsum": "plain lorem-ipsum text, no header at all",
}


_MBOX_SEPARATOR = re.compile(rb"(?:\A|\r?\n)From [^\r\n]*\r?\n")


def _rel(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix()


def test_corpus_present(corpus: Path) -> None:
    assert (corpus / "ptbr-clients").is_dir()


@pytest.mark.parametrize("path", full_mails(), ids=_rel)
def test_every_corpus_mail_parses_or_is_a_listed_parse_error(path: Path) -> None:
    raw = path.read_bytes()
    if _rel(path) in EXPECTED_PARSE_ERRORS:
        with pytest.raises(ParseError):
            parse(raw)
        return
    mail = parse(raw)
    assert isinstance(mail, ParsedMail)
    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert mail.date is None or mail.date.tzinfo is not None


@pytest.mark.parametrize("path", mbox_files(), ids=_rel)
def test_every_message_of_the_mbox_files_parses(path: Path) -> None:
    # Split on "From " separator lines ourselves: mailbox.mbox opens the
    # (read-only) file for writing and leaves it to the garbage collector.
    data = path.read_bytes()
    if len(data) < 8:  # sisimai's size-0..2: 0-3 byte "mailboxes" with no message at all
        with pytest.raises(ParseError):
            parse(data)
        return
    messages = [m for m in _MBOX_SEPARATOR.split(data) if m.strip()]
    assert messages
    for message in messages:
        assert isinstance(parse(message), ParsedMail)


@pytest.mark.parametrize(("path", "truth"), ptbr_cases(), ids=lambda v: getattr(v, "name", ""))
def test_ptbr_headers_and_attachments_match_ground_truth(path: Path, truth: dict) -> None:
    mail = parse(path.read_bytes())
    assert mail.from_addr == truth["from"].lower()
    assert mail.to[0] == truth["to"].lower()
    assert mail.subject == truth["subject_decoded"]
    assert [(a.filename, a.declared_type, a.sniffed_type) for a in mail.attachments] == [
        (a["filename"], a["declared_type"], a["real_type"]) for a in truth["attachments"]]
    assert mail.text.strip()


def test_html_only_mail_gets_a_text_rendering() -> None:
    mail = parse((CORPUS / "ptbr-clients" / "06-new-owa-html-only-govbr.eml").read_bytes())
    assert mail.html is not None and "<p" in mail.html
    assert "Solicitamos informação sobre o procedimento" in mail.text
    assert "<" not in mail.text and "MsoNormal" not in mail.text


def test_headers_are_decoded_and_ids_normalised() -> None:
    raw = (b"Message-ID: < abc@host >\r\nIn-Reply-To: <x@y>\r\nReferences: <a@b>\r\n <x@y> <a@b>\r\n"
           b"Subject: =?utf-8?q?RES=3A_=5BATD-2026-000123-0=5D?=\r\n Solicita=?utf-8?q?=C3=A7=C3=A3o?=\r\n"
           b"From: =?iso-8859-1?q?Jos=E9?= <Jose@Example.ORG>\r\nTo: a@x.org, B <b@X.org>\r\n"
           b"Date: Mon, 16 Nov 2026 11:00:09 -0000\r\nContent-Language: pt-BR\r\n\r\nOi\r\n")
    mail = parse(raw)
    assert mail.message_id == "abc@host"
    assert mail.in_reply_to == ("x@y",) and mail.references == ("a@b", "x@y")
    assert mail.subject == "RES: [ATD-2026-000123-0] Solicitação"
    assert (mail.from_addr, mail.from_name) == ("jose@example.org", "José")
    assert mail.to == ("a@x.org", "b@x.org")
    assert mail.date is not None and mail.date.utcoffset() is not None
    assert mail.language_hint == "pt-BR"
    assert mail.header("subject") == mail.subject and mail.headers_all("TO") == ["a@x.org, B <b@X.org>"]


def test_folded_plain_subject_comes_out_on_one_line() -> None:
    mail = parse(b"Subject: Re: Erro no cadastro\r\n [ATD-2026-000001-7]\r\n\r\nbody\r\n")
    assert mail.subject == "Re: Erro no cadastro [ATD-2026-000001-7]"


@pytest.mark.parametrize(("charset", "body", "expected"), [
    ("ks_c_5601-1987", "안녕".encode("cp949"), "안녕"),
    ("windows-1252", "Atenção “x”".encode("cp1252"), "Atenção “x”"),
    ("iso-8859-8-i", "שלום".encode("iso-8859-8"), "שלום"),
    ("x-user-defined", "ação".encode("cp1252"), "ação"),
    ("unknown-8bit", "ação".encode("utf-8"), "ação"),
    ("us-ascii", "ação".encode("cp1252"), "ação"),
    ("no-such-charset", "ação".encode("utf-8"), "ação"),
])
def test_body_charsets_use_the_alias_table_and_never_raise(charset: str, body: bytes, expected: str) -> None:
    raw = (f"From: a@b.org\nContent-Type: text/plain; charset={charset}\n"
           "Content-Transfer-Encoding: 8bit\n\n").encode() + body
    assert parse(raw).text.strip() == expected


def test_empty_and_headerless_input_raise_parse_error_naming_the_problem() -> None:
    with pytest.raises(ParseError, match="empty"):
        parse(b"")
    with pytest.raises(ParseError, match="header"):
        parse(b"just some text\nwithout headers\n")


def test_oversized_header_block_is_capped_and_recorded() -> None:
    raw = b"Subject: ok\n" + b"".join(b"X-Pad-%d: %s\n" % (i, b"x" * 90) for i in range(3000)) + b"\nbody\n"
    mail = parse(raw, max_header_bytes=10_000)
    assert mail.subject == "ok" and mail.text.strip() == "body"
    assert any("max_header_bytes" in defect for defect in mail.defects)


def test_oversized_part_is_left_out_and_recorded() -> None:
    raw = (b"From: a@b.org\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\n"
           b"Content-Type: text/plain\n\nhello\n--XX\nContent-Type: application/pdf; name=big.pdf\n"
           b"Content-Disposition: attachment; filename=big.pdf\n\n" + b"A" * 5000 + b"\n--XX--\n")
    mail = parse(raw, max_part_bytes=1000)
    assert mail.text.strip() == "hello" and mail.attachments == ()
    assert any("max_part_bytes" in defect for defect in mail.defects)


def test_an_oversized_attached_mail_is_left_out_and_recorded_like_any_part() -> None:
    """A forwarded mail's size is known only once its bytes are written back
    (the parser keeps it as parts): it is held to max_part_bytes all the same."""
    inner = (b"From: c@d.org\nSubject: encaminhada\nContent-Type: multipart/mixed; boundary=YY\n\n--YY\n"
             b"Content-Type: text/plain\n\nola\n--YY\nContent-Type: application/pdf; name=dentro.pdf\n\n"
             + b"B" * 5000 + b"\n--YY--\n")
    raw = (b"From: a@b.org\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\n"
           b"Content-Type: text/plain\n\nhello\n--XX\nContent-Type: message/rfc822\n"
           b"Content-Disposition: attachment; filename=fwd.eml\n\n" + inner + b"\n--XX--\n")
    mail = parse(raw, max_part_bytes=1000)
    assert mail.text.strip() == "hello" and mail.attachments == ()
    assert any("message/rfc822 part 'fwd.eml'" in d and "max_part_bytes" in d for d in mail.defects)
    kept = parse(raw, max_part_bytes=100_000)
    assert [a.filename for a in kept.attachments] == ["fwd.eml"] and len(kept.attachments[0].data) > 5000


def test_an_absurdly_long_message_id_is_cut_with_a_digest_the_same_way_everywhere() -> None:
    """A 2,000-character id would not fit the 998-character columns (one
    such mail failed a whole migration batch on PostgreSQL)."""
    long_id = "x" * 1990 + "@example.org"
    other = "x" * 1989 + "y@example.org"
    mail = parse(f"From: a@example.org\r\nMessage-ID: <{long_id}>\r\nSubject: s\r\n\r\nbody\r\n".encode())
    reply = parse(f"From: b@example.org\r\nIn-Reply-To: <{long_id}>\r\nReferences: <{other}> <{long_id}>\r\n"
                  "Subject: Re: s\r\n\r\nok\r\n".encode())
    assert mail.message_id is not None and len(mail.message_id) <= 900
    assert reply.in_reply_to == (mail.message_id,), "a reply names the cut id the same way: it still threads"
    assert reply.references[-1] == mail.message_id and reply.references[0] != mail.message_id
    short = parse(b"From: a@example.org\r\nMessage-ID: <abc@example.org>\r\n\r\nx\r\n")
    assert short.message_id == "abc@example.org"



def test_an_attached_mail_is_kept_as_it_came() -> None:
    """A forwarded mail is a file of its own: its header fields keep their
    folds and 8-bit bytes (not folded anew), and an old Mac mail's lone CRs
    become the copy's one kind of line end."""
    received = ("Received: from mx.example.org (unknown [192.0.2.1])\n\tby mx.example.gov.br with ESMTP id"
                " 1; Sun, 6 Dec 2026 10:00:00 -0300")
    long_subject = "Subject: " + " ".join(["protocolo"] * 20)  # 199 characters on one line: as_bytes folds it
    inner = (f"{received}\nFrom: =?utf-8?q?Jo=C3=A3o?= <joao@example.org>\n{long_subject}\n"
             "X-Note: caf\xe9 \xe0 la carte\nX-Mac: one\r two\n\ncorpo da mensagem\n").encode("latin-1")
    raw = (b"From: ana@example.org\nTo: atendimento@example.gov.br\nSubject: Fwd\nMIME-Version: 1.0\n"
           b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsegue\n"
           b"--b\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename=original.eml\n\n"
           + inner + b"--b--\n")
    (attached,) = parse(raw).attachments
    head = attached.data.split(b"\n\n", 1)[0].split(b"\n")
    assert long_subject.encode() in head
    assert received.encode() in attached.data
    assert "X-Note: caf\xe9 \xe0 la carte".encode("latin-1") in head
    assert b"X-Mac: one\n two" in attached.data and b"\r" not in attached.data
    assert attached.data.endswith(b"\n\ncorpo da mensagem")
