"""Rules see what the citizen wrote, whatever the charset or folding
(PITFALLS F and 12: mojibake and skipped mail in osTicket, django-helpdesk;
A: a tag on a folded subject's continuation line missed, django-helpdesk#756).
Real mails as bytes through the real parser, then the rule conditions."""

from __future__ import annotations

import pytest

from gateway.mail.parsed import parse
from gateway.rules.conditions import Facts, check
from gateway.rules.parsing import Where, parse_when
from gateway.tickets.fields import extract_fields

WHERE = Where("test.toml", 'rule[0] "t"')
SUBJECT_RULE = {"subject": {"phrases": ["inclusão de profissional"]}}
BODY_RULE = {"body": {"words": ["vínculo", "estabelecimento"]}}


def raw_mail(subject_header: bytes, charset: str, body: str, *, encoding: str = "8bit") -> bytes:
    payload = body.encode(charset if charset != "x-user-defined" else "latin-1")
    if encoding == "quoted-printable":
        import quopri

        payload = quopri.encodestring(payload)
    return (b"From: Ana Souza <ana.souza@example.org>\r\nTo: cnes@example.gov.br\r\n"
            b"Subject: " + subject_header + b"\r\nMessage-ID: <c1@example.org>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=" + charset.encode() + b"\r\n"
            b"Content-Transfer-Encoding: " + encoding.encode() + b"\r\n\r\n" + payload + b"\r\n")


def judged(raw: bytes, when: dict) -> bool:
    facts = Facts.from_mail(parse(raw), mailbox="cnes@example.gov.br", is_new=True)
    return check(parse_when(when, WHERE), facts).matched


BODY = "Bom dia,\nNão consigo fazer o vínculo do profissional ao estabelecimento.\nCPF: 123.456.789-09\nUF: SP\n"


@pytest.mark.parametrize("subject", [
    b"=?ISO-8859-1?Q?Inclus=E3o_de_profissional?=",
    b"=?windows-1252?B?SW5jbHVz428gZGUgcHJvZmlzc2lvbmFs?=",
    b"RES: =?utf-8?Q?Erro_na?=\r\n =?utf-8?Q?_inclus=C3=A3o_de?=\r\n profissional",  # folded over three lines
    b"AW: Inclus\xe3o de profissional",  # raw Latin-1 bytes in the header, as old Outlook sends
    "Inclusão de profissional".encode(),  # raw UTF-8 (SMTPUTF8)
])
def test_subject_rules_match_encoded_and_folded_subjects(subject):
    assert judged(raw_mail(subject, "utf-8", BODY), SUBJECT_RULE)


@pytest.mark.parametrize(("charset", "encoding"), [
    ("iso-8859-1", "8bit"), ("iso-8859-1", "quoted-printable"), ("windows-1252", "quoted-printable"),
    ("iso-8859-15", "8bit"), ("x-user-defined", "8bit"), ("utf-8", "quoted-printable"),
])
def test_body_rules_and_required_fields_read_legacy_charsets(charset, encoding):
    raw = raw_mail(b"Pedido", charset, BODY, encoding=encoding)
    assert judged(raw, BODY_RULE), charset
    found = extract_fields(parse(raw).text)
    assert (found.get("cpf"), found.get("uf")) == ("123.456.789-09", "SP")


def test_a_mislabelled_charset_never_raises_and_other_rules_still_run():
    raw = raw_mail(b"=?koi8-r?B?7sXUIMTP09TV0ME=?= inclus\xe3o de profissional", "utf-8", "")
    raw = raw.replace(b"\r\n\r\n", b"\r\n\r\n\xff\xfe bytes that are not UTF-8 v\xednculo estabelecimento ", 1)
    facts = Facts.from_mail(parse(raw), mailbox="cnes@example.gov.br", is_new=True)
    assert "Нет доступа" in facts.subject
    assert check(parse_when({"sender": {"domain": "example.org"}}, WHERE), facts).matched
    assert check(parse_when(BODY_RULE, WHERE), facts).reason  # decides either way, never raises
