"""A From that does not parse is not a requester (issue 13, items 4 and 8g).

The review's cases: ``From: poison\\x00@cidada.example`` became a requester
whose address then stopped all outbound mail, and
``=?utf-8?Q?Ana=0D=0ABcc:_victim@outside.example?= <x@y>`` made the
requester ``_victim@outside.example?=``.  First the strict reader itself,
as tables of header values; then the same mails through the real
listener: quarantined with a reason that says what and where, no ticket,
nothing queued, and the listener goes on serving.
"""

from __future__ import annotations

import pytest

from gateway.mail.addresses import addr_spec_problem, ascii_domain
from gateway.mail.mailboxes import Mailbox, first_mailbox
from gateway.mail.parsed import parse
from tests.helpers.mailfactory import make_mail
from tests.security.conftest import ANA, CNES, Target

CRLF_NAME = "=?utf-8?Q?Ana=0D=0ABcc:_victim@outside.example?= <x@y>"

# -- the strict reader, as tables ----------------------------------------------

VALID_ADDRESSES = [
    "ana@cidada.example",
    "ana.souza+cnes@mail.cidada.example",
    "o'brien@example.ie",
    "a!#$%&'*+/=?^_`{|}~-z@example.org",
    '"ana.souza"@example.org',
    '"ana\\"souza"@example.org',
    "joão@cidadã.example",  # RFC 6531 local part, IDN domain
    "maria@xn--cidad-era.example",
    "ana@[192.0.2.1]",
    "ana@[IPv6:2001:db8::1]",
    f"{'a' * 64}@example.org",
]

INVALID_ADDRESSES = [
    ("poison\x00@cidada.example", "NUL"),
    ("ana\r\n@cidada.example", "line break"),
    ("ana\x07@cidada.example", "control character U+0007"),
    ("ana souza@cidada.example", "space"),
    ('"ana souza"@cidada.example', "space"),
    ('"ana\x00"@cidada.example', "NUL"),
    ("ana\u00a0@cidada.example", "space"),
    ("ana(x)@cidada.example", "only allowed inside quotes"),
    ("ana<x>@cidada.example", "only allowed inside quotes"),
    ("ana@@cidada.example", "more than one '@'"),
    ("ana.@cidada.example", "dot"),
    (".ana@cidada.example", "dot"),
    ("a..na@cidada.example", "dot"),
    ("@cidada.example", "local part is empty"),
    ("ana@", "domain is empty"),
    ("ana", "no '@'"),
    ("ana@cidada..example", "empty label"),
    ("ana@cidada.example.", "ends with a dot"),
    ("ana@-cidada.example", "'-cidada'"),
    ("ana@cida_da.example", "'cida_da'"),
    ("ana@cidada.example?=", "'example?='"),
    ("ana@[192.0.2]", "address literal"),
    ("x@y", "not fully qualified"),
    ("root@localhost", "not fully qualified"),
    ('"ana@cidada.example', "no closing"),
    (f"{'a' * 65}@example.org", "longer than 64"),
    (f"ana@{'a' * 64}.example", "at most 63"),
    (f"ana@{'.'.join(['a' * 60] * 5)}", "longer than 254"),
]


@pytest.mark.parametrize("address", VALID_ADDRESSES)
def test_a_valid_addr_spec_has_no_problem(address: str) -> None:
    assert addr_spec_problem(address) == ""


@pytest.mark.parametrize(("address", "named"), INVALID_ADDRESSES)
def test_an_invalid_addr_spec_is_refused_naming_the_fault(address: str, named: str) -> None:
    assert named in addr_spec_problem(address)


def test_idn_domains_are_written_in_idna_for_relays_without_smtputf8() -> None:
    assert ascii_domain("maria@cidadã.example") == "maria@xn--cidad-era.example"
    assert ascii_domain("joão@cidadã.example") == "joão@xn--cidad-era.example"  # the local part stays
    assert ascii_domain("ana@cidada.example") == "ana@cidada.example"


FROM_HEADERS = [
    # (header value, display name, address)
    ("ana@cidada.example", "", "ana@cidada.example"),
    ("Ana Souza <Ana.Souza@Cidada.Example>", "Ana Souza", "ana.souza@cidada.example"),
    ('"Souza, Ana" <ana@cidada.example>', "Souza, Ana", "ana@cidada.example"),
    ("Souza, Ana <ana@cidada.example>", "Souza, Ana", "ana@cidada.example"),  # unquoted comma, as some clients write
    ('"Ana <evil@outside.example>" <ana@cidada.example>', "Ana <evil@outside.example>", "ana@cidada.example"),
    ("ana@cidada.example <ana@cidada.example>", "ana@cidada.example", "ana@cidada.example"),
    ('"ana.souza"@cidada.example', "", '"ana.souza"@cidada.example'),
    ("=?utf-8?q?Jo=C3=A3o_da_Silva?= <joao@cidada.example>", "João da Silva", "joao@cidada.example"),
    ("=?utf-8?Q?Ana_Bcc:_victim@outside.example?= <ana@cidada.example>",
     "Ana Bcc: victim@outside.example", "ana@cidada.example"),  # an encoded word gives no address characters
    ("João <joão@cidadã.example>", "João", "joão@cidadã.example"),
    ("ana@cidada.example (Ana Souza)", "Ana Souza", "ana@cidada.example"),
    ("Ana (atendimento) Souza <ana@cidada.example>", "Ana Souza", "ana@cidada.example"),
    ("Ana <ana@cidada.example>, Bruno <bruno@cidada.example>", "Ana", "ana@cidada.example"),
    ("Equipe: ana@cidada.example, bruno@cidada.example;", "", "ana@cidada.example"),
    ("Ana\r\n Souza <ana@cidada.example>", "Ana Souza", "ana@cidada.example"),  # folded
    # A name is decoded, never judged: a line break in it is cleaned wherever we write it.
    ("=?utf-8?q?Ana=0D=0ABcc=3A_victim=40example=2Enet?= <ana@cidada.example>",
     "Ana\r\nBcc: victim@example.net", "ana@cidada.example"),
    ("Mail Delivery Subsystem <MAILER-DAEMON>", "Mail Delivery Subsystem", "mailer-daemon"),  # bounces
    ("<>", "", ""),
    ("", "", ""),
]

BROKEN_FROM_HEADERS = [
    # (header value, words the problem must contain)
    ("poison\x00@cidada.example", ["NUL", "'poison\\x00@cidada.example'"]),
    (CRLF_NAME, ["'x@y'", "not fully qualified"]),  # the review's header: x@y is the address, and no relay takes it
    ("=?utf-8?q?x?=@cidada.example", ["encoded word"]),
    ("Ana <=?utf-8?q?ana?=@cidada.example>", ["encoded word"]),
    ("Ana Souza ana@cidada.example", ["spaces"]),
    ("ana@cidada.example bruno@cidada.example", ["spaces"]),
    ("ana@cidada.example <bruno@cidada.example> x", ["cannot follow"]),
    ("Ana <ana@cidada.example", ["not closed"]),
    ('"Ana <ana@cidada.example>', ["cannot be there"]),
    ("Ana (Souza <ana@cidada.example>", ["never closed"]),
    ("Ana <ana@cidada.example>, <poison\x00@cidada.example>", ["NUL"]),  # every mailbox is checked
    ("undisclosed-recipients:;", ["no address"]),
    ("Equipe: ana@cidada.example", ["not closed with ';'"]),
    ("Ana Souza", ["no address"]),
    ("Ana <ana souza@cidada.example>", ["spaces"]),
    ("Ana <ana@cidada.example.>", ["ends with a dot"]),
    ("<>, ana@cidada.example", ["null address"]),
]


@pytest.mark.parametrize(("value", "name", "address"), FROM_HEADERS)
def test_a_from_that_parses_gives_its_name_and_address(value: str, name: str, address: str) -> None:
    assert first_mailbox(value) == Mailbox(name, address)


@pytest.mark.parametrize(("value", "words"), BROKEN_FROM_HEADERS)
def test_a_from_that_does_not_parse_names_nobody_and_says_why(value: str, words: list[str]) -> None:
    mailbox = first_mailbox(value)
    assert (mailbox.name, mailbox.address) == ("", "")
    for word in words:
        assert word in mailbox.problem


def test_parsed_mail_exposes_a_broken_from_and_no_sender() -> None:
    raw = b"From: poison\x00@cidada.example\r\nTo: cnes@example.gov.br\r\nSubject: x\r\n\r\nbody\r\n"
    mail = parse(raw)
    assert mail.from_addr == "" and mail.from_problem == (
        "From: 'poison\\x00@cidada.example': the local part has a NUL character")
    assert parse(make_mail(sender="Ana <ana@cidada.example>")).from_problem == ""
    assert parse(b"To: cnes@example.gov.br\r\nSubject: x\r\n\r\nbody\r\n").from_problem == "", \
        "no From at all is not a broken one"


# -- the same mails through the real listener ----------------------------------


def raw_mail(from_header: bytes, subject: bytes = b"Erro no cadastro") -> bytes:
    return (b"From: " + from_header + b"\r\nTo: " + CNES.encode() + b"\r\nSubject: " + subject +
            b"\r\nMessage-ID: <" + str(abs(hash(from_header))).encode() + b"@cidada.example>\r\n"
            b"Date: Mon, 23 Nov 2026 10:00:00 -0300\r\n\r\nN\xc3\xa3o consigo incluir a enfermeira.\r\n")


@pytest.mark.parametrize(("from_header", "reason_words"), [
    (b"poison\x00@cidada.example", ["From: 'poison\\x00@cidada.example': the local part has a NUL character"]),
    (CRLF_NAME.encode(), ["From: 'x@y': the domain 'y' is not fully qualified"]),
], ids=["nul-in-local-part", "crlf-in-encoded-name"])
def test_a_broken_from_is_quarantined_not_a_ticket_and_nothing_is_sent(
        target: Target, from_header: bytes, reason_words: list[str]) -> None:
    # The envelope is a good address: a broken From must not fall back to it.
    target.send(raw_mail(from_header), mail_from=ANA)

    [(step, reason)] = target.quarantined()
    assert step == "act"
    for words in reason_words:
        assert words in reason
    assert "names no requester" in reason
    assert target.tickets() == []
    assert target.outbox_kinds() == [], "nothing is queued, to that address or any other"

    protocol = target.citizen_opens()  # the listener goes on serving
    assert target.ticket(protocol)["requester"] == ANA
    assert len(target.outbox(kind="ack")) == len(target.outbox(kind="ack", to=ANA)) == 1


def test_an_encoded_name_never_gives_the_requester_address(target: Target) -> None:
    target.send(raw_mail(b"=?utf-8?Q?Ana_Bcc:_victim@outside.example?= <ana@cidada.example>"),
                mail_from="bounce-1234@mta.cidada.example")

    [ticket] = target.tickets()
    assert ticket["requester"] == ANA
    assert target.outbox(to="victim@outside.example") == []
    assert target.outbox(to="_victim@outside.example?=") == []


def test_a_mail_without_from_still_falls_back_to_the_envelope_sender(target: Target) -> None:
    raw = (b"To: " + CNES.encode() + b"\r\nSubject: Erro no cadastro\r\nMessage-ID: <no-from@cidada.example>\r\n"
           b"Date: Mon, 23 Nov 2026 10:00:00 -0300\r\n\r\nSem remetente no cabecalho.\r\n")
    target.send(raw, mail_from=ANA)

    [ticket] = target.tickets()
    assert ticket["requester"] == ANA
    assert target.outbox(kind="ack", to=ANA)
