"""addresses, attachments.sniff, text.html_to_text, charsets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.corpus import CORPUS, ptbr_cases
from gateway.mail.addresses import domain_of, is_null_or_daemon, normalise, split_token
from gateway.mail.attachments import sniff
from gateway.mail.charsets import codec_for, decode, decode_header_value
from gateway.mail.parsed import parse
from gateway.mail.text import html_to_text


def test_corpus_present(corpus: Path) -> None:
    assert (corpus / "ptbr-clients").is_dir()


@pytest.mark.parametrize(("raw", "expected"), [
    (" Ana@Example.ORG ", "ana@example.org"), ("<ana@example.org>", "ana@example.org"),
    ("Ana <Ana@Example.org>", "ana@example.org"), ("", ""),
])
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_split_token_keeps_the_token_case() -> None:
    assert split_token("cnes+ATD-2026-000001-7@example.gov.br") == (
        "cnes@example.gov.br", "ATD-2026-000001-7")
    assert split_token("CNES@Example.gov.br") == ("cnes@example.gov.br", None)
    assert split_token("cnes+@example.gov.br") == ("cnes@example.gov.br", None)


def test_domain_of() -> None:
    assert domain_of("Ana <ana@Example.ORG>") == "example.org" and domain_of("nobody") == ""


@pytest.mark.parametrize(("address", "expected"), [
    ("", True), ("<>", True), (None, True), ("MAILER-DAEMON@mx.example.net", True),
    ("postmaster@example.org", True), ("ana@example.org", False), ("postmaster-ana@x.org", False),
])
def test_is_null_or_daemon(address: str | None, expected: bool) -> None:
    assert is_null_or_daemon(address) is expected


@pytest.mark.parametrize(("path", "truth"), [c for c in ptbr_cases() if c[1]["attachments"]],
                         ids=lambda v: getattr(v, "name", ""))
def test_sniff_gives_every_ptbr_attachments_real_type(path: Path, truth: dict) -> None:
    mail = parse(path.read_bytes())
    assert [sniff(a.data) for a in mail.attachments] == [a["real_type"] for a in truth["attachments"]]


def test_the_lying_png_is_a_pdf() -> None:
    mail = parse((CORPUS / "ptbr-clients" / "04-new-iphone-causp-png-is-pdf.eml").read_bytes())
    (attachment,) = mail.attachments
    assert (attachment.filename, attachment.declared_type) == ("comprovante.png", "image/png")
    assert attachment.sniffed_type == "application/pdf" and attachment.size > 0


@pytest.mark.parametrize(("data", "expected"), [
    (b"", None), (b"%PDF-1.4\n", "application/pdf"), ("Olá, tudo bem?\n".encode(), "text/plain"),
    ("Atenção".encode("cp1252"), "text/plain"), (bytes(range(0, 32)) * 4, None),
])
def test_sniff(data: bytes, expected: str | None) -> None:
    assert sniff(data) == expected


def test_html_to_text_drops_script_and_style_and_breaks_blocks() -> None:
    html = ("<html><head><style>p{}</style><script>alert(1)</script></head><body>"
            "<p>Bom&nbsp;dia,</p><div>linha&nbsp;1<br>linha 2</div><ul><li>um</li></ul></body></html>")
    assert html_to_text(html) == "Bom dia,\n\nlinha 1\nlinha 2\n\n- um"


def test_charset_aliases() -> None:
    assert codec_for("ks_c_5601-1987") == "cp949" and codec_for("windows-1250") == "cp1250"
    assert codec_for("iso-8859-8-i") == "iso8859-8" and codec_for("bogus-charset") is None
    assert decode(b"\xff\xfe\x81", "utf-8")  # never raises


@pytest.mark.parametrize("label", ["punycode", "idna", "a\x00b"])
def test_a_charset_whose_codec_raises_otherwise_still_gives_the_text(label: str) -> None:
    """``decode`` never raises: punycode raises UnicodeError (not its
    subclass UnicodeDecodeError), a NUL in the label ValueError; the text
    of such a part was lost ("unreadable text/plain part")."""
    assert codec_for(label) in (None, "idna", "punycode")
    assert decode(b"Bom dia\r\n", label) == "Bom dia\r\n"
    raw = (f"From: a@example.org\r\nTo: b@example.org\r\nSubject: x\r\n"
           f'Content-Type: text/plain; charset="{label}"\r\n\r\nBom dia, Ana.\r\n').encode("latin-1")
    mail = parse(raw)
    assert "Bom dia, Ana." in mail.text and not any("unreadable" in d for d in mail.defects)


def test_decode_header_value_reads_raw_8bit_and_encoded_words() -> None:
    raw_8bit = "Solicitação".encode("utf-8").decode("ascii", "surrogateescape")
    assert decode_header_value(raw_8bit) == "Solicitação"
    assert decode_header_value("=?ks_c_5601-1987?b?vsiz5w==?=") == "안녕"
    assert decode_header_value("=?x-unknown?q?abc?=") == "abc"
