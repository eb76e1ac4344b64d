"""``gateway.mail.bounded`` feeds each run of base64 lines to the parser as
one token line and puts the run back where the token landed.  The tree
must be the stdlib's own, part by part, wherever a run sits: these mails
put runs where the parser treats lines differently (a part's last line
before a boundary, headers with no blank line after them, a delivery
report's blocks, preamble and epilogue, the scan's and the feed's piece
edges).  The corpus-wide check is in ``test_real_world.py``."""

from __future__ import annotations

import base64
import email
import email.policy
import re
from email.message import Message

import pytest

import gateway.mail.bounded as bounded

HEAD = ("From: Ana <ana@example.org>\r\nTo: cnes@example.gov.br\r\nSubject: {subject}\r\n"
        "Message-ID: <{subject}@example.org>\r\nMIME-Version: 1.0\r\n")


def b64_lines(size: int, seed: int = 0, eol: str = "\r\n", width: int = 76) -> str:
    """``size`` bytes of varied data, base64 in lines of ``width``."""
    data = bytes((seed + i * 7 + i // 251) % 256 for i in range(size))
    text = base64.b64encode(data).decode("ascii")
    return "".join(text[i:i + width] + eol for i in range(0, len(text), width))


def tree(message: Message) -> list[tuple[object, ...]]:
    return [(part.get_content_type(), tuple(part.raw_items()), part.get_payload() if not part.is_multipart() else None,
             part.preamble, part.epilogue, [type(d).__name__ for d in part.defects]) for part in message.walk()]


def stdlib(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def multipart(subject: str, *parts: str, preamble: str = "", epilogue: str = "", eol: str = "\r\n") -> bytes:
    body = "".join(f"--b{eol}{part}{eol}" for part in parts)
    text = (HEAD.format(subject=subject) + f'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            f"{preamble}{body}--b--{eol}{epilogue}")
    return text.replace("\r\n", eol).encode("ascii")


FILE = "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"

CASES = {
    # the line end before a boundary belongs to the boundary: the parser takes it off the part's text
    "run ends a part": multipart("fim", "Content-Type: text/plain\r\n\r\nSegue.", FILE + b64_lines(40_000)),
    "run ends a part, LF only": multipart("lf", FILE.replace("\r\n", "\n") + b64_lines(40_000, eol="\n"),
                                          eol="\n"),
    "text after the run in the same part": multipart("depois", FILE + b64_lines(20_000) + "fim do arquivo."),
    "two runs, a short line between": multipart("dois", FILE + b64_lines(20_000) + "=\r\n" + b64_lines(20_000, 3)),
    "mixed line ends": multipart("misto", FILE + b64_lines(9_000) + b64_lines(9_000, 1, eol="\n")
                                 + b64_lines(9_000, 2)),
    "long lines are fed as they are": multipart("longas", FILE + b64_lines(60_000, width=400)),
    "two runs, a blank line between": multipart("branca", FILE + b64_lines(6_000) + "\r\n" + b64_lines(6_000)),
    "headers with no blank line after them": multipart(
        "sem-linha", "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n" + b64_lines(30_000)),
    "preamble and epilogue": multipart("bordas", FILE + b64_lines(1_000), preamble=b64_lines(20_000, 5),
                                       epilogue=b64_lines(20_000, 6)),
    "an attached mail": multipart("anexada", 'Content-Type: message/rfc822\r\n\r\n'
                                  + HEAD.format(subject="dentro") + "Content-Type: application/pdf\r\n"
                                  "Content-Transfer-Encoding: base64\r\n\r\n" + b64_lines(30_000)),
    "an attached mail with no blank line": multipart("anexada-sem", 'Content-Type: message/rfc822\r\n\r\n'
                                                     + b64_lines(30_000)),
    "a delivery report's blocks": (HEAD.format(subject="relatorio") + 'Content-Type: multipart/report; '
                                   'report-type=delivery-status; boundary="r"\r\n\r\n--r\r\n'
                                   "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n"
                                   "\r\n" + b64_lines(20_000) + "\r\nAction: failed\r\n\r\n--r--\r\n").encode("ascii"),
    "a plain mail that is all base64": (HEAD.format(subject="simples") + "Content-Type: application/pdf\r\n"
                                        "Content-Transfer-Encoding: base64\r\n\r\n" + b64_lines(50_000)).encode(),
    "the last line has no line end": (HEAD.format(subject="sem-fim") + "Content-Type: application/pdf\r\n"
                                      "Content-Transfer-Encoding: base64\r\n\r\n" + b64_lines(50_000)
                                      + "QUJD").encode("ascii"),
    # more than the scan's stretch: runs cross it and the feed's 8 KB pieces
    "runs across the scan's stretches": multipart("grande", FILE + b64_lines(500_000), FILE + b64_lines(300_000, 9)),
    "8-bit text between runs": multipart("oito", FILE + b64_lines(20_000), "Content-Type: text/plain; "
                                         "charset=iso-8859-1\r\n\r\nAtencao", FILE + b64_lines(20_000, 4))
                                         .replace(b"Atencao", "Aten\xe7\xe3o".encode("latin-1")),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_folded_mail_parses_as_the_stdlib_parses_it(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = CASES[name]
    fed: list[int] = []
    real_feed = bounded.FeedParser.feed
    monkeypatch.setattr(bounded.FeedParser, "feed", lambda self, text: (fed.append(len(text)), real_feed(self, text))[1])
    defects: list[str] = []
    message, stopped = bounded.parse(raw, defects)
    folded = sum(fed)  # before the stdlib's own parse below feeds a FeedParser too
    assert stopped is None and defects == []
    assert tree(message) == tree(stdlib(raw))
    if name == "long lines are fed as they are":
        assert folded == len(raw)
    else:
        assert folded < len(raw) // 3, "the runs were fed as one line each"


def test_runs_are_folded_so_the_parser_reads_few_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """What makes it worth it: a 1 MB file (17,500 lines) reaches the parser
    as a line per stretch scanned."""
    raw = multipart("grande", "Content-Type: text/plain\r\n\r\nSegue.", FILE + b64_lines(1_000_000))
    fed: list[str] = []
    real_feed = bounded.FeedParser.feed
    monkeypatch.setattr(bounded.FeedParser, "feed", lambda self, text: (fed.append(text), real_feed(self, text))[1])
    message, _ = bounded.parse(raw, [])
    assert "".join(fed).count("\n") < 40
    pdf = message.get_payload()[1]
    assert pdf.get_payload(decode=True) == bytes((i * 7 + i // 251) % 256 for i in range(1_000_000))


def test_a_token_already_in_the_mail_is_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token's random part is drawn again until the mail does not hold it."""
    draws = iter(["0" * 16, "0" * 16, "1" * 16])
    monkeypatch.setattr(bounded.secrets, "token_hex", lambda n: next(draws))
    raw = multipart("token", "Content-Type: text/plain\r\n\r\nGWRUN" + "0" * 16 + "0E", FILE + b64_lines(20_000))
    message, _ = bounded.parse(raw, [])
    assert tree(message) == tree(stdlib(raw))
    assert next(draws, None) is None, "the colliding draw was refused and drawn again"


def test_a_failed_restore_sends_the_mail_through_the_plain_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """Should a restore ever fail, the folded tree is thrown away and the
    plain parse decides, with its defects only once."""
    raw = multipart("perdido", FILE + b64_lines(20_000))
    calls: list[int] = []
    monkeypatch.setattr(bounded._Folded, "restored", lambda self, message: calls.append(1) and False)
    defects: list[str] = []
    message, stopped = bounded.parse(raw, defects)
    assert calls == [1]
    assert stopped is None and defects == []
    assert tree(message) == tree(stdlib(raw))
    assert message.get_payload()[0].get_payload() == stdlib(raw).get_payload()[0].get_payload()


def test_a_stop_after_a_folded_run_names_the_mails_own_character(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound counts parts as before; where it stopped is said in the
    mail's own characters, not the folded text's."""
    tiny = "".join("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(2_000))
    raw = (HEAD.format(subject="parada") + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           + "--b\r\n" + FILE + b64_lines(300_000) + tiny + "--b--\r\n").encode("ascii")
    run_end = raw.index(b"--b\r\nContent-Type: text/plain")
    fed: list[str] = []
    real_feed = bounded.FeedParser.feed
    monkeypatch.setattr(bounded.FeedParser, "feed", lambda self, text: (fed.append(text), real_feed(self, text))[1])
    defects: list[str] = []
    message, stopped = bounded.parse(raw, defects, max_parts=500)
    assert stopped is not None
    [defect] = defects
    at, total = (int(n.replace(",", "")) for n in re.findall(r"character ([\d,]+) of ([\d,]+)", defect)[0])
    assert total == len(raw) and run_end < at < len(raw)
    assert sum(map(len, fed)) < len(raw) // 2, "the folded parse stopped (no second, plain one)"
    # exactly where the last piece fed ends in the mail (that piece holds no token: it is past the run)
    assert "GWRUN" not in fed[-1] and raw[:at].decode("ascii").endswith(fed[-1])
    assert not raw[:at + 1].decode("ascii").endswith(fed[-1])
    pdf = message.get_payload()[0]
    assert pdf.get_payload() == stdlib(raw).get_payload()[0].get_payload()


def test_no_piece_fed_holds_half_a_token() -> None:
    """Tokens every few dozen characters of the folded text: the 8 KB
    pieces end after a token, never inside one (a stop there would leave
    half a token as text)."""
    raw = multipart("denso", *(FILE + b64_lines(1_000, seed % 256) for seed in range(1_500)))
    folded = bounded._Folded(raw, raw.decode("ascii"))
    pieces = [piece for piece, _ in folded.pieces()]
    token = re.compile(re.escape(folded.prefix) + r"\d+E")
    assert len(folded.runs) > 1_450 and len(pieces) > 20  # a run cut by a 256 KB stretch may fall below 16 lines
    for before, after in zip(pieces, pieces[1:]):  # a token across two pieces is one more match when joined
        assert len(token.findall(before)) + len(token.findall(after)) == len(token.findall(before + after))
    assert sum(len(token.findall(piece)) for piece in pieces) == len(folded.runs)


def test_lines_the_parser_drops_are_dropped_folded_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a closing boundary with no opening one the parser drops every
    line; their tokens are never found, and that is no reason to parse the
    mail again unfolded."""
    raw = (HEAD.format(subject="sem-abertura") + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           "texto antes\r\n--b--\r\n" + b64_lines(20_000) + "fim\r\n").encode("ascii")
    fed: list[int] = []
    real_feed = bounded.FeedParser.feed
    monkeypatch.setattr(bounded.FeedParser, "feed", lambda self, text: (fed.append(len(text)), real_feed(self, text))[1])
    message, stopped = bounded.parse(raw, [])
    folded = sum(fed)
    assert stopped is None and folded < len(raw) // 3
    assert tree(message) == tree(stdlib(raw))


def test_a_token_found_twice_or_in_a_header_fails_the_restore() -> None:
    """No line of a run can be a header, and each token is fed once: either
    would mean the parse went somewhere folding cannot follow."""
    raw = multipart("restauro", FILE + b64_lines(20_000))
    text = raw.decode("ascii")
    folded = bounded._Folded(raw, text)
    list(folded.pieces())
    token = f"{folded.prefix}0E"
    message = Message()
    message.set_payload(f"{token}\r\n")
    assert folded.restored(message) and message.get_payload() == folded.runs[0] + "\r\n"
    twice = Message()
    twice.set_payload(f"{token}\r\n{token}\r\n")
    assert not folded.restored(twice)
    header = Message()
    header["X-Linha"] = token
    assert not folded.restored(header)


ONE_PART = {
    "CRLF": b"From: Ana <ana@example.org>\r\nSubject: Oi\r\n\r\nLinha 1\r\nLinha 2\r\n",
    "LF, no line end at the end": b"From: ana@example.org\nSubject: Oi\n\nLinha 1\nLinha 2",
    "CR only": b"From: ana@example.org\rSubject: Oi\r\rLinha 1\rLinha 2\r",
    "empty body": b"From: ana@example.org\r\nSubject: Oi\r\n\r\n",
    "folded header, mbox From line, 8-bit": (b"From ana@example.org Mon Dec  7 12:00:00 2026\r\n"
                                             b"From: ana@example.org\r\nSubject: =?utf-8?q?Ol=C3=A1?=\r\n"
                                             b" que continua\r\n\r\nN\xc3\xa3o recebi.\r\n"),
    "a blank line of its own in the body": b"Subject: Oi\r\n\r\n\r\n\r\nfim\r\n",
    "html, declared": b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Ol\xc3\xa1</p>\r\n",
}
WHOLE_PARSE = {
    "no empty line after the headers": b"From: ana@example.org\r\nSubject: Oi\r\nLinha sem cabe\xc3\xa7alho\r\n",
    "headers only, the text ends in them": b"From: ana@example.org\r\nSubject: Oi",
    # the parser gives a last "From " line that is not the first back to the body
    "a From_ line last in the header block": b"Subject: x\r\nFrom ana@example.org Mon\r\n\r\ncorpo\r\n",
    "multipart, folded Content-Type": b"Content-Type:\r\n multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
    "an attached mail": b"Content-Type: message/rfc822\r\n\r\nSubject: dentro\r\n\r\ncorpo\r\n",
    "a delivery report's blocks": (b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
                                   b"Final-Recipient: rfc822; ana@example.org\r\nAction: failed\r\n"),
    "Content-Type in another case, after a CR-only header": (b"Subject: x\rCONTENT-TYPE: Multipart/Alternative; "
                                                             b"boundary=z\r\r--z\r\rx\r--z--\r"),
}


@pytest.mark.parametrize("raw", list(ONE_PART.values()) + list(WHOLE_PARSE.values()),
                         ids=list(ONE_PART) + list(WHOLE_PARSE))
def test_a_one_part_mail_is_the_stdlib_tree_without_reading_its_body_line_by_line(raw, monkeypatch):
    """``bounded._one_part`` sets a one-part mail's body from the text
    after its header block; the tree is the stdlib's, and only a plain
    one-part mail takes that way."""
    quick: list[bool] = []
    real = bounded._one_part
    monkeypatch.setattr(bounded, "_one_part", lambda text, factory: quick.append(
        (found := real(text, factory)) is not None) or found)
    message, stopped = bounded.parse(raw, [])
    assert stopped is None and tree(message) == tree(stdlib(raw))
    assert quick == [raw in ONE_PART.values()]
