"""Review P18/P19: one mail shaped to make a regular expression backtrack
must cost bounded work, and the genuine mail queued behind it must not wait.

A From folded to ~250 KB of spaces made the From reader backtrack
quadratically (24 s of a processing worker); a follow-up whose text is one
long line ``On x x x ...`` (base64, so no SMTP line limit) did the same in
mail-parser-reply's "On ... wrote:" pattern (40 KB: 20 s; 200 KB: minutes).

Over real SMTP each mail is processed (quarantined or added to its ticket)
and a genuine mail sent right after it is processed too.  Nothing is timed:
the work is bounded by construction, and the tests check the bound itself
by recording what reaches the regular expressions.  Below, the readers
called directly with inputs on which the old code ran for minutes.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

import gateway.mail.mailboxes as mailboxes
import gateway.mail.quotes as quotes
from gateway.mail.mailboxes import MAX_FROM_LENGTH, first_mailbox
from gateway.mail.quotes import reply_text
from tests.helpers.mailfactory import make_mail
from tests.security.conftest import ANA, CNES, MTA_PEER, PUBLIC_PEER, Target, passes

JOANA = "joana@cidada.example"
#: What the library may be shown of one text: the lines that start in its
#: first 20,000 characters, 8 more, each cut to 1,000 characters.
LIBRARY_MOST = quotes._LIBRARY_PREFIX + (quotes._LOOKAHEAD_LINES + 1) * (quotes._LONG_LINE + 1)


class _Recorder:
    """Stands for a regex or the library's message class and records the
    size of every text handed to it."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.sizes: list[int] = []  # characters of each text
        self.lines: list[int] = []  # characters of its longest line

    def _record(self, text: str) -> None:
        self.sizes.append(len(text))
        self.lines.append(max(len(line) for line in text.split("\n")))

    def fullmatch(self, text: str) -> Any:
        self._record(text)
        return self.real.fullmatch(text)

    def __call__(self, *, text: str, **kwargs: Any) -> Any:
        self._record(text)
        return self.real(text=text, **kwargs)


@pytest.fixture
def library(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    recorder = _Recorder(quotes.EmailMessage)  # mail-parser-reply's entry point, as quotes calls it
    monkeypatch.setattr(quotes, "EmailMessage", recorder)
    return recorder


@pytest.fixture
def from_regex(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    recorder = _Recorder(mailboxes._COMMON)
    monkeypatch.setattr(mailboxes, "_COMMON", recorder)
    return recorder


def _genuine_mail() -> bytes:
    return make_mail(subject="Erro no cadastro", sender=f"Joana <{JOANA}>", to=CNES, body="Não consigo entrar.",
                     trace=passes(JOANA))


# -- through the real listener -----------------------------------------------------------


def test_a_from_of_250_kb_of_spaces_is_quarantined_unread_and_the_next_mail_goes_through(
        target: Target, from_regex: _Recorder):
    folded = "a" + "".join("\r\n " + " " * 900 for _ in range(270)) + "b"  # under max_header_bytes
    raw = f"From: {folded}\r\nTo: {CNES}\r\nSubject: x\r\nMessage-ID: <spaces@evil.example>\r\n\r\nx\r\n".encode()
    target.send(raw, mail_from="mallory@evil.example", source=PUBLIC_PEER, wait=False)
    target.send(_genuine_mail(), mail_from=JOANA, source=MTA_PEER, wait=False)
    target.running.wait_processed(2)

    [(step, reason)] = target.quarantined()
    assert step == "act" and f"characters long, more than the {MAX_FROM_LENGTH:,} that name any sender" in reason
    assert [t["requester"] for t in target.tickets()] == [JOANA]
    assert from_regex.sizes and max(from_regex.sizes) <= MAX_FROM_LENGTH, "a long From reached the regex"


def test_a_follow_up_of_one_200_kb_line_is_added_and_the_next_mail_goes_through(
        target: Target, library: _Recorder):
    protocol = target.citizen_opens()
    long_line = "On " + "x " * 100_000  # the old code: ~8 minutes in the "On ... wrote:" pattern
    follow_up = make_mail(subject=f"RES: [{protocol}] Erro", sender=f"Ana <{ANA}>", to=CNES, body=long_line,
                          trace=passes(ANA))
    target.send(follow_up, mail_from=ANA, source=MTA_PEER, wait=False)
    target.send(_genuine_mail(), mail_from=JOANA, source=MTA_PEER, wait=False)
    target.running.wait_processed(3)

    assert target.quarantined() == []
    incoming = [m for m in target.ticket(protocol)["messages"] if m["direction"] == "in"]
    assert len(incoming) == 2 and long_line.strip() in incoming[1]["text"]
    assert JOANA in [t["requester"] for t in target.tickets()]
    assert library.sizes and max(library.sizes) <= LIBRARY_MOST
    assert max(library.lines) <= quotes._LONG_LINE, "a long line reached the library's regexes"


# -- the readers ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "a" + " " * 2_000_000 + "b",  # the old regex: ~30 minutes
    "a" + " " * 2_000_000 + "<",
    " " * 2_000_000 + "x",  # cubic in the old regex: 8 KB of spaces took 77 s
    "a " * 1_000_000,
    "a" + "\t" * 2_000_000 + "<ana@example.org",
], ids=["spaces", "spaces-then-angle", "leading-spaces", "words", "tabs-then-open-address"])
def test_the_common_from_regex_reads_two_megabytes_in_one_pass(value: str):
    assert mailboxes._COMMON.fullmatch(value) is None


def test_a_from_over_the_limit_is_a_problem_that_names_its_length():
    mailbox = first_mailbox("Ana" + " " * MAX_FROM_LENGTH + "<ana@example.org>")
    assert mailbox.address == ""
    assert mailbox.problem.startswith(f"{MAX_FROM_LENGTH + 20:,} characters long, more than the 2,000")
    assert first_mailbox("Ana" + " " * 1_900 + "<ana@example.org>").address == "ana@example.org"


@pytest.mark.parametrize("text", [
    "On " + "x " * 200_000,  # one 400 KB line: the old code, half an hour
    ("On " + "x " * 498 + "\n") * 1_000,  # 1 MB of lines just under the long-line limit
    ("On x wrote:\n" + "> q\n" * 6_000 + "resposta\n") * 20,  # quote blocks longer than the prefix
], ids=["one-long-line", "lines-at-the-limit", "long-quote-blocks"])
def test_the_library_is_shown_a_bounded_prefix_with_short_lines(text: str, library: _Recorder):
    reply_text(text)
    assert library.sizes and max(library.sizes) <= LIBRARY_MOST
    assert max(library.lines) <= quotes._LONG_LINE


HEADER = "Em qua., 18 de nov. de 2026 às 15:20, Central <cnes@example.gov.br> escreveu:"
OUTLOOK = ("De: Central CNES <cnes@example.gov.br>\nEnviado: quarta-feira, 18 de novembro de 2026 15:20\n"
           "Para: Ana <ana@cidada.example>\nAssunto: RE: [CNES-2026-000005-6] Erro no cadastro")


def _answer(size: int) -> str:
    """Lines of a long answer, ``size`` characters in all."""
    text = "\n".join(f"Linha {index} do relato, sem citação nenhuma." for index in range(size // 50))
    return text + "\n" + "x" * (size - len(text) - 1)


@pytest.mark.parametrize("header", [HEADER, OUTLOOK], ids=["gmail", "outlook"])
def test_a_quote_header_that_starts_at_the_end_of_the_prefix_is_still_cut(header: str):
    answer = _answer(quotes._LIBRARY_PREFIX - 10)  # the header starts 8 characters before the prefix ends
    assert reply_text(f"{answer}\n\n{header}\n> Prezada Ana,\n> pedimos a versão.\n\nSem citação.") == answer


def test_a_long_line_of_the_answer_comes_back_whole():
    paragraph = "Segue o relato completo: " + "o sistema recusa o cadastro da enfermeira " * 100
    assert len(paragraph) > quotes._LONG_LINE
    text = f"Bom dia,\n\n{paragraph}\n\n{HEADER}\n> Prezada Ana,\n> pedimos a versão."
    assert reply_text(text) == f"Bom dia,\n\n{paragraph.strip()}"


def test_quotes_past_the_prefix_are_not_looked_for_but_a_trailing_quote_block_goes():
    answer = _answer(quotes._LIBRARY_PREFIX + 10_000)
    assert reply_text(f"{answer}\n\n{HEADER}\n> Prezada Ana,\n> pedimos a versão.") == answer


def test_a_subject_of_200_kb_is_read_to_its_first_16_kb_and_a_defect_says_so():
    """Flanker's long-header.eml: 209,684 characters in 6,600 encoded words
    (40 ms to decode, for a ticket that keeps 500 characters).  The first
    16 KB are read, cut at a fold, so no encoded word is cut; the defect
    names the length; a normal long subject is read whole."""
    from gateway.mail.parsed import parse
    from tests.helpers.corpus import CORPUS, require_corpus

    words = "\r\n ".join(f"=?utf-8?q?Parte_{n:05d}_da_solicita=C3=A7=C3=A3o?=" for n in range(6_000))
    raw = f"From: {ANA}\r\nTo: {CNES}\r\nSubject: {words}\r\n\r\ncorpo\r\n".encode()
    mail = parse(raw)
    assert mail.subject.startswith("Parte 00000 da solicitação") and "\ufffd" not in mail.subject
    read = words[:words.rfind("\n", 0, 16_384)]
    assert mail.subject.count("Parte ") == read.count("=?utf-8?q?") > 300 and mail.subject.endswith("da solicitação")
    [defect] = [d for d in mail.defects if d.startswith("Subject of ")]
    length, first = (int(n.replace(",", "")) for n in re.findall(r"[\d,]{5,}", defect))
    assert length > 250_000 and 16_000 < first <= 16_384, defect
    whole = parse(f"From: {ANA}\r\nSubject: {'Erro no cadastro ' * 100}\r\n\r\nx\r\n".encode())
    assert whole.subject == ("Erro no cadastro " * 100).strip() and not whole.defects
    require_corpus("flanker/messages")
    flanker = parse((CORPUS / "flanker/messages/long-header.eml").read_bytes())
    assert flanker.subject.startswith("Die heiße Zypernsonne")
    assert any(d.startswith("Subject of 209,6") for d in flanker.defects)


@pytest.mark.parametrize("value", [
    "a" + " " * 2_000_000 + "b",
    "ana@example.org," + " " * 2_000_000 + "x",
    " " * 2_000_000 + "<ana@example.org>",
    "Ana" + " \t" * 1_000_000 + "x",
    "a@b, " * 400_000 + "a@b,",
], ids=["spaces", "spaces-after-a-comma", "leading-spaces", "blanks-in-a-name", "many-items-then-a-comma"])
def test_the_plain_address_list_regex_reads_two_megabytes_in_one_pass(value: str):
    """The To/Cc fast path (gateway.mail.parsed): 8,000 spaces took 0.13 s
    and 250 KB would have taken minutes before its runs were possessive."""
    from gateway.mail.parsed import _SIMPLE_LIST

    assert _SIMPLE_LIST.fullmatch(value) is None


def test_a_to_folded_to_250_kb_of_spaces_is_read_and_its_address_kept():
    from gateway.mail.parsed import parse

    folded = "".join("\r\n " + " " * 900 for _ in range(270))
    raw = (f"From: Ana <{ANA}>\r\nTo: {CNES},{folded}x\r\nSubject: x\r\nMessage-ID: <to@evil.example>\r\n\r\nx\r\n"
           ).encode()
    assert CNES in parse(raw).to
