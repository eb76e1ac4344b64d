"""``gateway.mail.boundaries``: the parser's boundary lines matched by
string methods instead of a regex compiled per boundary.  Each crafted
line must match as the stdlib's own pattern matches it, groups included;
the corpus-wide comparison of whole trees with the stdlib's parse is in
``test_real_world.py``."""

from __future__ import annotations

import email.feedparser
import random
import re
import string

import pytest

from gateway.mail import boundaries
from gateway.mail.bounded import parse

# What a line may hold after the separator: closing dashes, blanks, each line end, twice, and junk.
_TAILS = ["", "\n", "\r\n", "\r", "--", "--\n", "--\r\n", "--\r", "  \n", "\t \r\n", "-- \t\n", "x", "\n\n", "\r\r",
          "\r\n\n", "--\n\n", " x\n", "--x", "-\n", "---\n", "  ", "\t", "\r\n\r\n", " \r\n", "--\t\r", "\n\r"]
_CHARS = string.ascii_letters + string.digits + "'()+_,-./:=? \t*[]$^\\|{}\n"


def _stdlib_pattern(separator: str) -> str:
    """The pattern email.feedparser compiles for a boundary (Python 3.11's wording)."""
    return "(?P<sep>" + re.escape(separator) + r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"


def test_boundary_lines_match_as_the_stdlib_pattern_does():
    rng = random.Random(19)
    compared = 0
    for _ in range(400):
        separator = "--" + "".join(rng.choice(_CHARS) for _ in range(rng.randint(1, 70)))
        real = re.compile(_stdlib_pattern(separator))
        ours = boundaries._RE.compile(_stdlib_pattern(separator))
        assert isinstance(ours, boundaries.BoundaryLine) and ours.separator == separator
        for tail in _TAILS:
            for line in (separator + tail, separator[:-1] + tail, "x" + separator + tail, separator * 2 + tail):
                expected, got = real.match(line), ours.match(line)
                assert (expected is None) == (got is None), (separator, line)
                if expected is not None:
                    assert [got.group(g) for g in ("sep", "end", "ws", "linesep")] == [
                        expected.group(g) for g in ("sep", "end", "ws", "linesep")], (separator, line)
                compared += 1
    assert compared == 400 * len(_TAILS) * 4


@pytest.mark.parametrize("pattern", [r"(\r\n|\r|\n)\Z", "(?P<sep>--b)(?P<end>--)?$", r"(?P<sep>--b)(?P<ws>[ \t]*)$"])
def test_other_patterns_are_compiled_as_ever(pattern):
    assert isinstance(boundaries._RE.compile(pattern), re.Pattern)


def test_the_process_parser_is_left_alone_and_ours_compiles_no_boundary(monkeypatch):
    """The second parser is the gateway's alone; parsing a multipart mail
    with it compiles no pattern (the boundary of each part is new)."""
    assert email.feedparser.re is re and boundaries.FeedParser is not email.feedparser.FeedParser
    compiled: list[str] = []
    real_compile = re.compile
    monkeypatch.setattr(re, "compile",
                        lambda pattern, flags=0: compiled.append(pattern) or real_compile(pattern, flags))
    raw = (b"From: ana@example.org\r\nSubject: Anexo\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="=_outer 1"\r\n\r\n--=_outer 1\r\n'
           b'Content-Type: multipart/alternative; boundary="inner.2"\r\n\r\n--inner.2\r\n'
           b"Content-Type: text/plain\r\n\r\nOl\xc3\xa1\r\n"
           b"--inner.2\r\nContent-Type: text/html\r\n\r\n<p>Ol\xc3\xa1</p>\r\n"
           b"--inner.2--\r\n--=_outer 1\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--=_outer 1--\r\n")
    message, stopped = parse(raw, [])
    assert stopped is None and compiled == []
    assert [part.get_content_type() for part in message.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "application/pdf"]
    assert message.get_payload()[1].get_payload() == "%PDF"
