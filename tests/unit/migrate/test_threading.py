"""Threading a legacy mailbox from headers: JWZ links, no loops, and the
subject + participant fallback for mails whose headers were lost."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gateway.config import MailboxConfig
from gateway.migrate.roles import Team
from gateway.migrate.sources import SourceMail
from gateway.migrate.threading import MailHeaders, normalise_subject, thread

TEAM = Team.of(MailboxConfig(address="atendimento@example.gov.br", protocol_prefix="ATD",
                             analysts=("maria@example.gov.br",)))
DAY = timedelta(days=1)
START = datetime(2025, 3, 3, 12, tzinfo=timezone.utc)


def mail(key: str, *, mid: str | None = None, parents: tuple[str, ...] = (), subject: str = "Erro no cadastro",
         sender: str = "ana@example.org", to: tuple[str, ...] = ("atendimento@example.gov.br",),
         at: datetime = START, automatic: bool = False) -> MailHeaders:
    return MailHeaders(key, "INBOX", mid if mid is not None else f"{key}@example.org", parents, subject, sender, "",
                       to, at, automatic)


def groups(index: list[MailHeaders], window: timedelta = 30 * DAY) -> list[list[str]]:
    threads = thread(index, TEAM, window)
    return sorted(sorted(index[n].key for n in c.mails) for c in threads.conversations)


@pytest.mark.parametrize(("subject", "expected"), [
    ("RES: RES: Erro no cadastro", "erro no cadastro"),
    ("ENC: Fwd: [Externo] Érro  NO Cadastro ", "erro no cadastro"),
    ("AW: WG: TR: FW: Re[2]: erro no cadastro", "erro no cadastro"),
    ("回复: Erro no cadastro", "erro no cadastro"),
    ("Resolução do pedido", "resolucao do pedido"),  # "Res" inside a word is not a prefix
    ("", ""),
])
def test_subjects_are_normalised(subject, expected):
    assert normalise_subject(subject) == expected


def test_replies_join_by_references_and_in_reply_to():
    index = [mail("a"), mail("b", parents=("a@example.org",), sender="atendimento@example.gov.br",
                                to=("ana@example.org",), at=START + DAY),
             mail("c", parents=("a@example.org", "b@example.org"), at=START + 2 * DAY),
             mail("x", subject="Outro assunto", sender="bia@example.org")]
    assert groups(index) == [["a", "b", "c"], ["x"]]


def test_siblings_of_a_missing_original_stay_together_and_count_as_unthreadable():
    index = [mail("b", parents=("gone@example.org",), subject="RE: Pedido"),
             mail("c", parents=("gone@example.org",), subject="RE: Pedido", sender="bia@example.org")]
    threads = thread(index, TEAM, 30 * DAY)
    assert [sorted(index[n].key for n in c.mails) for c in threads.conversations] == [["b", "c"]]
    assert threads.conversations[0].orphan


def test_references_that_loop_do_not_hang_or_lose_mails():
    index = [mail("a", parents=("b@example.org",)), mail("b", parents=("a@example.org",), at=START + DAY)]
    assert groups(index) == [["a", "b"]]


def test_outlook_reply_without_headers_joins_by_subject_and_participant():
    index = [mail("a"), mail("b", mid="", subject="RES: Erro no cadastro", at=START + 3 * DAY),
             mail("t", subject="RE: Erro no cadastro", sender="maria@example.gov.br", to=("ana@example.org",),
                  at=START + DAY)]
    assert groups(index) == [["a", "b", "t"]]


def test_same_subject_from_another_citizen_is_another_conversation():
    index = [mail("a"), mail("b", subject="RES: Erro no cadastro", sender="bia@example.org", at=START + DAY)]
    assert groups(index) == [["a"], ["b"]]


def test_same_subject_long_after_the_window_is_a_new_conversation():
    index = [mail("a"), mail("b", subject="Erro no cadastro", at=START + 40 * DAY)]
    assert groups(index, window=30 * DAY) == [["a"], ["b"]]
    assert groups(index, window=60 * DAY) == [["a", "b"]]


def test_same_message_id_twice_is_a_duplicate_not_a_second_mail():
    index = [mail("inbox-copy"), mail("sent-copy", mid="inbox-copy@example.org")]
    threads = thread(index, TEAM, 30 * DAY)
    assert threads.duplicates == {1: 0}
    assert [c.mails for c in threads.conversations] == [[0]]


def test_unreadable_headers_are_set_aside_with_the_reason():
    headers = MailHeaders.read(SourceMail("k", "INBOX", b"no header here, only text"))
    assert headers.problem and "header" in headers.problem
    threads = thread([headers, mail("a")], TEAM, 30 * DAY)
    assert threads.broken == [0] and len(threads.conversations) == 1


def test_headers_are_read_without_the_body():
    raw = (b"From: Ana <ANA@Example.org>\r\nTo: atendimento@example.gov.br\r\nSubject: =?utf-8?q?D=C3=BAvida?=\r\n"
           b"Message-ID: <m1@example.org>\r\nIn-Reply-To: <m0@example.org>\r\nReferences: <r@example.org>\r\n"
           b"Date: Mon, 03 Mar 2025 09:00:00 -0300\r\nAuto-Submitted: auto-replied")
    headers = MailHeaders.read(SourceMail("k", "INBOX", raw))
    assert (headers.sender, headers.subject, headers.message_id) == ("ana@example.org", "Dúvida", "m1@example.org")
    assert headers.parents == ("r@example.org", "m0@example.org")
    assert headers.date == START and headers.automatic
