"""Issue 13, item 8f: a mail of 10,000 MIME parts, or 200 levels deep,
costs bounded work, and the answers it draws stay small.

Over real SMTP to a mailbox whose rules refuse executables: a ticket is
opened, at most ``[processing] max_parts`` parts are read (the rest stays
in the raw mail), the citizen's notice names 20 files and "e mais N
arquivos", and ``/healthz`` answers before the mail has been processed.
Below, the parser's walk itself: bounded in both parsers, counted rather
than timed.
"""

from __future__ import annotations

import base64
import email
import email.message
import email.policy
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

import gateway.mail.attachments as attachments_module
import gateway.mail.bounded as bounded_module
import gateway.mail.parsed as parsed_module
from gateway.mail.parsed import parse
from gateway.outbound.render import Renderer, sample_context
from gateway.services.rulings import MAX_LISTED
from gateway.store import inbox
from tests.security.conftest import CNES, MALLORY, Target

MAX_PARTS = 500
MAX_DEPTH = 20
RULES = """\
[attachments]                 # images only: every part of the bombs below is refused
allowed = ["image/gif", "image/jpeg", "image/png"]
max_size = "3MB"
"""
EXECUTABLE = base64.b64encode(b"MZ\x90\x00" + b"\x00" * 60).decode("ascii")  # sniffed as an executable
HEAD = ("From: Mallory <mallory@evil.example>\r\nTo: cnes@example.gov.br\r\nSubject: {subject}\r\n"
        "Message-ID: <{subject}@evil.example>\r\nMIME-Version: 1.0\r\n")


def many_parts(count: int) -> bytes:
    """A multipart/mixed mail: a short text, then ``count`` tiny executables."""
    parts = ["--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSeguem os arquivos.\r\n"]
    parts += [f"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
              f"filename=\"arquivo-{index:05d}.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{EXECUTABLE}\r\n"
              for index in range(count)]
    return (HEAD.format(subject=f"muitos-{count}") + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            + "".join(parts) + "--b--\r\n").encode("ascii")


def nested(depth: int) -> bytes:
    """Multiparts ``depth`` levels deep, a line of text at each level, an executable at the bottom."""
    opening = [f'Content-Type: multipart/mixed; boundary="n{level}"\r\n\r\n--n{level}\r\n'
               f"Content-Type: text/plain\r\n\r\nnivel {level}\r\n--n{level}\r\n" for level in range(depth)]
    closing = [f"--n{level}--\r\n" for level in reversed(range(depth))]
    bottom = ('Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="fundo.exe"\r\n'
              f"Content-Transfer-Encoding: base64\r\n\r\n{EXECUTABLE}\r\n")
    return (HEAD.format(subject=f"aninhado-{depth}") + "".join(opening) + bottom + "".join(closing)).encode("ascii")


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return many_parts(10_000)


@pytest.fixture
def desk(attack_desk: Any, tmp_path: Path) -> Target:
    rules = tmp_path / "anexos.toml"
    rules.write_text(RULES)
    return attack_desk(cnes={"rules": str(rules)}, processing={"max_parts": MAX_PARTS, "max_depth": MAX_DEPTH})


def _text(mail: Any) -> str:
    return str(mail.get_body(("plain",)).get_content())


# -- through the real listener -----------------------------------------------------------


def test_ten_thousand_parts_open_a_ticket_with_bounded_attachments_and_a_short_notice(desk, bomb):
    desk.send(bomb, mail_from=MALLORY, to=CNES)
    [ticket] = desk.tickets()
    [message] = [m for m in desk.ticket(ticket["protocol"])["messages"] if m["direction"] == "in"]
    assert "Seguem os arquivos." in message["text"]
    stored = message["attachments"]
    assert 0 < len(stored) <= MAX_PARTS, "the rest is kept in the raw mail only"
    assert not any(a["passed_on"] for a in stored)

    [notice] = desk.outbox(kind="ack", to="mallory@evil.example")  # the acknowledgement lists the files
    assert len(notice.as_bytes()) < 20_000
    text = _text(notice)
    assert text.count(".exe: ") == MAX_LISTED
    assert f"- e mais {len(stored) - MAX_LISTED} arquivos" in text

    [team] = desk.outbox(kind="team_new")
    assert len(team.as_bytes()) < 20_000, "the team's headline names 20 files too"
    assert _text(team).count(".exe: ") == MAX_LISTED and f"e mais {len(stored) - MAX_LISTED} arquivos" in _text(team)


def test_healthz_answers_while_the_bomb_is_being_processed(desk, bomb, monkeypatch):
    """/healthz answers while the processor is inside the bomb's transaction
    (it used to wait for that transaction's lock, seconds for such a mail).
    The processor is held there, write lock taken, until /healthz has
    answered: an order, not a race with how fast the bomb is parsed on a
    busy machine.  Held 20 s at most; a /healthz that waited would time out
    first, after 10."""
    import gateway.pipeline.parse as parse_step

    inside, answered = threading.Event(), threading.Event()
    real_parse = parse_step.parse_bytes

    def held(raw: bytes, **limits: Any) -> Any:
        inside.set()
        answered.wait(20)
        return real_parse(raw, **limits)

    monkeypatch.setattr(parse_step, "parse_bytes", held)
    desk.send(bomb, mail_from=MALLORY, to=CNES, wait=False)
    assert inside.wait(20), "the processor never began the mail"
    try:
        health = httpx.get(f"{desk.settings.web.base_url}/healthz", timeout=10)
        with desk.running.gateway.db.reading() as tx:  # a look that does not queue behind the processor either
            still_accepted = inbox.counts(tx).get("accepted", 0)
    finally:
        answered.set()
    assert health.status_code == 200
    assert still_accepted == 1, "the mail was still inside its processing when /healthz answered"
    desk.running.wait_processed(1)
    assert len(desk.tickets()) == 1


def test_two_hundred_levels_of_nesting_are_read_down_to_max_depth(desk):
    desk.send(nested(200), mail_from=MALLORY, to=CNES)
    [ticket] = desk.tickets()
    [message] = [m for m in desk.ticket(ticket["protocol"])["messages"] if m["direction"] == "in"]
    assert f"nivel {MAX_DEPTH - 1}" in message["text"] and f"nivel {MAX_DEPTH}" not in message["text"]
    assert message["attachments"] == [], "the executable at the bottom was never read"
    assert not desk.outbox(kind="attachments_refused")


# -- the walk -------------------------------------------------------------------------------


def test_the_walk_decodes_and_sniffs_at_most_max_parts(bomb, monkeypatch):
    sniffed: list[int] = []
    real_sniff = attachments_module.sniff
    monkeypatch.setattr(attachments_module, "sniff", lambda data: sniffed.append(1) or real_sniff(data))
    mail = parse(bomb, max_parts=MAX_PARTS, max_depth=MAX_DEPTH)
    assert len(mail.attachments) == len(sniffed) == MAX_PARTS - 2  # the message, its text, 498 files
    [stop] = [d for d in mail.defects if d.startswith("more than 500 MIME parts (max_parts): reading stopped")]
    assert stop.endswith(f"of {len(bomb):,}; the rest is kept in the raw mail only")
    [read] = [d for d in mail.defects if d.startswith("read 500 of at least ")]
    assert read.endswith(" MIME parts (max_parts); the rest is kept in the raw mail only")


class CountingMessage(email.message.Message):
    """compat32's Message, counting how many the parser makes."""

    made = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        CountingMessage.made += 1


@pytest.mark.parametrize("count", [10_000, 1_000_000])
def test_the_parser_stops_soon_after_max_parts(count, monkeypatch):
    """The tree the parser builds is bounded, not only the walk over it: a
    mail of a million one-line parts (11 MB, under the default size limit)
    made a million objects before the walk read 500 of them.  Counted, not
    timed: the parser makes at most one piece's worth (8,192 characters) of
    parts past max_parts."""
    if count == 1_000_000:
        raw = (HEAD.format(subject="um-milhao") + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n').encode() \
            + b"--b\r\n\r\nx\r\n" * count + b"--b--\r\n"
    else:
        raw = many_parts(count)
    monkeypatch.setattr(bounded_module, "Message", CountingMessage)
    CountingMessage.made = 0
    mail = parse(raw, max_parts=MAX_PARTS, max_depth=MAX_DEPTH)
    smallest_part = len(b"--b\r\n\r\nx\r\n")
    assert MAX_PARTS < CountingMessage.made <= MAX_PARTS + 2 + 8192 // smallest_part  # +1: the factory's try
    assert any(d.startswith("more than 500 MIME parts (max_parts): reading stopped") for d in mail.defects)
    assert mail.subject in ("muitos-10000", "um-milhao")


def test_a_mail_of_exactly_max_parts_is_read_whole(monkeypatch):
    raw = many_parts(MAX_PARTS - 2)  # the message, its text and 498 files: 500 parts
    monkeypatch.setattr(bounded_module, "Message", CountingMessage)
    CountingMessage.made = 0
    mail = parse(raw, max_parts=MAX_PARTS, max_depth=MAX_DEPTH)
    assert CountingMessage.made == MAX_PARTS + 1  # and one the parser makes to try its factory
    assert len(mail.attachments) == MAX_PARTS - 2
    assert not any("max_parts" in d for d in mail.defects)


def _attached(inner: bytes, name: str) -> str:
    return (f'--o\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="{name}"\r\n\r\n'
            + inner.decode("ascii") + "\r\n")


def test_an_attached_mail_where_reading_stopped_is_left_out_not_offered_cut():
    """Reading stops inside the second attached mail: half of it would be
    offered as the whole file.  The first, read whole, is offered whole."""
    small, big = many_parts(3), many_parts(5_000)
    outer = (HEAD.format(subject="duas-encaminhadas") + 'Content-Type: multipart/mixed; boundary="o"\r\n\r\n'
             + "--o\r\nContent-Type: text/plain\r\n\r\nVeja abaixo.\r\n"
             + _attached(small, "pequena.eml") + _attached(big, "grande.eml") + "--o--\r\n").encode("ascii")
    mail = parse(outer, max_parts=MAX_PARTS, max_depth=MAX_DEPTH)
    assert mail.text.strip() == "Veja abaixo."
    [file] = mail.attachments
    assert file.filename == "pequena.eml"
    assert email.message_from_bytes(file.data).get("Subject") == "muitos-3"
    assert "message/rfc822 part left out: reading stopped inside it (a part limit); it is kept in the raw mail only" \
        in mail.defects


def test_the_mail_parser_fallback_reads_no_more_than_the_stdlib_walk(bomb, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("a bug in our walk")

    monkeypatch.setattr(parsed_module, "split_parts", broken)
    mail = parse(bomb, max_parts=MAX_PARTS, max_depth=MAX_DEPTH)
    assert "parsed by the mail-parser fallback" in mail.defects
    assert len(mail.attachments) == MAX_PARTS - 2
    assert sum(defect.startswith("read 500 of at least ") for defect in mail.defects) == 1
    assert sum(defect.startswith("more than 500 MIME parts") for defect in mail.defects) == 1
    deep = parse(nested(200), max_parts=MAX_PARTS, max_depth=MAX_DEPTH)
    assert not any(a.filename == "fundo.exe" for a in deep.attachments)


def test_nesting_is_cut_at_max_depth_with_a_defect_counting_what_was_left():
    mail = parse(nested(200), max_parts=MAX_PARTS, max_depth=MAX_DEPTH)
    assert mail.attachments == ()
    assert "nivel 19" in mail.text and "nivel 20" not in mail.text
    [defect] = [d for d in mail.defects if "max_depth" in d]
    assert defect.startswith("MIME nesting deeper than 20 levels (max_depth): ")


def test_parts_inside_an_attached_mail_count_but_the_attached_mail_is_one_file():
    inner = many_parts(30)
    outer = (HEAD.format(subject="encaminhada") + 'Content-Type: multipart/mixed; boundary="o"\r\n\r\n'
             "--o\r\nContent-Type: text/plain\r\n\r\nVeja abaixo.\r\n"
             '--o\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="original.eml"\r\n\r\n'
             ).encode() + inner + b"\r\n--o--\r\n"
    mail = parse(outer, max_parts=10, max_depth=MAX_DEPTH)
    assert [a.filename for a in mail.attachments] == ["original.eml"]
    assert mail.text.strip() == "Veja abaixo."
    assert any(d.startswith("read 10 of 35 MIME parts") for d in mail.defects)


def test_prune_leaves_another_parsers_walk_only_the_parts_read():
    message = email.message_from_bytes(many_parts(50), policy=email.policy.compat32)
    defects: list[str] = []
    attachments_module.prune(message, max_parts=10, max_depth=MAX_DEPTH, defects=defects)
    assert len(list(message.walk())) == 10
    assert defects == ["read 10 of 52 MIME parts (max_parts); the rest is kept in the raw mail only"]


# -- the lists in the replies ---------------------------------------------------------------


@pytest.mark.parametrize("language, more, expected", [
    ("pt_BR", 9980, "- e mais 9.980 arquivos"),
    ("en", 9980, "- and 9,980 more files"),
    ("pt_BR", 1, "- e mais 1 arquivo\n"),
])
def test_the_refused_list_ends_with_how_many_more(language: str, more: int, expected: str):
    context = {**sample_context(), "refused_more": more}
    rendered = Renderer().render("attachments_refused", language=language, mailbox=CNES, context=context)
    assert expected in rendered.text
    assert expected.strip().lstrip("- ") in rendered.html


@pytest.mark.parametrize("language, expected", [("pt_BR", "tela.png e mais 9.980 arquivos"),
                                                ("en", "tela.png and 9,980 more files")])
def test_the_team_list_of_attachments_ends_with_how_many_more(language: str, expected: str):
    for name in ("team_new", "team_followup"):
        context = {**sample_context(), "attachments_more": 9980}
        rendered = Renderer().render(name, language=language, mailbox=CNES, context=context)
        assert expected in rendered.text and expected in rendered.html, name


def _tiny(count: int, boundary: str) -> str:
    return f"--{boundary}\r\n\r\nx\r\n" * count + f"--{boundary}--\r\n"


def _deep(levels: int, inside: str) -> str:
    """``levels`` nested multiparts, a line of text at each, ``inside`` at the bottom."""
    opening = "".join(f'Content-Type: multipart/mixed; boundary="d{level}"\r\n\r\n--d{level}\r\n'
                      f"Content-Type: text/plain\r\n\r\nnivel {level}\r\n--d{level}\r\n" for level in range(levels))
    closing = "".join(f"\r\n--d{level}--\r\n" for level in reversed(range(levels)))
    return opening + inside + closing


def test_parts_below_max_depth_do_not_stop_the_parser_before_the_body_after_them():
    """600 parts under 21 levels of nesting, then the mail's own text and a
    PDF: the walk never reads the deep ones, so they do not count towards
    max_parts and the parser reads on to the text and the file."""
    deep = _deep(MAX_DEPTH + 1, 'Content-Type: multipart/mixed; boundary="t"\r\n\r\n' + _tiny(600, "t"))
    pdf = base64.b64encode(b"%PDF-1.4\n" + b"0" * 200).decode("ascii")
    raw = (HEAD.format(subject="fundo") + 'Content-Type: multipart/mixed; boundary="o"\r\n\r\n'
           f"--o\r\n{deep}\r\n--o\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nO texto do cidadao.\r\n"
           '--o\r\nContent-Type: application/pdf; name="oficio.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
           f"{pdf}\r\n--o--\r\n").encode("ascii")
    mail = parse(raw, max_parts=MAX_PARTS, max_depth=MAX_DEPTH)
    assert "O texto do cidadao." in mail.text
    assert [a.filename for a in mail.attachments] == ["oficio.pdf"]
    assert not any(d.startswith("more than") for d in mail.defects)
    assert any(d.startswith("MIME nesting deeper than 20 levels (max_depth)") for d in mail.defects)


def test_a_bomb_below_max_depth_still_stops_the_parser(monkeypatch):
    raw = (HEAD.format(subject="bomba-funda").encode("ascii")
           + _deep(MAX_DEPTH + 1, 'Content-Type: multipart/mixed; boundary="t"\r\n\r\n' + _tiny(200_000, "t"))
           .encode("ascii"))
    monkeypatch.setattr(bounded_module, "Message", CountingMessage)
    CountingMessage.made = 0
    mail = parse(raw, max_parts=MAX_PARTS, max_depth=MAX_DEPTH)
    assert CountingMessage.made <= 10 * MAX_PARTS + 2 + 8192 // len("--t\r\n\r\nx\r\n")
    assert any(d.startswith("more than 5,000 MIME parts in all (10 x max_parts): reading stopped")
               for d in mail.defects)


def test_an_attached_mail_read_whole_before_reading_stopped_is_kept_whole():
    """The parser stops in the outer mail's epilogue, after the attached
    mail (itself of 500 parts) was read to its end: it is offered whole.
    (The epilogue's lines hold a space: a run of base64-like lines would be
    fed as one line, and the parse would end before any stop.)"""
    inner = (HEAD.format(subject="anexada") + 'Content-Type: multipart/mixed; boundary="i"\r\n\r\n'
             + _tiny(500, "i"))
    raw = (HEAD.format(subject="externa") + 'Content-Type: multipart/mixed; boundary="o"\r\n\r\n'
           "--o\r\nContent-Type: text/plain\r\n\r\nVeja a anexada.\r\n"
           '--o\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="anexada.eml"\r\n\r\n'
           f"{inner}\r\n--o--\r\n" + "fim do epilogo\r\n" * 3_000).encode("ascii")
    mail = parse(raw, max_parts=MAX_PARTS, max_depth=MAX_DEPTH)
    assert any(d.startswith("more than 500 MIME parts (max_parts): reading stopped") for d in mail.defects)
    [file] = mail.attachments
    assert file.filename == "anexada.eml"
    assert email.message_from_bytes(file.data).get("Subject") == "anexada"
    assert len(email.message_from_bytes(file.data).get_payload()) == 500


def test_a_report_of_a_million_parts_is_read_as_far_as_any_mail(monkeypatch):
    """A mail that calls itself a delivery report goes to the report reader
    (gateway.mail.dsn) too, which parsed the whole of it: the bound holds there."""
    from gateway.mail import dsn

    raw = (HEAD.format(subject="relatorio").encode("ascii")
           + b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
           + b"--b\r\n\r\nx\r\n" * 1_000_000 + b"--b--\r\n")
    monkeypatch.setattr(bounded_module, "Message", CountingMessage)
    CountingMessage.made = 0
    report = dsn.read(raw)
    assert CountingMessage.made <= MAX_PARTS + 2 + 8192 // len("--b\r\n\r\nx\r\n")
    assert not report.recipients


def test_without_the_parsers_stack_every_part_counts_and_the_cut_path_is_left_out(monkeypatch):
    """A Python whose FeedParser keeps no ``_msgstack``: the bound still
    holds (every part made counts) and the attached mail reading stopped
    inside is found by its path from the root."""
    real_getattr = getattr
    monkeypatch.setattr(bounded_module, "getattr",
                        lambda obj, name, *default: None if name == "_msgstack" else real_getattr(obj, name, *default),
                        raising=False)
    outer = (HEAD.format(subject="sem-pilha") + 'Content-Type: multipart/mixed; boundary="o"\r\n\r\n'
             + "--o\r\nContent-Type: text/plain\r\n\r\nVeja abaixo.\r\n"
             + _attached(many_parts(5_000), "grande.eml") + "--o--\r\n").encode("ascii")
    monkeypatch.setattr(bounded_module, "Message", CountingMessage)
    CountingMessage.made = 0
    mail = parse(outer, max_parts=MAX_PARTS, max_depth=MAX_DEPTH)
    assert CountingMessage.made <= MAX_PARTS + 2 + 8192 // 200
    assert mail.attachments == () and mail.text.strip() == "Veja abaixo."
    assert "message/rfc822 part left out: reading stopped inside it (a part limit); it is kept in the raw mail only" \
        in mail.defects
